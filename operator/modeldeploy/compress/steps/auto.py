"""`quantize` mode `auto`: try a few quantization recipes, keep the best qualifying one by the
step's objective.

A candidate qualifies when it passes the gate and is not slower than the original at batch 1
or at the evaluation batch size beyond the measured noise (`timing.compare`); for `latency`
it must also be faster than the original at the evaluation batch size beyond the noise (the
original competes too: a candidate only as fast gains nothing). `latency` keeps the fastest
qualifying candidate at the evaluation batch size (candidates within each other's noise count
as equally fast, and the smaller wins), `size` the smallest (sizes within 2 % count as equal,
and the faster wins). The chosen one is timed again, independently, in new sessions and three
times longer, and kept only if it qualifies in that timing too (else the next best is tried):
choosing the best of several noisy measurements favours one that was lucky. When none
qualifies the model stays as it is.

Candidates: dynamic INT8 (per-channel by default) of MatMul/Gather, so Conv stays float
(dynamic ConvInteger is several times slower than float Conv); static QDQ restricted to
MatMul/Gemm/Gather with `MatMulConstBOnly` (static QDQ over all ops of a transformer ruins
it: its attention-mask Add calibrates to a huge scale), which for a CNN leaves Conv float;
each also with the first and last weighted layers kept float. Convolutional models add static
QDQ including Conv, per-channel and per-tensor, and with the first Conv (few input channels,
little to gain, most to lose) kept float.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import onnx

from modeldeploy.compress import graph
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.evaluate import Figures
from modeldeploy.compress.spec import QuantizeStep
from modeldeploy.compress.steps.quantize import quantize
from modeldeploy.compress.steps.result import StepResult
from modeldeploy.compress.timing import Comparison, Verdict

log = logging.getLogger(__name__)
SIZE_TOLERANCE = 1.02


@dataclass(frozen=True)
class Judgement:
    """A candidate measured against the original."""

    figures: Figures
    passed: bool
    """It passes the gate."""
    gate: str
    """The gate's reading, e.g. `accuracy 0.9694 -> 0.9667 (drop 0.0028 <= maxDrop 0.01)`."""
    timings: list[Comparison]
    """Interleaved against the original, at batch 1 and the evaluation batch size."""

    def disqualified_by(self, objective: str = "size") -> str | None:
        """Why the candidate does not qualify; None when it does. For `latency` it must also
        be faster than the original at the evaluation batch size (the original is as fast
        as a candidate that is not, and it is the original)."""
        if not self.passed:
            return f"fails the gate: {self.gate}"
        slower = [timing for timing in self.timings if timing.verdict == Verdict.SLOWER]
        if slower:
            return "slower than the original: " + ", ".join(t.describe() for t in slower)
        at_batch = self.timings[-1]
        if objective == "latency" and at_batch.verdict != Verdict.FASTER:
            return f"not faster than the original beyond the noise: {at_batch.describe()}"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "gate": self.gate,
            **self.figures.as_dict(),
            "timing": [timing.as_dict() for timing in self.timings],
        }


class Judge(Protocol):
    def judge(self, model: onnx.ModelProto) -> Judgement:
        """The candidate's figures, gate and interleaved timings against the original."""

    def retime(self, model: onnx.ModelProto) -> list[Comparison]:
        """A new, independent interleaved timing of the candidate."""


@dataclass(frozen=True)
class Recipe:
    name: str
    mode: str
    op_types: list[str]
    keep_float: str = ""
    """Weighted layers kept in float: `ends` (first and last) or `first-conv`."""
    per_channel: bool | None = None
    """None: the step's `perChannel`."""


def recipes(model: onnx.ModelProto, calibrated: bool) -> list[Recipe]:
    found = [Recipe("dynamic", "dynamic", ["MatMul", "Gather"])]
    if calibrated:
        found.append(Recipe("static-matmul", "static", ["MatMul", "Gemm", "Gather"]))
    found += [Recipe(f"{r.name}-keep-ends", r.mode, r.op_types, "ends") for r in found]
    if calibrated and any(node.op_type == "Conv" for node in model.graph.node):
        conv = ["Conv", "MatMul", "Gemm"]
        found += [
            Recipe("static-conv", "static", conv, per_channel=True),
            Recipe("static-conv-per-tensor", "static", conv, per_channel=False),
            Recipe("static-conv-keep-first-conv", "static", conv, "first-conv", True),
            Recipe("static-conv-keep-ends", "static", conv, "ends", True),
        ]
    return found


def _kept_float(model: onnx.ModelProto, keep: str) -> list[str]:
    nodes = graph.weighted_nodes(model)
    if keep == "ends" and nodes:
        return sorted({node.name for node in (nodes[0], nodes[-1])})
    convs = [node for node in nodes if node.op_type == "Conv"]
    if keep == "first-conv" and convs:
        return [convs[0].name]
    return []


