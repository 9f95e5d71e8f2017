"""The operator's own Prometheus metrics (served on --metrics-port)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from modeldeploy.api.v1alpha1 import Phase

EVENTS = Counter(
    "modeldeploy_operator_watch_events_total",
    "Watch events handled, by kind and event type.",
    ["kind", "type"],
)
RECONCILES = Counter(
    "modeldeploy_operator_reconciles_total",
    "Reconcile passes over ModelDeployments, by result (ok, conflict, error).",
    ["result"],
)
ROLLOUTS = Counter(
    "modeldeploy_operator_rollout_events_total",
    "Rollout milestones (RolloutStarted, Promoted, AnalysisFailed, ProgressDeadlineExceeded, "
    "Aborted, GateFailed, ...), by reason.",
    ["reason"],
)
PHASE = Gauge(
    "modeldeploy_operator_resource_phase",
    "1 for the phase each ModelDeployment is in.",
    ["namespace", "name", "phase"],
)
COMPRESSION_SECONDS = Histogram(
    "modeldeploy_operator_compression_seconds",
    "Duration of the compression steps of finished Jobs (from their report).",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)

_phases: dict[tuple[str, str], str] = {}
_timed: set[str] = set()


def observe_status(key: tuple[str, str], status: Mapping[str, Any]) -> None:
    phase = status.get("phase")
    if phase is not None and _phases.get(key) != phase:
        for each in Phase:
            PHASE.labels(key[0], key[1], each.value).set(1 if each == phase else 0)
        _phases[key] = str(phase)
    compression = status.get("compression") or {}
    digest, seconds = compression.get("digest"), compression.get("seconds")
    if digest and seconds is not None and digest not in _timed:
        _timed.add(digest)
        COMPRESSION_SECONDS.observe(float(seconds))


def forget(key: tuple[str, str]) -> None:
    if _phases.pop(key, None) is not None:
        for each in Phase:
            PHASE.remove(key[0], key[1], each.value)


def count_event(reason: str) -> None:
    ROLLOUTS.labels(reason=reason).inc()
