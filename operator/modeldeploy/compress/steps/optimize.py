"""ONNX Runtime offline graph optimisation, saved as a model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
import onnxruntime as ort

LEVELS = {
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}


def optimize(model: onnx.ModelProto, level: str = "extended") -> onnx.ModelProto:
    """The graph after ORT's `level` rewrites (constant folding, fusions), for the CPU provider.

    Extended fusions produce ops of the com.microsoft domain, which ONNX Runtime runs.
    """
    with tempfile.TemporaryDirectory(prefix="optimize-") as workdir:
        target = Path(workdir) / "optimized.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = LEVELS[level]
        options.optimized_model_filepath = str(target)
        options.intra_op_num_threads = 1
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(str(target))
