"""One pass over one ModelDeployment: observe (from the cache), plan (pure), act, write status.

Thin on purpose: every decision is in `rollout.plan`; this only translates between API
bodies and the planner's inputs and actions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec
from modeldeploy.controller import metrics
from modeldeploy.controller.analysis import Analyzer
from modeldeploy.controller.cache import Body, Cache, Key
from modeldeploy.reconcilers.cluster import Cluster
from modeldeploy.reconcilers.deployment import pod_template_errors, serving_deployment
from modeldeploy.reconcilers.job import compression_job
from modeldeploy.reconcilers.options import Options
from modeldeploy.reconcilers.service import serving_service
from modeldeploy.reconcilers.storage import artifact_claim
from modeldeploy.rollout import labels
from modeldeploy.rollout.admission import admission_status, status_changes
from modeldeploy.rollout.observed import JobState, RevisionState, job_state, revision_state
from modeldeploy.rollout.plan import Inputs, Plan, plan
from modeldeploy.rollout.revision import wanted_revision

log = logging.getLogger("modeldeploy.operator")


@dataclass
class Reconciler:
    cache: Cache
    cluster: Cluster
    options: Options

    analyzer: Analyzer = field(default_factory=Analyzer)

    def __post_init__(self) -> None:
        self._claims_ensured: set[str] = set()

    async def reconcile(self, key: Key) -> float | None:
        """Seconds until this resource wants another pass (None: only on the next event)."""
        body = self.cache.resources.get(key)
        if body is None or body["metadata"].get("deletionTimestamp"):
            metrics.forget(key)
            return None
        now = datetime.now(UTC).replace(microsecond=0)
        admitted = admission_status(body, now)
        if not _refused(admitted):
            spec = ModelDeploymentSpec.model_validate(body["spec"])
            errors = pod_template_errors(body, spec, self.options)
            admitted = admission_status(body, now, errors) if errors else admitted
        status = {**(body.get("status") or {}), **admitted}
        if _refused(admitted):
            await self._write_status(body, status)
            return None
        await self._ensure_shared(body, key)
        jobs, revisions = self._observe(key)
        analysed = await self.analyzer.run(
            key[0], key[1], spec, status, list(self.cache.children("Pod", key).values()), now
        )
        if analysed.state is not None:
            if analysed.provider_error and not _provider_error(status.get("analysis")):
                message = f"analysis could not measure: {analysed.provider_error}"
                await asyncio.to_thread(
                    self.cluster.event, body, "Warning", "AnalysisError", message
                )
            status["analysis"] = analysed.state
        result = plan(
            Inputs(
                name=key[1],
                generation=int(body["metadata"].get("generation", 0)),
                annotations=body["metadata"].get("annotations") or {},
                spec=spec,
                status=status,
                jobs=jobs,
                revisions=revisions,
                now=now,
                verdict=analysed.verdict,
            )
        )
        # Status first: a promotion is recorded before the old version is scaled down, so the
        # stable version named in status always has its pods (a restart in between re-plans
        # the same actions from the recorded status).
        await self._write_status(body, result.status)
        await self._act(body, spec, result)
        metrics.observe_status(key, result.status)
        waits = [w for w in (result.requeue_after, analysed.requeue_after) if w is not None]
        return min(waits) if waits else None

    def _observe(self, key: Key) -> tuple[dict[str, JobState], dict[str, RevisionState]]:
        pods = list(self.cache.children("Pod", key).values())
        jobs = {
            name: job_state(job, _owned(pods, job))
            for name, job in self.cache.children("Job", key).items()
        }
        revisions = {
            name: revision_state(deployment, _selected(pods, deployment))
            for name, deployment in self.cache.children("Deployment", key).items()
        }
        return jobs, revisions

    async def _ensure_shared(self, body: Body, key: Key) -> None:
        namespace = key[0]
        if not self.cache.children("Service", key):
            await asyncio.to_thread(self.cluster.create, serving_service(body))
        claim = artifact_claim(namespace, self.options)
        if claim is not None and namespace not in self._claims_ensured:
            await asyncio.to_thread(self.cluster.create, claim)
            self._claims_ensured.add(namespace)

    async def _act(self, body: Body, spec: ModelDeploymentSpec, result: Plan) -> None:
        namespace = body["metadata"]["namespace"]
        call = asyncio.to_thread
        if result.create_job is not None:
            revision = wanted_revision(body["metadata"]["name"], spec)
            await call(self.cluster.create, compression_job(body, spec, revision, self.options))
        new = result.create_revision
        if new is not None:
            role = result.roles.get(new.name)
            await call(self.cluster.create, serving_deployment(body, spec, new, self.options, role))
        for name, replicas in result.scale.items():
            await call(self.cluster.scale, namespace, name, replicas)
        deployments = self.cache.children("Deployment", (namespace, body["metadata"]["name"]))
        for name, role in result.roles.items():
            current = (deployments.get(name, {}).get("metadata", {}).get("labels") or {}).get(
                labels.ROLE
            )
            if name in deployments and current != role:
                await call(self.cluster.set_role, namespace, name, labels.ROLE, role)
        for name in result.delete_revisions:
            await call(self.cluster.delete, "Deployment", namespace, name)
        for name in result.delete_jobs:
            await call(self.cluster.delete, "Job", namespace, name)
        for event in result.events:
            metrics.count_event(event.reason)
            await call(self.cluster.event, body, event.type, event.reason, event.message)
            log.info(
                "%s/%s: %s %s", namespace, body["metadata"]["name"], event.reason, event.message
            )

    async def _write_status(self, body: Body, wanted: Mapping[str, Any]) -> None:
        current = body.get("status") or {}
        changes = status_changes(body, wanted)
        for key in current:
            if key not in wanted:
                changes[key] = None  # merge patch: null removes the field
        if not changes:
            return
        updated = await asyncio.to_thread(self.cluster.patch_status, body, changes)
        self.cache.put_resource(updated, deleted=False)


def _provider_error(state: Mapping[str, Any] | None) -> bool:
    metrics_ = (state or {}).get("metrics") or []
    return any(str(m.get("message", "")).startswith("provider error") for m in metrics_)


def _refused(admitted: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Accepted" and c.get("status") == "False"
        for c in admitted.get("conditions") or []
    )


def _owned(pods: list[Body], owner: Body) -> list[Body]:
    uid = owner["metadata"].get("uid")
    return [
        p
        for p in pods
        if any(ref.get("uid") == uid for ref in p["metadata"].get("ownerReferences") or [])
    ]


def _selected(pods: list[Body], deployment: Body) -> list[Body]:
    revision = (deployment["metadata"].get("labels") or {}).get(labels.REVISION)
    return [p for p in pods if (p["metadata"].get("labels") or {}).get(labels.REVISION) == revision]
