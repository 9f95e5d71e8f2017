"""How many replicas each revision gets on the way to its target, within the pod budget.

Like the Deployment controller's rolling update: grow only while every revision's pods
together stay within `replicas + maxSurge`, shrink only while enough ready pods remain
(`maxUnavailable` is 0, or 1 when `maxSurge` is 0 so that a full pool can still move).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from modeldeploy.rollout.observed import RevisionState


def canary_replicas(total: int, weight: int) -> int:
    """The canary's share of `total` replicas at `weight` percent: at least 1, at most all."""
    return min(total, max(1, math.ceil(total * weight / 100)))


def scale_towards(
    total: int,
    max_surge: int,
    revisions: Mapping[str, RevisionState],
    targets: Mapping[str, int],
) -> dict[str, int]:
    """spec.replicas for each revision in `targets` (others are left alone) this pass."""
    budget = total + max_surge
    min_available = total - (0 if max_surge else 1)
    counted = {name: state.counted for name, state in revisions.items()}
    result: dict[str, int] = {}
    for name, target in targets.items():
        state = revisions.get(name)
        current = 0 if state is None else state.replicas
        if target <= current:
            continue
        room = max(0, budget - sum(counted.values()))
        result[name] = min(target, current + room)
        counted[name] = max(counted.get(name, 0), result[name])
    growing_ready = sum(
        state.ready
        for name, state in revisions.items()
        if targets.get(name, state.replicas) >= state.replicas
    )
    needed = max(0, min_available - growing_ready)
    shrinking = sorted(
        (
            name
            for name, target in targets.items()
            if name in revisions and target < revisions[name].replicas
        ),
        key=lambda name: revisions[name].ready,
    )
    for name in shrinking:
        state = revisions[name]
        # Not-ready pods go first (the ReplicaSet deletes them first), ready ones only as the
        # others make up for them.
        keep = max(targets[name], min(state.ready, needed))
        needed -= min(state.ready, keep)
        result[name] = keep
    return result
