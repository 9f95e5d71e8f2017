"""What to analyse and when (pure): the canary while it holds a step, the new stable version
during its post-promotion window; one interval after another."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec, duration_seconds
from modeldeploy.rollout.observed import parse_time

POST_PROMOTION = -1


@dataclass(frozen=True)
class Subject:
    revision: str
    version: str
    step: int
    """The canary step, or POST_PROMOTION."""
    baseline: str | None
    """The stable revision to compare with (`relativeTo: stable`); None after promotion."""
    baseline_version: str | None


def subject(spec: ModelDeploymentSpec, status: Mapping[str, Any], now: datetime) -> Subject | None:
    if not spec.rollout.analysis.metrics:
        return None
    canary = status.get("canaryRevision")
    step = status.get("currentStep")
    if canary and status.get("stepReadyAt") and step is not None:
        if int(step) < len(spec.rollout.steps):
            return Subject(
                canary,
                str(status.get("canaryVersion")),
                int(step),
                status.get("stableRevision"),
                status.get("stableVersion"),
            )
        return None
    promoted = parse_time(status.get("promotedAt"))
    window = duration_seconds(spec.rollout.post_promotion_window)
    if (
        canary is None
        and promoted is not None
        and status.get("previousRevision")
        and (now - promoted).total_seconds() < window
    ):
        return Subject(
            str(status["stableRevision"]), str(status["stableVersion"]), POST_PROMOTION, None, None
        )
    return None


def current_state(status: Mapping[str, Any], about: Subject) -> dict[str, Any] | None:
    """The analysis state in status if it is about `about`, else None (a fresh start)."""
    state = status.get("analysis")
    if state and state.get("revision") == about.revision and state.get("step") == about.step:
        return dict(state)
    return None


def seconds_until_due(state: Mapping[str, Any], spec: ModelDeploymentSpec, now: datetime) -> float:
    last = parse_time(state.get("lastRunAt"))
    interval = duration_seconds(spec.rollout.analysis.interval)
    if last is None:
        return 0.0
    return max(0.0, interval - (now - last).total_seconds())
