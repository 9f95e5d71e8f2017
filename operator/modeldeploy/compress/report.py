"""The job's report: the full report.json and the short summary for the termination message."""

from __future__ import annotations

import json
import platform
from typing import Any

import onnx
import onnxruntime as ort

from modeldeploy.compress.runtime import execution_providers
from modeldeploy.compress.timing import Comparison

# Kubernetes keeps at most 4096 bytes of a container's termination message.
TERMINATION_MESSAGE_LIMIT = 4096


def environment() -> dict[str, Any]:
    found: dict[str, Any] = {
        "onnxruntime": ort.__version__,
        "onnx": onnx.__version__,
        "executionProvider": execution_providers()[0],
        "intraOpThreads": 1,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    try:
        import torch
    except ImportError:
        return found
    found["torch"] = torch.__version__
    found["torchDevice"] = "cuda" if torch.cuda.is_available() else "cpu"
    return found


def speedups(timings: list[Comparison]) -> dict[str, float]:
    """Median speed-up of the interleaved rounds, per batch size (`batch1`, `batch64`)."""
    return {f"batch{timing.batch}": timing.speedup for timing in timings}


def speedup_spreads(timings: list[Comparison]) -> dict[str, float]:
    """The noise of each speed-up: half the interquartile range of the rounds' speed-ups."""
    return {f"batch{timing.batch}": timing.spread for timing in timings}


def summary(report: dict[str, Any]) -> str:
    """Compact JSON (< 4096 bytes) with what the operator records in the resource's status."""
    short = {
        "passed": report["passed"],
        "reason": report["reason"],
        "digest": report.get("digest"),
        "artifact": report.get("artifact"),
        "ratio": report["ratio"],
        "metric": report["metric"],
        "metricDrop": report["metric"]["drop"],
        # Sizes and duration go into the resource's status history.
        "sizeBefore": (report.get("baseline") or {}).get("weight_bytes"),
        "sizeAfter": (report.get("compressed") or {}).get("weight_bytes"),
        "seconds": report.get("seconds"),
        "speedup": report["speedup"],
        "speedupSpread": report.get("speedupSpread"),
        "steps": [
            {"type": step["type"], "outcome": step["outcome"], "seconds": step["seconds"]}
            for step in report["steps"]
        ],
        "reused": report.get("reused", False),
    }
    text = json.dumps(short, separators=(",", ":"))
    if len(text.encode()) <= TERMINATION_MESSAGE_LIMIT:
        return text
    # Only the free-text fields can grow: drop the step list, then shorten the reason.
    short["steps"] = len(report["steps"])
    short["reason"] = str(short["reason"])[:1024]
    return json.dumps(short, separators=(",", ":"))
