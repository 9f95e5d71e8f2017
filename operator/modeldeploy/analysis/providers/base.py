"""The interface every metric provider implements, as Argo Rollouts' metric/provider.go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from modeldeploy.analysis.rules import Measurement
from modeldeploy.api.v1alpha1 import MetricCheck


@dataclass(frozen=True)
class Target:
    """One version of one resource, over one interval."""

    namespace: str
    name: str
    version: str
    interval_seconds: float
    pods: tuple[tuple[str, str], ...] = field(default=())
    """(uid, `http://<pod IP>:<port>`) of the version's ready pods (the direct provider
    scrapes them)."""


class Provider(Protocol):
    async def measure(
        self, checks: Sequence[MetricCheck], target: Target
    ) -> dict[str, Measurement]:
        """A measurement per check name; failures are measurements with `error`, never
        exceptions."""
        ...
