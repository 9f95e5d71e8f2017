"""Pure planning for Deployments: template hashes and rolling-update steps.

The arithmetic follows the Kubernetes deployment controller (pkg/controller/
deployment/rolling.go): the new ReplicaSet grows while the total stays within
replicas + maxSurge, old ReplicaSets shrink while the available pods stay at
or above replicas - maxUnavailable; surge percentages round up, unavailable
percentages round down, and both zero means maxUnavailable 1.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TEMPLATE_HASH_LABEL = "pod-template-hash"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_PERCENT = re.compile(r"^(\d+)%$")


def fnv32a(data: bytes) -> int:
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def template_without_hash(template: Mapping[str, Any]) -> dict[str, Any]:
    stripped = copy.deepcopy(dict(template))
    labels = (stripped.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(TEMPLATE_HASH_LABEL, None)
    return stripped


def canonical(template: Mapping[str, Any]) -> str:
    return json.dumps(template_without_hash(template), sort_keys=True, separators=(",", ":"))


def pod_template_hash(template: Mapping[str, Any], collision_count: int = 0) -> str:
    """A short, DNS-safe hash of the pod template (the `pod-template-hash` label value)."""
    data = canonical(template).encode()
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    return "".join(_SAFE_ALPHABET[ord(char) % len(_SAFE_ALPHABET)] for char in str(fnv32a(data)))


def scaled_value(value: int | str | None, total: int, round_up: bool, default: str) -> int:
    """An IntOrString (3 or "25%") resolved against `total`; raises ValueError naming the text."""
    if value is None:
        value = default
    if isinstance(value, int):
        return value
    match = _PERCENT.match(value)
    if match is None:
        raise ValueError(
            f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}"
        )
    exact = int(match[1]) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


@dataclass(frozen=True)
class Fenceposts:
    max_surge: int
    max_unavailable: int


def fenceposts(strategy: Mapping[str, Any], replicas: int) -> Fenceposts:
    rolling = strategy.get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge"), replicas, round_up=True, default="25%")
    unavailable = scaled_value(
        rolling.get("maxUnavailable"), replicas, round_up=False, default="25%"
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return Fenceposts(surge, min(unavailable, replicas))


@dataclass(frozen=True)
class ReplicaSetState:
    """What the planner needs of one ReplicaSet; old ones are given oldest first."""

    name: str
    replicas: int  # spec.replicas
    available: int  # status.availableReplicas
    current: int = 0  # status.replicas (pods that still exist)


def _new_replicas(desired: int, posts: Fenceposts, new: ReplicaSetState, total: int) -> int:
    max_total = desired + posts.max_surge
    if total >= max_total:
        return new.replicas
    return new.replicas + min(max_total - total, desired - new.replicas)


def _scale_down_old(
    desired: int, posts: Fenceposts, new: ReplicaSetState, old: Sequence[ReplicaSetState]
) -> dict[str, int]:
    all_pods = new.replicas + sum(rs.replicas for rs in old)
    min_available = desired - posts.max_unavailable
    new_unavailable = new.replicas - new.available
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return {}
    changes: dict[str, int] = {}
    # First drop old pods that are not available anyway: that costs no availability.
    for rs in old:
        unhealthy = rs.replicas - rs.available
        if rs.replicas == 0 or unhealthy <= 0 or budget <= 0:
            continue
        cut = min(budget, unhealthy)
        changes[rs.name] = rs.replicas - cut
        budget -= cut
    available = new.available + sum(rs.available for rs in old)
    allowed = available - min_available
    for rs in old:
        replicas = changes.get(rs.name, rs.replicas)
        if replicas == 0 or allowed <= 0:
            continue
        cut = min(replicas, allowed)
        changes[rs.name] = replicas - cut
        allowed -= cut
    return changes


def plan_rolling(
    desired: int,
    strategy: Mapping[str, Any],
    new: ReplicaSetState,
    old: Sequence[ReplicaSetState],
) -> dict[str, int]:
    """One step of a rolling update: ReplicaSet name -> new spec.replicas ({} = nothing to do)."""
    if new.replicas > desired:
        return {new.name: desired}
    if new.replicas < desired:
        posts = fenceposts(strategy, desired)
        total = new.replicas + sum(rs.replicas for rs in old)
        grown = _new_replicas(desired, posts, new, total)
        if grown != new.replicas:
            return {new.name: grown}
    if not any(rs.replicas for rs in old):
        return {}
    return _scale_down_old(desired, fenceposts(strategy, desired), new, old)


def plan_recreate(
    desired: int, new: ReplicaSetState, old: Sequence[ReplicaSetState]
) -> dict[str, int]:
    """Recreate: all old pods gone first, then the new ReplicaSet at full size."""
    running_old = {rs.name: 0 for rs in old if rs.replicas > 0}
    if running_old:
        return running_old
    if any(rs.current > 0 for rs in old):
        return {}  # wait for the old pods to terminate
    return {new.name: desired} if new.replicas != desired else {}


def plan_step(
    desired: int,
    strategy: Mapping[str, Any],
    new: ReplicaSetState,
    old: Sequence[ReplicaSetState],
) -> dict[str, int]:
    if strategy.get("type") == "Recreate":
        return plan_recreate(desired, new, old)
    return plan_rolling(desired, strategy, new, old)
