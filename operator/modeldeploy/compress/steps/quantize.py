"""INT8 and FP16 quantization with ONNX Runtime's tools.

- dynamic: weights INT8 ahead of time, activations quantized at run time (MatMul, Gather, Conv;
  Gemm is first rewritten as MatMul + Add, which dynamic quantization supports).
- static: QDQ INT8 of weights and activations, scales calibrated on a dataset.
- fp16: all float tensors to float16, inputs and outputs kept float32 (for GPU serving).

`auto` (several candidates, each evaluated) lives in `steps/auto.py`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.transformers.float16 import convert_float_to_float16

from modeldeploy.compress import graph
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.runtime import summarise
from modeldeploy.compress.steps.result import StepResult

DYNAMIC_OP_TYPES = ("MatMul", "Gather", "Conv")
STATIC_OP_TYPES = ("MatMul", "Gemm", "Conv", "Gather")
WEIGHT_TYPES = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}
CALIBRATION_BATCH = 16
CALIBRATION_SAMPLES = 256

log = logging.getLogger(__name__)


def gemm_to_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite each Gemm with a constant B (and no transA, alpha = beta = 1) as MatMul + Add."""
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    weights = graph.initializers(rewritten)
    readers = graph.consumers(rewritten)
    nodes: list[onnx.NodeProto] = []
    for node in rewritten.graph.node:
        plain = (
            node.op_type == "Gemm"
            and node.input[1] in weights
            and not graph.attribute(node, "transA", 0)
            and graph.attribute(node, "alpha", 1.0) == 1.0
            and graph.attribute(node, "beta", 1.0) == 1.0
            and len(readers.get(node.input[1], [])) == 1
        )
        if not plain:
            nodes.append(node)
            continue
        if graph.attribute(node, "transB", 0):
            weight = numpy_helper.to_array(weights[node.input[1]])
            graph.set_initializer(rewritten, node.input[1], np.ascontiguousarray(weight.T))
        has_bias = len(node.input) > 2 and node.input[2] != ""
        product = f"{node.output[0]}_matmul" if has_bias else node.output[0]
        nodes.append(
            onnx.helper.make_node(
                "MatMul", [node.input[0], node.input[1]], [product], name=node.name
            )
        )
        if has_bias:
            nodes.append(
                onnx.helper.make_node(
                    "Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"
                )
            )
    del rewritten.graph.node[:]
    rewritten.graph.node.extend(nodes)
    return rewritten


class _Calibration(CalibrationDataReader):  # type: ignore[misc]
    """Fixed-size batches (percentile/entropy calibration needs equal shapes)."""

    def __init__(self, dataset: Dataset) -> None:
        usable = dataset.take(CALIBRATION_SAMPLES)
        size = min(CALIBRATION_BATCH, len(usable))
        self._batches: Iterator[dict[str, np.ndarray]] = usable.batches(size, drop_last=True)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _quantizable(model: onnx.ModelProto, op_types: list[str], exclude: list[str]) -> bool:
    excluded = set(exclude)
    return any(node.op_type in op_types and node.name not in excluded for node in model.graph.node)


def quantize(
    model: onnx.ModelProto,
    mode: str,
    *,
    weight_type: str = "int8",
    per_channel: bool = True,
    calibration: Dataset | None = None,
    exclude_nodes: list[str] | None = None,
    exclude_op_types: list[str] | None = None,
    op_types: list[str] | None = None,
) -> StepResult:
    """`model` quantized by `mode` (dynamic, static or fp16)."""
    excluded_nodes = list(exclude_nodes or [])
    excluded_types = set(exclude_op_types or [])
    if mode == "fp16":
        return _fp16(model, excluded_nodes, excluded_types)
    source = gemm_to_matmul(model) if mode == "dynamic" else model
    defaults = DYNAMIC_OP_TYPES if mode == "dynamic" else STATIC_OP_TYPES
    chosen = [op for op in (op_types or defaults) if op not in excluded_types]
    if not _quantizable(source, chosen, excluded_nodes):
        return StepResult(
            model, {"mode": mode, "reason": f"no {'/'.join(chosen) or 'eligible'} ops"}, True
        )
    with tempfile.TemporaryDirectory(prefix="quantize-") as workdir:
        # ORT's quantization tools write large temporary files next to their inputs.
        source_path, target_path = Path(workdir) / "in.onnx", Path(workdir) / "out.onnx"
        onnx.save(source, str(source_path))
        common = {
            "per_channel": per_channel,
            "weight_type": WEIGHT_TYPES[weight_type],
            "op_types_to_quantize": chosen,
            "nodes_to_exclude": excluded_nodes,
            "extra_options": {
                "MatMulConstBOnly": True,
                "DefaultTensorType": onnx.TensorProto.FLOAT,
            },
        }
        if mode not in ("dynamic", "static"):
            raise CompressError(f"unknown quantize mode {mode!r}")
        try:
            if mode == "dynamic":
                quantize_dynamic(source_path, target_path, **common)
            else:
                if calibration is None:
                    raise CompressError(
                        "quantize mode static needs calibration data (calibrationUri)"
                    )
                prepared = Path(workdir) / "prepared.onnx"
                quant_pre_process(str(source_path), str(prepared), skip_symbolic_shape=True)
                quantize_static(
                    prepared,
                    target_path,
                    _Calibration(calibration),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8,
                    **common,
                )
        except CompressError:
            raise
        except Exception as error:  # ORT's tools raise ValueError, RuntimeError, ORT's own
            raise CompressError(
                f"quantize mode {mode} ({'/'.join(chosen)}) failed: {summarise(error)}"
            ) from None
        quantized = onnx.load(str(target_path))
    return StepResult(
        quantized,
        {"mode": mode, "weightType": weight_type, "perChannel": per_channel, "opTypes": chosen},
    )


def _fp16(model: onnx.ModelProto, exclude_nodes: list[str], exclude_types: set[str]) -> StepResult:
    if not any(t.data_type == onnx.TensorProto.FLOAT for t in model.graph.initializer):
        return StepResult(model, {"mode": "fp16", "reason": "no float32 weights"}, True)
    converted = convert_float_to_float16(
        model,
        keep_io_types=True,
        node_block_list=exclude_nodes or None,
        op_block_list=sorted(exclude_types) or None,
    )
    return StepResult(converted, {"mode": "fp16"})
