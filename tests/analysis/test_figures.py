"""The direct provider's arithmetic: counter deltas, restarts, quantiles as PromQL's."""

from __future__ import annotations

import math

import pytest

from modeldeploy.analysis.figures import Counts, figure, parse, quantile
from modeldeploy.serve.metrics import ServeMetrics


def _scrape(requests: list[tuple[int, float]]) -> Counts:
    metrics = ServeMetrics("digits", "2")
    for code, seconds in requests:
        metrics.request("v2", code, seconds)
    return parse(metrics.render()[0].decode())


def test_error_rate_and_latency_from_the_servers_own_exposition() -> None:
    earlier = _scrape([(200, 0.002)] * 10)
    later = _scrape([(200, 0.002)] * 10 + [(200, 0.002)] * 6 + [(500, 0.3)] * 2)
    interval = later.minus(earlier)
    assert interval.requests == 8
    assert figure("error-rate", interval, 2.0) == pytest.approx(0.25)
    assert figure("request-rate", interval, 2.0) == pytest.approx(4.0)
    assert 250 <= figure("latency-p99-ms", interval, 2.0) <= 500  # in the 0.25-0.5 s bucket
    assert 1 <= figure("latency-p50-ms", interval, 2.0) <= 2.5


def test_a_restarted_server_counts_from_zero() -> None:
    before = Counts(requests=100, errors=5, buckets={1.0: 100, math.inf: 100})
    after = Counts(requests=4, errors=0, buckets={1.0: 4, math.inf: 4})
    assert after.minus(before).requests == 4


def test_no_traffic_gives_nan_not_zero() -> None:
    assert math.isnan(figure("error-rate", Counts(), 2.0))
    assert math.isnan(quantile(0.99, {}))


def test_quantile_interpolates_within_a_bucket_like_histogram_quantile() -> None:
    buckets = {0.1: 50.0, 0.2: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(1.0, {0.1: 0.0, math.inf: 10.0}) == pytest.approx(0.1)
