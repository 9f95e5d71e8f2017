"""An ONNX graph run by PyTorch with its float initializers as trainable parameters.

Used to fine-tune a model in place (a pruned model, a transformer with layers dropped): train
the module, then write the weights back into the ONNX initializers. Covers the ops of MLPs,
ordinary CNNs (Conv, BatchNormalization, pooling, Concat, residual Add) and BERT-style encoders
as exported by `torch.onnx.export`, including their shape arithmetic. `unsupported` names
whatever else a graph has (an op, or an attribute form such as Conv `auto_pad`), so the job
refuses it before doing any work. In training, BatchNormalization normalises by the batch's
statistics and updates its running ones, written back with the weights (after pruning, the
statistics of the remaining channels change); Dropout is the identity (deterministic training).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from onnx import numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.errors import CompressError

Tensors = list[torch.Tensor]
Op = Callable[[Tensors, onnx.NodeProto], torch.Tensor]
# By the number of spatial dims.
MAX_POOLS = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVERAGE_POOLS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attr in node.attribute:
        if attr.name == name:
            return list(attr.ints)
    return default


def _int(node: onnx.NodeProto, name: str, default: int) -> int:
    return int(graph.attribute(node, name, default))


def _string(node: onnx.NodeProto, name: str, default: str) -> str:
    for attr in node.attribute:
        if attr.name == name:
            return str(attr.s.decode())
    return default


def _tensor_attribute(node: onnx.NodeProto) -> torch.Tensor:
    for attr in node.attribute:
        if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
            return torch.from_numpy(numpy_helper.to_array(attr.t).copy())
    raise CompressError(f"fine-tuning supports tensor-valued {node.op_type} only ({node.name})")


def _gemm(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    a, b = args[0], args[1]
    if graph.attribute(node, "transA", 0):
        a = a.t()
    if graph.attribute(node, "transB", 0):
        b = b.t()
    out = graph.attribute(node, "alpha", 1.0) * (a @ b)
    if len(args) > 2:
        out = out + graph.attribute(node, "beta", 1.0) * args[2]
    return out


def _spatial_pads(node: onnx.NodeProto, rank: int) -> list[int]:
    """The per-dim padding of a Conv/pool whose pads are symmetric (checked beforehand)."""
    return _ints(node, "pads", [0] * 2 * rank)[:rank]


def _conv(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    return F.conv2d(
        args[0],
        args[1],
        args[2] if len(args) > 2 else None,
        stride=_ints(node, "strides", [1, 1]),
        padding=_spatial_pads(node, 2),
        dilation=_ints(node, "dilations", [1, 1]),
        groups=_int(node, "group", 1),
    )


def _pool_options(node: onnx.NodeProto) -> dict[str, Any]:
    kernel = _ints(node, "kernel_shape", [])
    return {
        "kernel_size": kernel,
        "stride": _ints(node, "strides", [1] * len(kernel)),
        "padding": _spatial_pads(node, len(kernel)),
        "ceil_mode": bool(_int(node, "ceil_mode", 0)),
    }


def _max_pool(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    options = _pool_options(node)
    pool: Callable[..., torch.Tensor] = MAX_POOLS[len(options["kernel_size"])]
    dilation = _ints(node, "dilations", [1] * len(options["kernel_size"]))
    return pool(args[0], dilation=dilation, **options)


def _average_pool(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    options = _pool_options(node)
    pool: Callable[..., torch.Tensor] = AVERAGE_POOLS[len(options["kernel_size"])]
    include_pad = bool(_int(node, "count_include_pad", 0))
    return pool(args[0], count_include_pad=include_pad, **options)


def _batch_norm(args: Tensors, node: onnx.NodeProto, training: bool = False) -> torch.Tensor:
    """In training, also updates the running mean and variance (args 3, 4) in place."""
    data, scale, bias, mean, variance = args[:5]
    return F.batch_norm(
        data,
        mean,
        variance,
        scale,
        bias,
        training=training,
        # ONNX weighs the running value by momentum, torch the new batch's.
        momentum=1 - float(graph.attribute(node, "momentum", 0.9)),
        eps=float(graph.attribute(node, "epsilon", 1e-5)),
    )


def _clip(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    """Clip's bounds are optional inputs; `args` holds only the ones given."""
    given = iter(args[1:])
    low = next(given) if len(node.input) > 1 and node.input[1] else None
    high = next(given) if len(node.input) > 2 and node.input[2] else None
    return torch.clamp(args[0], low, high)


