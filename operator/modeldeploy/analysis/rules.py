"""Verdict rules: each metric passes, fails or is inconclusive per interval; the analysis
state in status counts them, and the step's verdict follows from the counts.

- Inconclusive: too little traffic (`minRequests`), no sample, NaN or ±Inf, a provider error,
  or a `relativeTo: stable` metric whose stable value is unusable.
- Fail: `failureLimit` failed intervals of one metric in a row (rollback).
- Pass: every metric passed at least once in the current step.
- `inconclusiveLimit` inconclusive intervals in a row pause the rollout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy.api.v1alpha1 import Analysis, MetricCheck
from modeldeploy.rollout.verdict import Outcome, Verdict

PASS, FAIL, INCONCLUSIVE = "Pass", "Fail", "Inconclusive"


@dataclass(frozen=True)
class Measurement:
    """One metric of one version over one interval."""

    value: float | None = None
    requests: float | None = None
    """Requests the version answered in the interval (None when the provider cannot tell)."""
    error: str | None = None
    """Why the provider could not measure (Prometheus down, timeout, bad query...)."""


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _bounds(
    check: MetricCheck, stable: Measurement | None
) -> tuple[float | None, float | None, str]:
    """(low, high, description) of the accepted range, or raises ValueError when the stable
    value a relative check needs is unusable."""
    if check.relative_to is None:
        parts = [
            f">= {check.min:g}" if check.min is not None else "",
            f"<= {check.max:g}" if check.max is not None else "",
        ]
        return check.min, check.max, " and ".join(p for p in parts if p)
    if stable is None or not _usable(stable.value):
        raise ValueError("the stable version has no usable value to compare with")
    base = float(stable.value)  # type: ignore[arg-type]
    low = None if check.min is None else check.min * base
    high = None if check.max is None else check.max * base
    parts = [
        f">= {check.min:g} x stable ({base:.4g})" if check.min is not None else "",
        f"<= {check.max:g} x stable ({base:.4g})" if check.max is not None else "",
    ]
    return low, high, " and ".join(p for p in parts if p)


def judge(
    check: MetricCheck, canary: Measurement, stable: Measurement | None, min_requests: int
) -> dict[str, Any]:
    """This interval's result of one metric (without the counters)."""
    result: dict[str, Any] = {"name": check.name}
    if canary.requests is not None:
        result["requests"] = canary.requests
    if canary.error is not None:
        return {**result, "verdict": INCONCLUSIVE, "message": f"provider error: {canary.error}"}
    if canary.requests is not None and canary.requests < min_requests:
        message = f"{canary.requests:g} requests < minRequests {min_requests}"
        return {**result, "verdict": INCONCLUSIVE, "message": message}
    if not _usable(canary.value):
        return {**result, "verdict": INCONCLUSIVE, "message": f"no usable sample ({canary.value})"}
    value = float(canary.value)  # type: ignore[arg-type]
    result["value"] = value
    try:
        low, high, text = _bounds(check, stable)
    except ValueError as error:
        return {**result, "verdict": INCONCLUSIVE, "message": str(error)}
    result["threshold"] = text
    if high is not None and value > high:
        return {**result, "verdict": FAIL, "message": f"{check.name} {value:.4g} > {high:.4g}"}
    if low is not None and value < low:
        return {**result, "verdict": FAIL, "message": f"{check.name} {value:.4g} < {low:.4g}"}
    return {**result, "verdict": PASS, "message": f"{check.name} {value:.4g} {text}"}


def record(
    state: Mapping[str, Any], results: Sequence[Mapping[str, Any]], now_text: str
) -> dict[str, Any]:
    """The analysis state after one more interval: counters carried per metric."""
    previous = {m["name"]: m for m in state.get("metrics") or []}
    metrics = []
    for result in results:
        before = previous.get(result["name"], {})
        failures = int(before.get("failures", 0)) + 1 if result["verdict"] == FAIL else 0
        passed = bool(before.get("passed")) or result["verdict"] == PASS
        metrics.append({**result, "failures": failures, "passed": passed})
    verdicts = {m["verdict"] for m in metrics}
    inconclusive = int(state.get("inconclusive", 0))
    if FAIL not in verdicts and INCONCLUSIVE in verdicts:
        inconclusive += 1
    else:
        inconclusive = 0
    return {
        **state,
        "lastRunAt": now_text,
        "runs": int(state.get("runs", 0)) + 1,
        "inconclusive": inconclusive,
        "metrics": metrics,
    }


def verdict(state: Mapping[str, Any], analysis: Analysis) -> Verdict:
    """The step's verdict from the analysis state in status."""
    metrics = state.get("metrics") or []
    limit = max(1, analysis.failure_limit)
    failing = [m for m in metrics if int(m.get("failures", 0)) >= limit]
    if failing:
        reason = "; ".join(f"{m['message']} ({m['failures']} intervals in a row)" for m in failing)
        return Verdict(Outcome.FAIL, reason)
    names = {check.name for check in analysis.metrics}
    passed = {m["name"] for m in metrics if m.get("passed")}
    if names <= passed:
        return Verdict(Outcome.PASS, "every metric passed")
    waiting = ", ".join(sorted(names - passed))
    if (
        analysis.inconclusive_limit
        and int(state.get("inconclusive", 0)) >= analysis.inconclusive_limit
    ):
        messages = "; ".join(m["message"] for m in metrics if m["verdict"] == INCONCLUSIVE)
        return Verdict(
            Outcome.INCONCLUSIVE,
            f"{state['inconclusive']} inconclusive intervals in a row: {messages}",
            paused=True,
        )
    return Verdict(Outcome.INCONCLUSIVE, f"waiting for a passing interval of {waiting}")
