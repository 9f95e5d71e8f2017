"""Runs the analysis interval that is due for a resource: providers measure (I/O), the pure
rules of `analysis/` judge, and the result goes into the status the planner reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modeldeploy.analysis import rules, schedule
from modeldeploy.analysis.providers.base import Provider, Target
from modeldeploy.analysis.providers.direct import DirectProvider
from modeldeploy.analysis.providers.prometheus import PrometheusProvider
from modeldeploy.api.v1alpha1 import ModelDeploymentSpec, duration_seconds
from modeldeploy.api.v1alpha1 import Provider as ProviderName
from modeldeploy.controller.cache import Body
from modeldeploy.reconcilers.deployment import HTTP_PORT
from modeldeploy.rollout import labels
from modeldeploy.rollout.conditions import timestamp
from modeldeploy.rollout.verdict import Verdict


@dataclass
class Outcome:
    state: dict[str, Any] | None
    """The new analysis state for status (None: nothing is analysed now)."""
    verdict: Verdict | None
    requeue_after: float | None
    provider_error: str | None = None
    """Set when this run could not measure (for an Event)."""


@dataclass
class Analyzer:
    direct: DirectProvider = field(default_factory=lambda: DirectProvider(5.0))

    async def run(
        self,
        namespace: str,
        name: str,
        spec: ModelDeploymentSpec,
        status: Mapping[str, Any],
        pods: Sequence[Body],
        now: datetime,
    ) -> Outcome:
        about = schedule.subject(spec, status, now)
        if about is None:
            return Outcome(None, None, None)
        analysis = spec.rollout.analysis
        state = schedule.current_state(status, about)
        fresh = state is None
        if state is None:
            state = {"revision": about.revision, "step": about.step, "runs": 0, "inconclusive": 0}
        wait = schedule.seconds_until_due(state, spec, now)
        if wait > 0:
            return Outcome(state, rules.verdict(state, analysis), wait)
        interval = duration_seconds(analysis.interval)
        provider = self._provider(spec)
        canary = await provider.measure(
            analysis.metrics,
            self._target(namespace, name, about.version, about.revision, pods, interval),
        )
        if fresh:
            # The interval starts now: this scrape is the baseline (direct provider).
            state["lastRunAt"] = timestamp(now)
            return Outcome(state, rules.verdict(state, analysis), interval)
        stable: Mapping[str, rules.Measurement] = {}
        if about.baseline and any(c.relative_to for c in analysis.metrics):
            stable = await provider.measure(
                analysis.metrics,
                self._target(
                    namespace, name, str(about.baseline_version), about.baseline, pods, interval
                ),
            )
        results = [
            rules.judge(check, canary[check.name], stable.get(check.name), analysis.min_requests)
            for check in analysis.metrics
        ]
        state = rules.record(state, results, timestamp(now))
        errors = [m.error for m in canary.values() if m.error]
        return Outcome(
            state, rules.verdict(state, analysis), interval, errors[0] if errors else None
        )

    def _provider(self, spec: ModelDeploymentSpec) -> Provider:
        analysis = spec.rollout.analysis
        if analysis.provider == ProviderName.PROMETHEUS:
            assert analysis.address is not None
            return PrometheusProvider(
                analysis.address, duration_seconds(analysis.timeout), analysis.insecure_skip_verify
            )
        self.direct.timeout_seconds = duration_seconds(analysis.timeout)
        return self.direct

    @staticmethod
    def _target(
        namespace: str,
        name: str,
        version: str,
        revision: str,
        pods: Sequence[Body],
        interval: float,
    ) -> Target:
        urls = tuple(
            (pod["metadata"]["uid"], f"http://{pod['status']['podIP']}:{HTTP_PORT}")
            for pod in pods
            if (pod["metadata"].get("labels") or {}).get(labels.REVISION) == revision
            and not pod["metadata"].get("deletionTimestamp")
            and (pod.get("status") or {}).get("podIP")
            and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (pod.get("status") or {}).get("conditions") or []
            )
        )
        return Target(namespace, name, version, interval, urls)
