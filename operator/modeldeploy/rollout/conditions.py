"""Status conditions kept the Kubernetes way: one per type, transition time kept while unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Condition = dict[str, Any]


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    *,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """`conditions` with the one of `type_` replaced; lastTransitionTime moves only on a flip."""
    wanted = "True" if status else "False"
    previous = next((c for c in conditions if c.get("type") == type_), None)
    transition = (
        previous["lastTransitionTime"]
        if previous is not None
        and previous.get("status") == wanted
        and previous.get("lastTransitionTime")
        else timestamp(now)
    )
    condition: Condition = {
        "type": type_,
        "status": wanted,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    others = [dict(c) for c in conditions if c.get("type") != type_]
    return sorted([*others, condition], key=lambda c: str(c["type"]))
