"""Status conditions with Kubernetes semantics (lastTransitionTime moves only on a change)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modeldeploy.sandbox.controllers.clock import format_time


def find_condition(
    conditions: Sequence[Mapping[str, Any]] | None, kind: str
) -> dict[str, Any] | None:
    for condition in conditions or []:
        if condition.get("type") == kind:
            return dict(condition)
    return None


def condition_is_true(obj: Mapping[str, Any], kind: str) -> bool:
    condition = find_condition((obj.get("status") or {}).get("conditions"), kind)
    return condition is not None and condition.get("status") == "True"


def set_condition(
    conditions: list[dict[str, Any]],
    kind: str,
    status: bool | str,
    now: datetime,
    reason: str = "",
    message: str = "",
    extra_times: Sequence[str] = (),
    refresh: bool = False,
) -> list[dict[str, Any]]:
    """A copy of `conditions` with `kind` set. `extra_times` names fields (lastUpdateTime,
    lastProbeTime, lastHeartbeatTime) stamped when anything changes or `refresh` is set."""
    text = status if isinstance(status, str) else ("True" if status else "False")
    stamp = format_time(now)
    previous = find_condition(conditions, kind)
    updated: dict[str, Any] = {"type": kind, "status": text}
    for field in extra_times:
        updated[field] = stamp
    changed = previous is None or previous.get("status") != text
    updated["lastTransitionTime"] = (
        stamp if previous is None or changed else previous.get("lastTransitionTime", stamp)
    )
    if (
        previous is not None
        and not refresh
        and not changed
        and previous.get("reason", "") == reason
        and previous.get("message", "") == message
    ):
        for field in extra_times:  # nothing new: keep the old stamps so status stays unchanged
            updated[field] = previous.get(field, stamp)
    if reason:
        updated["reason"] = reason
    if message:
        updated["message"] = message
    result = [dict(c) for c in conditions if c.get("type") != kind]
    result.append(updated)
    return result
