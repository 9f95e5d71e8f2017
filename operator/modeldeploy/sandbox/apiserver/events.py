"""events.k8s.io/v1 Events are core/v1 Events seen differently, as upstream: one storage."""

from __future__ import annotations

from typing import Any

# events.k8s.io/v1 field -> core/v1 field (the rest have the same name in both)
_RENAMED = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_TO_EVENTS_API = {core: new for new, core in _RENAMED.items()}


def to_core(event: dict[str, Any]) -> dict[str, Any]:
    return {_RENAMED.get(key, key): value for key, value in event.items()}


def from_core(event: dict[str, Any]) -> dict[str, Any]:
    return {_TO_EVENTS_API.get(key, key): value for key, value in event.items()}
