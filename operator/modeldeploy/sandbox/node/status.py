"""Pure pod status rules of the kubelet: phase and the pod conditions from container states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modeldeploy.sandbox.controllers.conditions import set_condition

Obj = Mapping[str, Any]


def pod_phase(
    restart_policy: str,
    init_statuses: Sequence[Obj],
    statuses: Sequence[Obj],
    init_done: bool,
) -> str:
    """Pending / Running / Succeeded / Failed, following the kubelet's getPhase."""
    for status in init_statuses:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode") != 0 and restart_policy == "Never":
            return "Failed"
    if not init_done:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status.get("state") or {}
        last = (status.get("lastState") or {}).get("terminated")
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif last:
            stopped += 1
            succeeded += last.get("exitCode") == 0
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if restart_policy == "Always":
        return "Running"
    if restart_policy == "OnFailure":
        return "Succeeded" if succeeded == stopped else "Running"
    return "Succeeded" if succeeded == stopped else "Failed"


def pod_conditions(
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
    sandbox_ready: bool,
    init_statuses: Sequence[Obj],
    init_done: bool,
    statuses: Sequence[Obj],
    phase: str,
) -> list[dict[str, Any]]:
    conditions = [dict(c) for c in previous]
    conditions = set_condition(conditions, "PodScheduled", True, now)
    conditions = set_condition(conditions, "PodReadyToStartContainers", sandbox_ready, now)
    completed = phase in ("Succeeded", "Failed")
    if init_done:
        conditions = set_condition(conditions, "Initialized", True, now)
    else:
        pending = [s["name"] for s in init_statuses if "terminated" not in (s.get("state") or {})]
        conditions = set_condition(
            conditions,
            "Initialized",
            False,
            now,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(pending)}]",
        )
    unready = [s["name"] for s in statuses if not s.get("ready")]
    for kind in ("ContainersReady", "Ready"):
        if completed:
            conditions = set_condition(conditions, kind, False, now, "PodCompleted")
        elif unready:
            conditions = set_condition(
                conditions,
                kind,
                False,
                now,
                "ContainersNotReady",
                f"containers with unready status: [{' '.join(unready)}]",
            )
        else:
            conditions = set_condition(conditions, kind, True, now)
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    return sorted(
        conditions, key=lambda c: order.index(c["type"]) if c["type"] in order else len(order)
    )
