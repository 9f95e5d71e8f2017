"""The built-in metrics computed from two scrapes of `modeldeploy serve`'s /metrics: counter
and histogram deltas, quantiles interpolated within buckets as PromQL's histogram_quantile."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "modeldeploy_requests"
LATENCY = "modeldeploy_request_duration_seconds"


@dataclass
class Counts:
    """What one server has answered so far (or within an interval, as a difference)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    """Cumulative count of answers at or under each upper bound (seconds)."""

    def minus(self, earlier: Counts) -> Counts:
        """The interval's counts; a counter that went down means the server restarted."""
        if self.requests < earlier.requests:
            return self
        return Counts(
            self.requests - earlier.requests,
            self.errors - earlier.errors,
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
        )

    def plus(self, other: Counts) -> Counts:
        buckets = dict(self.buckets)
        for le, n in other.buckets.items():
            buckets[le] = buckets.get(le, 0.0) + n
        return Counts(self.requests + other.requests, self.errors + other.errors, buckets)


def parse(text: str) -> Counts:
    counts = Counts()
    for family in text_string_to_metric_families(text):
        if family.name == REQUESTS:
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts.requests += sample.value
                    if not str(sample.labels.get("code", "")).startswith("2"):
                        counts.errors += sample.value
        elif family.name == LATENCY:
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    le = float(sample.labels["le"])
                    counts.buckets[le] = counts.buckets.get(le, 0.0) + sample.value
    return counts


def quantile(q: float, buckets: Mapping[float, float]) -> float:
    """histogram_quantile over cumulative buckets; NaN without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return math.nan
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # PromQL: the highest finite bound
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return bounds[-1]


def figure(name: str, counts: Counts, seconds: float) -> float:
    if name == "error-rate":
        return counts.errors / counts.requests if counts.requests else math.nan
    if name == "request-rate":
        return counts.requests / seconds if seconds > 0 else math.nan
    if name == "latency-p99-ms":
        return 1000 * quantile(0.99, counts.buckets)
    if name == "latency-p50-ms":
        return 1000 * quantile(0.5, counts.buckets)
    raise ValueError(f"{name} is not a built-in metric")
