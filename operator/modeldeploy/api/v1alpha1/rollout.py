"""`spec.rollout`: canary steps, the live analysis that gates them, and history to keep."""

from __future__ import annotations

from enum import StrEnum
from itertools import pairwise
from typing import Literal

from pydantic import Field, JsonValue

from modeldeploy.api.v1alpha1.quantity import Duration
from modeldeploy.api.v1alpha1.rules import ApiModel, Rule, cel_list, full_default

BUILTIN_METRICS = ("error-rate", "latency-p50-ms", "latency-p99-ms", "request-rate")
DEFAULT_STEPS: tuple[dict[str, JsonValue], ...] = (
    {"weight": 10, "pause": "60s"},
    {"weight": 50, "pause": "120s"},
)


class RolloutStep(ApiModel):
    """Send `weight` percent of traffic to the new version, then watch it for `pause`."""

    weight: int = Field(ge=1, le=99)
    """Percent of traffic (by serving replicas) on the new version; 100 is the final promotion."""
    pause: Duration = "60s"
    """How long the analysis watches this step before the next one."""


class MetricCheck(ApiModel):
    """A metric the analysis measures each interval and its accepted range."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    """`error-rate`, `latency-p50-ms`, `latency-p99-ms`, or any name with a `query`."""
    query: str | None = Field(default=None, max_length=4096)
    """PromQL template (`{{version}}`, `{{namespace}}`, `{{name}}`, `{{interval}}` are filled
    in)."""
    max: float | None = None
    """The version fails the interval when the value is above this."""
    min: float | None = None
    """The version fails the interval when the value is below this."""
    relative_to: Literal["stable"] | None = None
    """`stable`: `max`/`min` are factors of the stable version's value in the same interval
    (e.g. `max: 1.5` = at most 1.5x the stable's p99)."""

    rules = (
        Rule(
            cel=f"has(self.query) || self.name in {cel_list(BUILTIN_METRICS)}",
            message=f"a metric other than {', '.join(BUILTIN_METRICS)} needs a query",
            check=lambda m: m.query is not None or m.name in BUILTIN_METRICS,
            field="query",
        ),
        Rule(
            cel="has(self.max) || has(self.min)",
            message="a metric needs max or min",
            check=lambda m: m.max is not None or m.min is not None,
            field="max",
        ),
    )


class Provider(StrEnum):
    PROMETHEUS = "prometheus"
    DIRECT = "direct"


def _default_metrics() -> list[MetricCheck]:
    return [MetricCheck(name="error-rate", max=0.01), MetricCheck(name="latency-p99-ms", max=500)]


class Analysis(ApiModel):
    """Live analysis of the new version while traffic shifts."""

    provider: Provider = Provider.DIRECT
    """`prometheus` (PromQL over its HTTP API) or `direct` (scrape the serving pods)."""
    address: str | None = Field(default=None, pattern=r"^https?://.+$", max_length=2048)
    """Prometheus base URL; required for the prometheus provider."""
    interval: Duration = "15s"
    """How often metrics are measured and judged."""
    failure_limit: int = Field(default=2, ge=0, le=100)
    """This many failed intervals of a metric in a row roll back (0 counts as 1)."""
    inconclusive_limit: int = Field(default=5, ge=0, le=1000)
    """This many inconclusive intervals in a row pause the rollout (0: never pause)."""
    min_requests: int = Field(default=20, ge=0)
    """No verdict for an interval with fewer requests to the new version."""
    timeout: Duration = "5s"
    """Longest a query or a scrape may take; longer is an inconclusive interval."""
    insecure_skip_verify: bool = False
    """prometheus: do not verify the server's TLS certificate."""
    metrics: list[MetricCheck] = Field(
        default_factory=_default_metrics,
        max_length=16,
        json_schema_extra={
            "default": [
                {"name": "error-rate", "max": 0.01},
                {"name": "latency-p99-ms", "max": 500},
            ],
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )

    rules = (
        Rule(
            cel="self.provider != 'prometheus' || has(self.address)",
            message="address is required for the prometheus provider",
            check=lambda a: a.provider != Provider.PROMETHEUS or a.address is not None,
            field="address",
        ),
        Rule(
            cel="self.provider == 'prometheus' || self.metrics.all(m, !has(m.query))",
            message="metrics with a query need the prometheus provider",
            check=lambda a: (
                a.provider == Provider.PROMETHEUS or all(m.query is None for m in a.metrics)
            ),
            field="metrics",
        ),
        Rule(
            cel="self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",
            message="metric names must be unique",
            check=lambda a: len({m.name for m in a.metrics}) == len(a.metrics),
            field="metrics",
        ),
    )


class Rollout(ApiModel):
    """How a new version replaces the stable one."""

    steps: list[RolloutStep] = Field(
        default_factory=lambda: [RolloutStep.model_validate(s) for s in DEFAULT_STEPS],
        max_length=20,
        json_schema_extra={"default": list(DEFAULT_STEPS)},
    )
    """Canary steps with strictly increasing weights below 100; after the last, 100%."""
    analysis: Analysis = Field(default_factory=Analysis, json_schema_extra=full_default(Analysis))
    post_promotion_window: Duration = "300s"
    """After promotion the new stable version is still watched this long and rolled back on
    failure."""
    keep_revisions: int = Field(default=3, ge=1, le=50)
    """Old versions' Deployments (scaled to 0) kept for a fast rollback."""
    max_surge: int = Field(default=1, ge=0, le=1000)
    """Serving pods of all versions together never exceed `replicas + maxSurge`: with 0 the
    canary grows only as the stable shrinks (a GPU pool with no spare capacity)."""
    progress_deadline: Duration = "10m"
    """A canary whose pods are not ready this long after a step began is rolled back."""

    rules = (
        Rule(
            cel="self.steps.map(s, s.weight).isSorted() && "
            "self.steps.all(s, self.steps.exists_one(t, t.weight == s.weight))",
            message="step weights must be strictly increasing",
            check=lambda r: all(a.weight < b.weight for a, b in pairwise(r.steps)),
            field="steps",
        ),
    )