def _gather(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    data, indices = args
    axis = _int(node, "axis", 0) % data.dim()
    indices = torch.where(indices < 0, indices + data.shape[axis], indices)
    picked = data.index_select(axis, indices.reshape(-1))
    return picked.reshape((*data.shape[:axis], *indices.shape, *data.shape[axis + 1 :]))


def _reshape(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    data, shape = args[0], [int(dim) for dim in args[1].tolist()]
    if not _int(node, "allowzero", 0):  # 0 copies the input's dim
        shape = [data.shape[i] if dim == 0 else dim for i, dim in enumerate(shape)]
    return data.reshape(shape)


def _unsqueeze(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    axes = args[1].tolist() if len(args) > 1 else _ints(node, "axes", [])
    out = args[0]
    rank = out.dim() + len(axes)
    for axis in sorted(int(a) % rank for a in axes):
        out = out.unsqueeze(axis)
    return out


def _slice(args: Tensors, _: onnx.NodeProto) -> torch.Tensor:
    data = args[0]
    starts, ends = args[1].tolist(), args[2].tolist()
    axes = args[3].tolist() if len(args) > 3 else list(range(len(starts)))
    steps = args[4].tolist() if len(args) > 4 else [1] * len(starts)
    index: list[slice] = [slice(None)] * data.dim()
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if step != 1:
            raise CompressError("fine-tuning supports Slice with step 1 only")
        size = data.shape[axis]
        index[axis] = slice(max(-size, min(start, size)), max(-size, min(end, size)))
    return data[tuple(index)]


def _constant_of_shape(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    shape = [int(dim) for dim in args[0].tolist()]
    try:
        value = _tensor_attribute(node).reshape(-1)[0]
    except CompressError:
        value = torch.tensor(0.0)
    return torch.full(shape, value.item(), dtype=value.dtype)


def _cast(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    numpy_type = onnx.helper.tensor_dtype_to_np_dtype(_int(node, "to", 1))
    return args[0].to(torch.from_numpy(np.zeros(0, dtype=numpy_type)).dtype)


def _layer_norm(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    data = args[0]
    axis = _int(node, "axis", -1) % data.dim()
    return F.layer_norm(
        data,
        data.shape[axis:],
        args[1] if len(args) > 1 else None,
        args[2] if len(args) > 2 else None,
        eps=float(graph.attribute(node, "epsilon", 1e-5)),
    )


def _flatten(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    """[prod(dims before axis), prod(dims from axis)], always 2-D."""
    data = args[0]
    axis = _int(node, "axis", 1) % (data.dim() + 1)
    return data.reshape(math.prod(data.shape[:axis]), math.prod(data.shape[axis:]))


def _expand(args: Tensors, _: onnx.NodeProto) -> torch.Tensor:
    """ONNX Expand broadcasts both ways: each dim is the larger of the pair."""
    shape = [int(dim) for dim in args[1].tolist()]
    return args[0].expand(torch.broadcast_shapes(args[0].shape, shape))  # type: ignore[no-untyped-call]


OPS: dict[str, Op] = {
    "MatMul": lambda args, _: args[0] @ args[1],
    "Gemm": _gemm,
    "Conv": _conv,
    "Add": lambda args, _: args[0] + args[1],
    "Sub": lambda args, _: args[0] - args[1],
    "Mul": lambda args, _: args[0] * args[1],
    "Div": lambda args, _: (
        args[0] / args[1]
        if args[0].is_floating_point()
        else torch.div(args[0], args[1], rounding_mode="trunc")
    ),
    "Pow": lambda args, _: torch.pow(args[0], args[1]),
    "Sqrt": lambda args, _: torch.sqrt(args[0]),
    "Erf": lambda args, _: torch.erf(args[0]),
    "Relu": lambda args, _: torch.relu(args[0]),
    "Neg": lambda args, _: -args[0],
    "Abs": lambda args, _: torch.abs(args[0]),
    "Exp": lambda args, _: torch.exp(args[0]),
    "Log": lambda args, _: torch.log(args[0]),
    "Reciprocal": lambda args, _: torch.reciprocal(args[0]),
    "Max": lambda args, _: functools.reduce(torch.maximum, args),
    "Min": lambda args, _: functools.reduce(torch.minimum, args),
    "Clip": _clip,
    "Elu": lambda args, node: F.elu(args[0], graph.attribute(node, "alpha", 1.0)),
    "Gelu": lambda args, node: F.gelu(args[0], approximate=_string(node, "approximate", "none")),
    "HardSigmoid": lambda args, node: torch.clamp(
        graph.attribute(node, "alpha", 0.2) * args[0] + graph.attribute(node, "beta", 0.5), 0, 1
    ),
    "HardSwish": lambda args, _: F.hardswish(args[0]),
    "Softplus": lambda args, _: F.softplus(args[0]),
    "LeakyRelu": lambda args, node: F.leaky_relu(args[0], graph.attribute(node, "alpha", 0.01)),
    "Sigmoid": lambda args, _: torch.sigmoid(args[0]),
    "Tanh": lambda args, _: torch.tanh(args[0]),
    "Softmax": lambda args, node: torch.softmax(args[0], _int(node, "axis", -1)),
    "LogSoftmax": lambda args, node: torch.log_softmax(args[0], _int(node, "axis", -1)),
    "BatchNormalization": _batch_norm,
    "MaxPool": _max_pool,
    "AveragePool": _average_pool,
    "GlobalAveragePool": lambda args, _: args[0].mean(
        dim=tuple(range(2, args[0].dim())), keepdim=True
    ),
    "GlobalMaxPool": lambda args, _: args[0].amax(dim=tuple(range(2, args[0].dim())), keepdim=True),
    "LayerNormalization": _layer_norm,
    "ReduceMean": lambda args, node: args[0].mean(
        dim=_ints(node, "axes", []) or (args[1].tolist() if len(args) > 1 else None),
        keepdim=bool(_int(node, "keepdims", 1)),
    ),
    "Identity": lambda args, _: args[0],
    "Dropout": lambda args, _: args[0],
    "Flatten": _flatten,
    "Transpose": lambda args, node: args[0].permute(
        _ints(node, "perm", list(reversed(range(args[0].dim()))))
    ),
    "Reshape": _reshape,
    "Unsqueeze": _unsqueeze,
    "Concat": lambda args, node: torch.cat(args, dim=_int(node, "axis", 0)),
    "Slice": _slice,
    "Shape": lambda args, _: torch.tensor(args[0].shape, dtype=torch.int64),
    "Gather": _gather,
    "GatherElements": lambda args, node: torch.gather(args[0], _int(node, "axis", 0), args[1]),
    "Constant": lambda _, node: _tensor_attribute(node),
    "ConstantOfShape": _constant_of_shape,
    "Cast": _cast,
    "Equal": lambda args, _: torch.eq(args[0], args[1]),
    "GreaterOrEqual": lambda args, _: torch.ge(args[0], args[1]),
    "And": lambda args, _: torch.logical_and(args[0], args[1]),
    "Not": lambda args, _: torch.logical_not(args[0]),
    "Where": lambda args, _: torch.where(args[0], args[1], args[2]),
    "Expand": _expand,
    "Range": lambda args, _: torch.arange(args[0].item(), args[1].item(), args[2].item()),
}

# Weights with at least this share of zeros are treated as pruned: the zeros stay zero.
PRUNED_ZERO_SHARE = 0.1
# Padded ops whose torch forms take symmetric padding only.
PADDED_OPS = frozenset({"Conv", "MaxPool", "AveragePool"})


def _form_problem(node: onnx.NodeProto, weights: dict[str, onnx.TensorProto]) -> str | None:
    """Why `node` (a supported op) cannot run here in the form it has, or None."""
    if node.op_type in PADDED_OPS:
        auto_pad = _string(node, "auto_pad", "NOTSET")
        if auto_pad not in ("NOTSET", "VALID"):
            return f"auto_pad {auto_pad}"
        pads = _ints(node, "pads", [])
        if pads[: len(pads) // 2] != pads[len(pads) // 2 :]:
            return f"asymmetric pads {pads}"
    if node.op_type == "Conv":
        weight = weights.get(node.input[1])
        if weight is not None and len(weight.dims) != 4:
            return f"{len(weight.dims) - 2}-D convolution (2-D only)"
    if (
        node.op_type in ("MaxPool", "AveragePool")
        and not 1 <= len(_ints(node, "kernel_shape", [])) <= 3
    ):
        return "a kernel_shape of 1 to 3 dims is needed"
    return None


def unsupported(model: onnx.ModelProto) -> list[str]:
    """What in `model` fine-tuning cannot run: each op (or op form) once, with a node's name."""
    weights = graph.initializers(model)
    read = set(graph.consumers(model)) | {value.name for value in model.graph.output}
    problems: dict[str, str] = {}
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            problem = f"{node.domain}.{node.op_type}"
        elif node.op_type not in OPS:
            problem = node.op_type
        elif any(name in read for name in node.output[1:]):
            problem = f"{node.op_type} with more than one output read"
        else:
            form = _form_problem(node, weights)
            problem = f"{node.op_type} with {form}" if form else ""
        if problem and problem not in problems:
            problems[problem] = f"{problem} (node {node.name or node.output[0]})"
    return list(problems.values())


def check_supported(model: onnx.ModelProto, what: str) -> None:
    problems = unsupported(model)
    if problems:
        raise CompressError(
            f"{what} cannot run {'; '.join(problems)}: fine-tuning supports the ops "
            f"{', '.join(sorted(OPS))}"
        )


def _statistics(model: onnx.ModelProto) -> set[str]:
    """Float initializers that are statistics, not weights (BatchNormalization mean, var)."""
    return {
        name
        for node in model.graph.node
        if node.op_type == "BatchNormalization"
        for name in node.input[3:5]
    }


class OnnxModule(torch.nn.Module):
    def __init__(self, model: onnx.ModelProto, what: str = "fine-tuning") -> None:
        super().__init__()
        check_supported(model, what)
        self.nodes = graph.topological_order(model)
        constants = {tensor.name for tensor in model.graph.initializer}
        self.input_names = [v.name for v in model.graph.input if v.name not in constants]
        self.output_name = model.graph.output[0].name
        self.weights = torch.nn.ParameterDict()
        self.fixed: dict[str, torch.Tensor] = {}
        self.masks: dict[str, torch.Tensor] = {}
        self.names: dict[str, str] = {}  # ONNX name -> parameter key (keys cannot hold dots)
        self.statistics: dict[str, str] = {}  # ONNX name -> buffer key
        statistics = _statistics(model)
        for index, tensor in enumerate(model.graph.initializer):
            array = numpy_helper.to_array(tensor).copy()
            if array.dtype != np.float32:  # indices and shapes: used, never trained
                self.fixed[tensor.name] = torch.from_numpy(array)
                continue
            if tensor.name in statistics:
                self.statistics[tensor.name] = f"s{index}"
                self.register_buffer(f"s{index}", torch.from_numpy(array))
                continue
            key = f"w{index}"
            self.names[tensor.name] = key
            self.weights[key] = torch.nn.Parameter(torch.from_numpy(array))
            if array.ndim >= 2 and (array == 0).mean() >= PRUNED_ZERO_SHARE:
                self.masks[key] = torch.from_numpy(array != 0)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        held = [*self.weights.values(), *self.buffers()]
        device = held[0].device if held else torch.device("cpu")
        values: dict[str, torch.Tensor] = dict(zip(self.input_names, inputs, strict=True))
        values.update({name: tensor.to(device) for name, tensor in self.fixed.items()})
        for name, key in self.names.items():
            values[name] = self.weights[key]
        for name, key in self.statistics.items():
            values[name] = self.get_buffer(key)
        for node in self.nodes:
            args = [values[name] for name in node.input if name]
            if node.op_type == "BatchNormalization":
                result = _batch_norm(args, node, self.training)
            else:
                result = OPS[node.op_type](args, node)
            values[node.output[0]] = result.to(device)  # shape arithmetic starts on the CPU
        return values[self.output_name]

    def keep_pruned_zeros(self) -> None:
        with torch.no_grad():
            for key, mask in self.masks.items():
                self.weights[key].mul_(mask.to(self.weights[key].device))

    def write_back(self, model: onnx.ModelProto) -> onnx.ModelProto:
        updated = onnx.ModelProto()
        updated.CopyFrom(model)
        for name, key in self.names.items():
            graph.set_initializer(updated, name, self.weights[key].detach().cpu().numpy())
        for name, key in self.statistics.items():
            graph.set_initializer(updated, name, self.get_buffer(key).cpu().numpy())
        return updated