@dataclass(frozen=True)
class _Qualified:
    name: str
    model: onnx.ModelProto
    judgement: Judgement

    @property
    def at_batch(self) -> Comparison:
        """The timing at the evaluation batch size (the largest measured)."""
        return self.judgement.timings[-1]

    @property
    def size(self) -> int:
        return self.judgement.figures.weight_bytes


# A choice, and why it was made given its (confirmed) timing at the evaluation batch size.
Choice = tuple[_Qualified, Callable[[Comparison], str]]


def _fastest(qualified: list[_Qualified]) -> Choice:
    best = max(qualified, key=lambda q: q.at_batch.speedup)
    tied = [
        q
        for q in qualified
        if best.at_batch.speedup - q.at_batch.speedup
        <= max(best.at_batch.spread, q.at_batch.spread)
    ]
    chosen = min(tied, key=lambda q: (q.size, -q.at_batch.speedup))
    others = ", ".join(q.name for q in tied if q is not chosen)
    tie = f"; as fast within the noise as {others}, and the smallest" if others else ""
    return (
        chosen,
        lambda timing: f"fastest qualifying at batch {timing.batch}: {timing.describe()}{tie}",
    )


def _smallest(qualified: list[_Qualified]) -> Choice:
    def bucket(q: _Qualified) -> int:
        return round(math.log(max(q.size, 1), SIZE_TOLERANCE))

    chosen = min(qualified, key=lambda q: (bucket(q), -q.at_batch.speedup))
    return (
        chosen,
        lambda timing: f"smallest qualifying: {chosen.size} weight bytes, {timing.describe()}",
    )


def quantize_auto(
    model: onnx.ModelProto, step: QuantizeStep, calibration: Dataset | None, judge: Judge
) -> StepResult:
    """The best qualifying candidate by `step.objective`; the model unchanged when none
    qualifies (with every candidate's figures and why it did not qualify).

    The chosen candidate is timed again, independently, before it is kept: one that only
    looked fast enough by chance is then dropped.
    """
    candidates: dict[str, dict[str, Any]] = {}
    qualified: list[_Qualified] = []
    for recipe in recipes(model, calibration is not None):
        try:
            result = quantize(
                model,
                recipe.mode,
                weight_type=step.weight_type,
                per_channel=step.per_channel if recipe.per_channel is None else recipe.per_channel,
                calibration=calibration,
                exclude_nodes=[*step.exclude_nodes, *_kept_float(model, recipe.keep_float)],
                exclude_op_types=step.exclude_op_types,
                op_types=recipe.op_types,
            )
        except CompressError as error:  # a recipe ORT's tools cannot apply leaves the others
            log.warning("quantize auto: %s: %s", recipe.name, error)
            candidates[recipe.name] = {"name": recipe.name, "skipped": str(error)}
            continue
        if result.nothing_to_compress:
            candidates[recipe.name] = {"name": recipe.name, "skipped": result.details["reason"]}
            continue
        judgement = judge.judge(result.model)
        candidates[recipe.name] = _record(recipe.name, judgement, step.objective)
        if judgement.disqualified_by(step.objective) is None:
            qualified.append(_Qualified(recipe.name, result.model, judgement))
    details: dict[str, Any] = {"mode": "auto", "objective": step.objective}
    pick = _fastest if step.objective == "latency" else _smallest
    while qualified:
        chosen, why = pick(qualified)
        timings = judge.retime(chosen.model)
        confirmed = replace(chosen.judgement, timings=timings)
        candidates[chosen.name] = {
            **_record(chosen.name, confirmed, step.objective),
            "confirmed": True,
        }
        if confirmed.disqualified_by(step.objective) is None:
            details.update(chosen=chosen.name, why=why(timings[-1]))
            return StepResult(chosen.model, {**details, "candidates": list(candidates.values())})
        qualified.remove(chosen)
    measured = [c for c in candidates.values() if "skipped" not in c]
    reason = (
        f"no candidate qualifies for objective {step.objective}: "
        + "; ".join(f"{c['name']} {c['why']}" for c in measured)
        if measured
        else "no quantizable ops"
    )
    return StepResult(
        model, {**details, "reason": reason, "candidates": list(candidates.values())}, True
    )


def _record(name: str, judgement: Judgement, objective: str) -> dict[str, Any]:
    problem = judgement.disqualified_by(objective)
    log.info(
        "quantize auto: %s metric %.4f, %d weight bytes, %s: %s",
        name,
        judgement.figures.metric,
        judgement.figures.weight_bytes,
        "; ".join(timing.describe() for timing in judgement.timings),
        problem or "qualifies",
    )
    return {"name": name, "qualified": problem is None, "why": problem, **judgement.as_dict()}
