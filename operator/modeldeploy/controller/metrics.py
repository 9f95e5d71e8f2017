"""The operator's own Prometheus metrics (served on --metrics-port)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "modeldeploy_operator_watch_events_total",
    "ModelDeployment watch events handled, by event type.",
    ["type"],
)
STATUS_WRITES = Counter(
    "modeldeploy_operator_status_writes_total",
    "Status patches sent to ModelDeployments, by the Accepted condition's reason.",
    ["reason"],
)
