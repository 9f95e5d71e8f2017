"""Deployment controller: one ReplicaSet per pod template, rolled by `rolling.plan_step`."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from modeldeploy.sandbox.controllers.base import Controller, owned_objects, owner_reference
from modeldeploy.sandbox.controllers.client import (
    DEPLOYMENTS,
    REPLICASETS,
    ApiError,
    KubeClient,
    Obj,
)
from modeldeploy.sandbox.controllers.clock import parse_time, utc_now
from modeldeploy.sandbox.controllers.conditions import find_condition, set_condition
from modeldeploy.sandbox.controllers.informer import Informer
from modeldeploy.sandbox.controllers.rolling import (
    TEMPLATE_HASH_LABEL,
    ReplicaSetState,
    canonical,
    fenceposts,
    plan_step,
    pod_template_hash,
)

REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_COUNTERS = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
# Annotations of a Deployment its ReplicaSets do not get (upstream's `annotationsToSkip`,
# pkg/controller/deployment/util/deployment_util.go); the rest (`kubernetes.io/change-cause`...)
# are copied, so `kubectl rollout history` shows them and `rollout undo` copies them back.
_NOT_COPIED = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        DESIRED,
        MAX_REPLICAS,
        "deprecated.deployment.rollback.to",
    }
)


def copied_annotations(deployment: Obj) -> dict[str, str]:
    annotations = deployment["metadata"].get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in _NOT_COPIED}


def revision_of(rs: Obj) -> int:
    value = (rs["metadata"].get("annotations") or {}).get(REVISION, "0")
    return int(value) if str(value).isdigit() else 0


def _state(rs: Obj) -> ReplicaSetState:
    status = rs.get("status") or {}
    return ReplicaSetState(
        rs["metadata"]["name"],
        int(rs["spec"].get("replicas", 0)),
        int(status.get("availableReplicas") or 0),
        int(status.get("replicas") or 0),
    )


def new_replicaset(deployment: Obj, template_hash: str, revision: int, replicas: int) -> Obj:
    spec = deployment["spec"]
    template = copy.deepcopy(spec["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})[TEMPLATE_HASH_LABEL] = (
        template_hash
    )
    selector = copy.deepcopy(spec.get("selector") or {})
    selector.setdefault("matchLabels", {})[TEMPLATE_HASH_LABEL] = template_hash
    surge = fenceposts(spec.get("strategy") or {}, int(spec.get("replicas", 1))).max_surge
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deployment['metadata']['name']}-{template_hash}",
            "namespace": deployment["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
            "annotations": {
                **copied_annotations(deployment),
                REVISION: str(revision),
                DESIRED: str(spec.get("replicas", 1)),
                MAX_REPLICAS: str(int(spec.get("replicas", 1)) + surge),
            },
            "ownerReferences": [owner_reference(deployment, "apps/v1", "Deployment")],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": int(spec.get("minReadySeconds") or 0),
            "selector": selector,
            "template": template,
        },
    }


class DeploymentController(Controller):
    name = "deployment-controller"

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client)
        self.deployments = self.informer(Informer(client, DEPLOYMENTS))
        self.replicasets = self.informer(Informer(client, REPLICASETS))
        self.deployments.on_change(self.enqueue_object)
        self.replicasets.on_change(lambda _event, rs: self.enqueue_owner(rs, "Deployment"))

    def owned(self, deployment: Obj) -> list[Obj]:
        return [
            rs
            for rs in owned_objects(self.replicasets, deployment, "Deployment")
            if not rs["metadata"].get("deletionTimestamp")
        ]

    async def reconcile(self, key: str) -> float | None:
        deployment = self.deployments.get(key)
        if deployment is None or deployment["metadata"].get("deletionTimestamp"):
            return None
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        replicasets = self.owned(deployment)
        wanted = canonical(spec.get("template") or {})
        new = next((rs for rs in replicasets if canonical(rs["spec"]["template"]) == wanted), None)
        created = False
        if new is None and not spec.get("paused"):
            new = await self._create_new(deployment, replicasets, desired)
            if new is None:
                return 0.0
            created = True
        old = [
            rs
            for rs in replicasets
            if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]
        ]
        changes: dict[str, int] = {}
        if new is not None:
            new = await self._sync_revision(deployment, new, old)
            if not spec.get("paused"):
                changes = plan_step(
                    desired, spec.get("strategy") or {}, _state(new), [_state(rs) for rs in old]
                )
        for rs in [*old, *([new] if new else [])]:
            if rs["metadata"]["name"] in changes:
                await self._scale(rs, changes[rs["metadata"]["name"]], desired)
        if not changes:
            await self._trim_history(deployment, old)
        return await self._write_status(deployment, new, bool(changes) or created)

    async def _create_new(self, deployment: Obj, existing: list[Obj], desired: int) -> Obj | None:
        status = deployment.get("status") or {}
        collisions = int(status.get("collisionCount") or 0)
        template_hash = pod_template_hash(deployment["spec"]["template"], collisions)
        revision = max((revision_of(rs) for rs in existing), default=0) + 1
        strategy = deployment["spec"].get("strategy") or {}
        first = 0 if any(int(rs["spec"].get("replicas", 0)) for rs in existing) else desired
        if strategy.get("type") != "Recreate" and first == 0:
            surge = fenceposts(strategy, desired).max_surge
            current = sum(int(rs["spec"].get("replicas", 0)) for rs in existing)
            first = max(min(desired + surge - current, desired), 0)
        body = new_replicaset(deployment, template_hash, revision, first)
        namespace = deployment["metadata"]["namespace"]
        try:
            created = await self.client.create(REPLICASETS.path(namespace), body)
        except ApiError as error:
            if error.status != 409:
                raise
            await self.client.merge_patch(
                DEPLOYMENTS.path(namespace, deployment["metadata"]["name"], "status"),
                {"status": {"collisionCount": collisions + 1}},
            )
            return None
        self.replicasets.remember(created)
        return created

    async def _sync_revision(self, deployment: Obj, new: Obj, old: list[Obj]) -> Obj:
        """A template rolled back to keeps its ReplicaSet but gets the newest revision number;
        the new ReplicaSet carries the Deployment's annotations."""
        newest = max((revision_of(rs) for rs in old), default=0)
        revision = revision_of(new)
        copied = copied_annotations(deployment)
        current = new["metadata"].get("annotations") or {}
        stale = any(current.get(key) != value for key, value in copied.items())
        if revision <= newest or stale:
            revision = max(revision, newest + 1)
            new = await self.client.merge_patch(
                REPLICASETS.path(new["metadata"]["namespace"], new["metadata"]["name"]),
                {"metadata": {"annotations": {**copied, REVISION: str(revision)}}},
            )
            self.replicasets.remember(new)
        annotations = deployment["metadata"].get("annotations") or {}
        if annotations.get(REVISION) != str(revision):
            updated = await self.client.merge_patch(
                DEPLOYMENTS.path(
                    deployment["metadata"]["namespace"], deployment["metadata"]["name"]
                ),
                {"metadata": {"annotations": {REVISION: str(revision)}}},
            )
            self.deployments.remember(updated)
        return new

    async def _scale(self, rs: Obj, replicas: int, desired: int) -> None:
        metadata = rs["metadata"]
        updated = await self.client.merge_patch(
            REPLICASETS.path(metadata["namespace"], metadata["name"]),
            {"metadata": {"annotations": {DESIRED: str(desired)}}, "spec": {"replicas": replicas}},
        )
        self.replicasets.remember(updated)

    async def _trim_history(self, deployment: Obj, old: list[Obj]) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = [
            rs
            for rs in old
            if int(rs["spec"].get("replicas", 0)) == 0
            and not (rs.get("status") or {}).get("replicas")
        ]
        for rs in sorted(idle, key=revision_of)[: max(len(idle) - limit, 0)]:
            metadata = rs["metadata"]
            await self.client.delete_if_present(
                REPLICASETS.path(metadata["namespace"], metadata["name"])
            )
            self.replicasets.forget(rs)

    async def _write_status(self, deployment: Obj, new: Obj | None, changed: bool) -> float | None:
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        replicasets = self.owned(deployment)
        new = next(
            (rs for rs in replicasets if new and rs["metadata"]["uid"] == new["metadata"]["uid"]),
            new,
        )
        totals = {name: 0 for name in _COUNTERS}
        for rs in replicasets:
            rs_status = rs.get("status") or {}
            for name in ("replicas", "readyReplicas", "availableReplicas"):
                totals[name] += int(rs_status.get(name) or 0)
        totals["updatedReplicas"] = int(((new or {}).get("status") or {}).get("replicas") or 0)
        previous: dict[str, Any] = deployment.get("status") or {}
        now = utc_now()
        status: dict[str, Any] = {
            **{k: v for k, v in previous.items() if k == "collisionCount"},
            **totals,
            "unavailableReplicas": max(desired - totals["availableReplicas"], 0),
            "observedGeneration": deployment["metadata"].get("generation", 1),
        }
        progressed = changed or any(
            totals[name] > int(previous.get(name) or 0)
            for name in ("updatedReplicas", "readyReplicas", "availableReplicas")
        )
        status["conditions"], wake = self._conditions(deployment, new, totals, progressed, now)
        if status != {k: previous.get(k) for k in status} or set(previous) - set(status):
            updated = await self.client.merge_patch(
                DEPLOYMENTS.path(
                    deployment["metadata"]["namespace"], deployment["metadata"]["name"], "status"
                ),
                {"status": status},
            )
            self.deployments.remember(updated)
        return wake

    def _conditions(
        self,
        deployment: Obj,
        new: Obj | None,
        totals: dict[str, int],
        progressed: bool,
        now: datetime,
    ) -> tuple[list[dict[str, Any]], float | None]:
        spec = deployment["spec"]
        desired = int(spec.get("replicas", 1))
        conditions = list((deployment.get("status") or {}).get("conditions") or [])
        unavailable = fenceposts(spec.get("strategy") or {}, desired).max_unavailable
        if spec.get("strategy", {}).get("type") == "Recreate":
            unavailable = desired
        times = ["lastUpdateTime"]
        if totals["availableReplicas"] >= desired - unavailable:
            conditions = set_condition(
                conditions,
                "Available",
                True,
                now,
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                times,
            )
        else:
            conditions = set_condition(
                conditions,
                "Available",
                False,
                now,
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                times,
            )
        name = (new or {}).get("metadata", {}).get("name", "")
        complete = (
            new is not None
            and totals["updatedReplicas"] == desired
            and totals["replicas"] == desired
            and totals["availableReplicas"] == desired
        )
        deadline = spec.get("progressDeadlineSeconds", 600)
        current = find_condition(conditions, "Progressing") or {}
        if new is None:
            return conditions, None
        if complete:
            conditions = set_condition(
                conditions,
                "Progressing",
                True,
                now,
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
                times,
            )
            return conditions, None
        timed_out = current.get("reason") == "ProgressDeadlineExceeded"
        if progressed or current.get("reason") in (None, "NewReplicaSetAvailable"):
            conditions = set_condition(
                conditions,
                "Progressing",
                True,
                now,
                "ReplicaSetUpdated",
                f'ReplicaSet "{name}" is progressing.',
                times,
                refresh=True,
            )
            return conditions, None if deadline is None else float(deadline) + 0.05
        if deadline is None or timed_out:
            return conditions, None
        last = parse_time(current.get("lastUpdateTime")) or now
        remaining = (last + timedelta(seconds=int(deadline)) - now).total_seconds()
        if remaining > 0:
            return conditions, remaining + 0.05
        conditions = set_condition(
            conditions,
            "Progressing",
            False,
            now,
            "ProgressDeadlineExceeded",
            f'ReplicaSet "{name}" has timed out progressing.',
            times,
        )
        return conditions, None
