"""Verdict rules: what makes an interval pass, fail or stay inconclusive, and what the counts
in status make of a step."""

from __future__ import annotations

import math
from typing import Any

import pytest

from modeldeploy.analysis.rules import FAIL, INCONCLUSIVE, PASS, Measurement, judge, record, verdict
from modeldeploy.api.v1alpha1 import Analysis, MetricCheck
from modeldeploy.rollout.verdict import Outcome

ERRORS = MetricCheck(name="error-rate", max=0.01)
P99 = MetricCheck(name="latency-p99-ms", max=250)
RELATIVE = MetricCheck(name="latency-p99-ms", max=1.5, relative_to="stable")


def _analysis(**fields: Any) -> Analysis:
    return Analysis.model_validate(
        {"metrics": [{"name": "error-rate", "max": 0.01}, {"name": "latency-p99-ms", "max": 250}]}
        | fields
    )


@pytest.mark.parametrize(
    ("measurement", "why"),
    [
        (Measurement(value=0.0, requests=3), "3 requests < minRequests 20"),
        (Measurement(value=None, requests=100), "no usable sample"),
        (Measurement(value=math.nan, requests=100), "no usable sample"),
        (Measurement(value=math.inf, requests=100), "no usable sample"),
        (Measurement(error="ClientConnectorError: refused"), "provider error"),
    ],
)
def test_inconclusive_on_little_traffic_no_sample_nan_or_provider_error(
    measurement: Measurement, why: str
) -> None:
    result = judge(ERRORS, measurement, None, min_requests=20)
    assert result["verdict"] == INCONCLUSIVE
    assert why in result["message"]


def test_pass_and_fail_carry_value_threshold_and_requests() -> None:
    passed = judge(ERRORS, Measurement(0.005, 100), None, 20)
    assert (passed["verdict"], passed["value"], passed["threshold"]) == (PASS, 0.005, "<= 0.01")
    failed = judge(ERRORS, Measurement(0.21, 100), None, 20)
    assert failed["verdict"] == FAIL
    assert failed["message"] == "error-rate 0.21 > 0.01"
    assert failed["requests"] == 100
    low = judge(MetricCheck(name="request-rate", min=5), Measurement(1.0, 100), None, 20)
    assert low["verdict"] == FAIL


def test_relative_to_stable_compares_with_the_stables_value_in_the_same_interval() -> None:
    stable = Measurement(100.0, 500)
    assert judge(RELATIVE, Measurement(140.0, 50), stable, 20)["verdict"] == PASS
    failed = judge(RELATIVE, Measurement(160.0, 50), stable, 20)
    assert failed["verdict"] == FAIL
    assert "1.5 x stable (100)" in failed["threshold"]
    for unusable in (None, Measurement(math.nan, 500), Measurement(error="down")):
        assert judge(RELATIVE, Measurement(160.0, 50), unusable, 20)["verdict"] == INCONCLUSIVE


def _interval(state: dict[str, Any], *verdicts: str) -> dict[str, Any]:
    names = ["error-rate", "latency-p99-ms"]
    results = [
        {"name": n, "verdict": v, "message": f"{n} {v}"}
        for n, v in zip(names, verdicts, strict=True)
    ]
    return record(state, results, "2026-12-01T00:00:00Z")


def test_failure_limit_counts_consecutive_failures_of_one_metric() -> None:
    analysis = _analysis(failureLimit=2)
    state: dict[str, Any] = {"revision": "r", "step": 0}
    state = _interval(state, FAIL, PASS)
    assert verdict(state, analysis).outcome != Outcome.FAIL
    state = _interval(state, PASS, PASS)  # a pass in between: the count starts again
    state = _interval(state, FAIL, PASS)
    assert verdict(state, analysis).outcome != Outcome.FAIL
    state = _interval(state, FAIL, PASS)
    result = verdict(state, analysis)
    assert result.outcome == Outcome.FAIL
    assert "2 intervals in a row" in result.reason


def test_a_step_passes_only_once_every_metric_passed() -> None:
    analysis = _analysis()
    state = _interval({"revision": "r", "step": 0}, PASS, INCONCLUSIVE)
    assert verdict(state, analysis).outcome == Outcome.INCONCLUSIVE
    state = _interval(state, INCONCLUSIVE, PASS)
    assert verdict(state, analysis).outcome == Outcome.PASS


def test_inconclusive_limit_pauses_and_a_conclusive_interval_resumes() -> None:
    analysis = _analysis(inconclusiveLimit=3)
    state: dict[str, Any] = {"revision": "r", "step": 0}
    for _ in range(2):
        state = _interval(state, INCONCLUSIVE, INCONCLUSIVE)
        assert not verdict(state, analysis).paused
    state = _interval(state, INCONCLUSIVE, INCONCLUSIVE)
    paused = verdict(state, analysis)
    assert paused.outcome == Outcome.INCONCLUSIVE
    assert paused.paused
    assert "3 inconclusive intervals in a row" in paused.reason
    state = _interval(state, PASS, PASS)
    assert verdict(state, analysis).outcome == Outcome.PASS


def test_a_provider_that_is_down_never_rolls_back_or_promotes() -> None:
    analysis = _analysis(inconclusiveLimit=0)
    state: dict[str, Any] = {"revision": "r", "step": 0}
    down = Measurement(error="HTTP 503")
    for _ in range(50):
        results = [judge(check, down, None, 20) for check in analysis.metrics]
        state = record(state, results, "2026-12-01T00:00:00Z")
        assert verdict(state, analysis).outcome == Outcome.INCONCLUSIVE
