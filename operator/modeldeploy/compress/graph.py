"""Reading and measuring ONNX graphs: initializers, consumers, weight bytes, parameters, MACs."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from modeldeploy.compress.errors import CompressError

# The ops whose constant weight input (index 1) pruning and quantization act on.
WEIGHTED_OPS = frozenset({"MatMul", "Gemm", "Conv"})
ML_DOMAIN = "ai.onnx.ml"
# The default (ai.onnx) domain is named "" or "ai.onnx" in opset imports.
DEFAULT_DOMAINS = ("", "ai.onnx")


def initializers(model: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {tensor.name: tensor for tensor in model.graph.initializer}


def consumers(model: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    """Tensor name -> the nodes that read it."""
    readers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def attribute(node: onnx.NodeProto, name: str, default: int | float) -> int | float:
    for attr in node.attribute:
        if attr.name == name:
            value: int | float = onnx.helper.get_attribute_value(attr)
            return value
    return default


def set_initializer(model: onnx.ModelProto, name: str, array: np.ndarray) -> None:
    for tensor in model.graph.initializer:
        if tensor.name == name:
            tensor.CopyFrom(numpy_helper.from_array(array, name))
            return
    raise KeyError(name)


def weighted_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """MatMul/Gemm/Conv nodes whose weight (input 1) is a float initializer of rank >= 2."""
    weights = initializers(model)
    found = []
    for node in model.graph.node:
        if node.op_type not in WEIGHTED_OPS or len(node.input) < 2:
            continue
        tensor = weights.get(node.input[1])
        if (
            tensor is not None
            and tensor.data_type == onnx.TensorProto.FLOAT
            and len(tensor.dims) >= 2
        ):
            found.append(node)
    return found


def _attribute_arrays(model: onnx.ModelProto) -> list[np.ndarray]:
    """The number lists of `ai.onnx.ml` nodes: where tree ensembles, linear models and
    scalers keep their weights (node thresholds, leaf weights, coefficients)."""
    arrays = []
    for node in model.graph.node:
        if node.domain != ML_DOMAIN:
            continue
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.FLOATS:
                arrays.append(np.asarray(attr.floats, dtype=np.float32))
            elif attr.type == onnx.AttributeProto.INTS:
                arrays.append(np.asarray(attr.ints, dtype=np.int64))
            elif attr.type == onnx.AttributeProto.TENSOR:
                arrays.append(numpy_helper.to_array(attr.t))
    return arrays


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the model's stored weights: initializers, Constant node tensors and the
    number lists of `ai.onnx.ml` nodes (tree ensembles keep all their weights there)."""
    total = sum(_tensor_bytes(tensor) for tensor in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    total += _tensor_bytes(attr.t)
    return total + sum(array.nbytes for array in _attribute_arrays(model))


def _tensor_bytes(tensor: onnx.TensorProto) -> int:
    count = int(np.prod(tensor.dims)) if tensor.dims else 1
    itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
    return count * itemsize


def parameters(model: onnx.ModelProto) -> int:
    """Number of weight elements held by the initializers and `ai.onnx.ml` node attributes."""
    return sum(
        int(np.prod(tensor.dims)) if tensor.dims else 1 for tensor in model.graph.initializer
    ) + sum(array.size for array in _attribute_arrays(model))


def nonzero_parameters(model: onnx.ModelProto) -> int:
    return sum(
        int(np.count_nonzero(numpy_helper.to_array(tensor))) for tensor in model.graph.initializer
    ) + sum(int(np.count_nonzero(array)) for array in _attribute_arrays(model))


def macs_per_sample(model: onnx.ModelProto, fixed_dims: dict[str, int] | None = None) -> int:
    """Multiply-accumulates of MatMul/Gemm/Conv (and their integer forms) for one sample.

    Symbolic dims are set to 1 (batch) or to `fixed_dims[name]` (e.g. a sequence length) and
    shapes are inferred; an op whose shapes stay unknown counts 0.
    """
    fixed = dict(fixed_dims or {})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for value in probe.graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_value = fixed.get(dim.dim_param, 1)
    del probe.graph.value_info[:]
    ordered = topological_order(probe)
    del probe.graph.node[:]
    probe.graph.node.extend(ordered)
    try:
        # data_prop follows Shape -> Concat -> Reshape chains, as transformers have.
        inferred = onnx.shape_inference.infer_shapes(probe, data_prop=True)
    except onnx.shape_inference.InferenceError:
        return 0
    shapes: dict[str, list[int]] = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        if value.type.tensor_type.HasField("shape"):
            # A dim inference leaves unknown is the batch (all others were fixed above).
            shapes[value.name] = [dim.dim_value or 1 for dim in value.type.tensor_type.shape.dim]
    for tensor in inferred.graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    total = 0
    for node in inferred.graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if out is None:
            continue
        if node.op_type in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"):
            a_index = 3 if node.op_type == "QLinearMatMul" else 0
            a = shapes.get(node.input[a_index])
            if not a:
                continue
            transposed = node.op_type == "Gemm" and attribute(node, "transA", 0)
            inner = a[0] if transposed else a[-1]
            total += int(np.prod(out)) * inner
        elif node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            w_index = 3 if node.op_type == "QLinearConv" else 1
            w = shapes.get(node.input[w_index])
            if w is not None:
                total += int(np.prod(out)) * int(np.prod(w[1:]))
    return total


def topological_order(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The nodes, each after the producers of its inputs (some converters emit them out of
    order, which ONNX Runtime accepts but shape inference does not)."""
    available = {value.name for value in model.graph.input} | {
        tensor.name for tensor in model.graph.initializer
    }
    available.add("")
    pending = list(model.graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [node for node in pending if all(name in available for name in node.input)]
        if not ready:  # a cycle or a dangling input: keep the rest as it was
            return ordered + pending
        for node in ready:
            available.update(node.output)
        ordered += ready
        done = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in done]
    return ordered


def normalise_opset_imports(model: onnx.ModelProto, where: str) -> list[str]:
    """One default-domain entry (named "") in `model.opset_import`; what was changed.

    Some exporters list the default domain twice, which ONNX Runtime's quantization tools
    refuse ("Failed to find proper ai.onnx domain"). Differing versions, or no entry while
    the graph has default-domain nodes, cannot be fixed safely and fail naming the field.
    """
    default = [entry for entry in model.opset_import if entry.domain in DEFAULT_DOMAINS]
    versions = sorted({entry.version for entry in default})
    if len(versions) > 1:
        raise CompressError(
            f"{where}: opset_import lists the default ONNX domain with different versions "
            f"{versions}; keep one"
        )
    if not default:
        if any(node.domain in DEFAULT_DOMAINS for node in model.graph.node):
            raise CompressError(
                f"{where}: opset_import has no entry for the default ONNX domain, which its "
                "nodes use; add one (e.g. version 17)"
            )
        return []
    if len(default) == 1 and default[0].domain == "":
        return []
    kept = [entry for entry in model.opset_import if entry.domain not in DEFAULT_DOMAINS]
    del model.opset_import[:]
    model.opset_import.extend([onnx.helper.make_opsetid("", versions[0]), *kept])
    return [f"opset_import: {len(default)} default-domain entries merged into one (version "
            f"{versions[0]})"]  # fmt: skip


def load_model(path: str, what: str = "model") -> tuple[onnx.ModelProto, list[str]]:
    """Load and check an ONNX file, failing with a one-line reason when it is not one; the
    model, and what was normalised in it."""
    try:
        model = onnx.load(path)
    except Exception as error:  # onnx raises DecodeError, OSError, ...
        raise CompressError(
            f"{what} {path} is not a valid ONNX model: {_first_line(error)}"
        ) from None
    notes = normalise_opset_imports(model, f"{what} {path}")
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # ValidationError, ...
        raise CompressError(
            f"{what} {path} is not a valid ONNX model: {_first_line(error)}"
        ) from None
    if not model.graph.output:
        raise CompressError(f"{what} {path} has no graph outputs")
    return model, notes


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
