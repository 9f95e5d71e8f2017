"""Prometheus metrics of the operator's API calls."""

from __future__ import annotations

from prometheus_client import Counter

API_WRITES = Counter(
    "modeldeploy_operator_api_writes_total",
    "Writes the operator sent to the API server, by kind and verb.",
    ["kind", "verb"],
)
API_ERRORS = Counter(
    "modeldeploy_operator_api_errors_total",
    "API calls that failed, by kind and HTTP status.",
    ["kind", "code"],
)
