"""ONNX Runtime offline graph optimisation, saved as a model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import onnx
import onnxruntime as ort

from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.runtime import summarise

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
        try:
            ort.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ORT raises its own Fail/InvalidGraph/... types
            raise CompressError(f"optimize level {level} failed: {summarise(error)}") from None
        return onnx.load(str(target))
