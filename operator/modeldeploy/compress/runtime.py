"""ONNX Runtime sessions and runs, with ONNX Runtime's errors turned into one-line reasons."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from modeldeploy.compress.errors import CompressError

# "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions ..." -> the last part.
_ORT_PREFIX = re.compile(r"^\s*\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
# "/onnxruntime_src/.../reshape_helper.h:84 onnxruntime::ReshapeHelper::...(...) size != 0 &&
# ... was false. The input tensor cannot be reshaped ..." -> the sentence after "was false.".
_ORT_SOURCE = re.compile(r"\S*onnxruntime_src/\S+:\d+ .*? was false\.\s*")
SUMMARY_CHARS = 400


def summarise(error: BaseException) -> str:
    """ONNX Runtime's message on one line, without its error-code prefix."""
    text = " ".join(_ORT_SOURCE.sub("", _ORT_PREFIX.sub("", str(error))).split())
    text = text or type(error).__name__
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 3] + "..."


def execution_providers() -> list[str]:
    """CUDA when this ONNX Runtime build and machine have it, else CPU."""
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session(model: onnx.ModelProto, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            model.SerializeToString(), options, providers=execution_providers()
        )
    except Exception as error:  # ORT raises its own Fail/InvalidGraph/... types
        raise CompressError(f"ONNX Runtime cannot load the model: {summarise(error)}") from None


def run(
    runner: ort.InferenceSession,
    names: list[str] | None,
    feed: dict[str, np.ndarray],
    what: str,
) -> list[Any]:
    """`runner.run`; a failure names `what` ran (e.g. "the original model") and the cause."""
    try:
        result: list[Any] = runner.run(names, feed)
    except Exception as error:  # InvalidArgument, Fail, RuntimeException, ...
        raise CompressError(f"ONNX Runtime failed running {what}: {summarise(error)}") from None
    return result
