"""`quantize` mode `auto`: try a few quantization recipes, keep the smallest-then-fastest one
that passes the gate.

Candidates: dynamic INT8 (per-channel); static QDQ restricted to MatMul/Gather with
`MatMulConstBOnly` (static QDQ over all ops of a transformer ruins it: its attention-mask
Add calibrates to a huge scale); static QDQ including Conv for convolutional models (dynamic
ConvInteger is several times slower than float); each also with the first and last weighted
layers kept in float.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import onnx

from modeldeploy.compress import graph
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.evaluate import Figures
from modeldeploy.compress.spec import QuantizeStep
from modeldeploy.compress.steps.quantize import quantize
from modeldeploy.compress.steps.result import StepResult

log = logging.getLogger(__name__)
SIZE_TOLERANCE = 1.02


@dataclass(frozen=True)
class Recipe:
    name: str
    mode: str
    op_types: list[str]
    keep_ends: bool
    """Keep the first and last weighted layers in float."""


def recipes(model: onnx.ModelProto, calibrated: bool) -> list[Recipe]:
    has_conv = any(node.op_type == "Conv" for node in model.graph.node)
    dynamic_ops = ["MatMul", "Gather"]
    found = [Recipe("dynamic", "dynamic", dynamic_ops, False)]
    if calibrated:
        found.append(Recipe("static-matmul", "static", ["MatMul", "Gemm", "Gather"], False))
        if has_conv:
            found.append(Recipe("static-conv", "static", ["Conv", "MatMul", "Gemm"], False))
    return [
        Recipe(f"{recipe.name}{suffix}", recipe.mode, recipe.op_types, keep_ends)
        for recipe in found
        for suffix, keep_ends in (("", False), ("-keep-ends", True))
    ]


def _end_layers(model: onnx.ModelProto) -> list[str]:
    nodes = graph.weighted_nodes(model)
    return sorted({node.name for node in (nodes[0], nodes[-1])}) if nodes else []


Judge = Callable[[onnx.ModelProto], tuple[Figures, bool]]


def quantize_auto(
    model: onnx.ModelProto, step: QuantizeStep, calibration: Dataset | None, judge: Judge
) -> StepResult:
    """The best passing candidate; when none passes, the one with the best metric (the gate
    then fails the job, with every candidate's figures in the report)."""
    candidates: list[dict[str, Any]] = []
    best: tuple[tuple[float, float], onnx.ModelProto, str] | None = None
    best_failing: tuple[float, onnx.ModelProto, str] | None = None
    ends = _end_layers(model)
    for recipe in recipes(model, calibration is not None):
        result = quantize(
            model,
            recipe.mode,
            weight_type=step.weight_type,
            per_channel=step.per_channel,
            calibration=calibration,
            exclude_nodes=[*step.exclude_nodes, *(ends if recipe.keep_ends else [])],
            exclude_op_types=step.exclude_op_types,
            op_types=recipe.op_types,
        )
        if result.nothing_to_compress:
            candidates.append({"name": recipe.name, "skipped": result.details["reason"]})
            continue
        figures, passed = judge(result.model)
        log.info(
            "quantize auto: %s metric %.4f, %d weight bytes, batch-1 p50 %.3f ms, %s",
            recipe.name,
            figures.metric,
            figures.weight_bytes,
            figures.latency[0].p50_ms,
            "passes" if passed else "fails the gate",
        )
        candidates.append({"name": recipe.name, "passed": passed, **figures.as_dict()})
        if passed:
            # Sizes within 2% count as equal, so that speed decides between them.
            rank = (
                round(math.log(max(figures.weight_bytes, 1), SIZE_TOLERANCE)),
                figures.latency[0].p50_ms,
            )
            if best is None or rank < best[0]:
                best = (rank, result.model, recipe.name)
        elif best_failing is None or figures.metric > best_failing[0]:
            best_failing = (figures.metric, result.model, recipe.name)
    chosen = best or best_failing
    if chosen is None:
        return StepResult(
            model, {"mode": "auto", "reason": "no quantizable ops", "candidates": candidates}, True
        )
    return StepResult(chosen[1], {"mode": "auto", "chosen": chosen[2], "candidates": candidates})
