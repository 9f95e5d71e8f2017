"""ReplicaSet controller: keeps spec.replicas pods of the template alive and reports their state."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from modeldeploy.sandbox.controllers.base import PodOwnerController, owner_reference
from modeldeploy.sandbox.controllers.client import PODS, REPLICASETS, KubeClient, Obj
from modeldeploy.sandbox.controllers.clock import parse_time, utc_now
from modeldeploy.sandbox.controllers.conditions import find_condition


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts toward replicas: not finished and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def is_ready(pod: Mapping[str, Any]) -> bool:
    condition = find_condition((pod.get("status") or {}).get("conditions"), "Ready")
    return condition is not None and condition.get("status") == "True"


def ready_for(pod: Mapping[str, Any]) -> float:
    """Seconds the pod has been Ready (negative when it is not)."""
    condition = find_condition((pod.get("status") or {}).get("conditions"), "Ready")
    if condition is None or condition.get("status") != "True":
        return -1.0
    since = parse_time(condition.get("lastTransitionTime"))
    return 0.0 if since is None else (utc_now() - since).total_seconds()


def deletion_rank(pod: Mapping[str, Any]) -> tuple[int, int, int]:
    """Pods to delete first sort first: unscheduled, then pending, then not ready."""
    status = pod.get("status") or {}
    return (
        1 if pod.get("spec", {}).get("nodeName") else 0,
        {"Pending": 0, "Unknown": 1}.get(str(status.get("phase")), 2),
        1 if is_ready(pod) else 0,
    )


def pods_to_delete(pods: list[Obj], count: int) -> list[Obj]:
    """The `count` pods a scale-down removes; within a rank the youngest go first."""
    newest_first = sorted(
        pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")), reverse=True
    )
    return sorted(newest_first, key=deletion_rank)[: max(count, 0)]


def pod_from_template(
    owner: Obj, api_version: str, kind: str, extra_labels: Mapping[str, str]
) -> Obj:
    template = copy.deepcopy(owner["spec"].get("template") or {})
    metadata = template.get("metadata") or {}
    metadata.pop("name", None)
    labels = {**(metadata.get("labels") or {}), **extra_labels}
    pod_metadata: dict[str, Any] = {
        **metadata,
        "generateName": f"{owner['metadata']['name']}-",
        "namespace": owner["metadata"]["namespace"],
        "ownerReferences": [owner_reference(owner, api_version, kind)],
    }
    if labels:
        pod_metadata["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_metadata,
        "spec": template.get("spec") or {},
    }


class ReplicaSetController(PodOwnerController):
    name = "replicaset-controller"

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client, REPLICASETS, "ReplicaSet")

    async def reconcile(self, key: str) -> float | None:
        rs = self.owners.get(key)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return None
        pods = self.owned_pods(rs)
        active = [pod for pod in pods if is_active(pod)]
        wanted = int(rs["spec"].get("replicas", 1))
        for _ in range(wanted - len(active)):
            created = await self.client.create(
                PODS.path(rs["metadata"]["namespace"]),
                pod_from_template(rs, "apps/v1", "ReplicaSet", {}),
            )
            self.pods.remember(created)
        for pod in pods_to_delete(active, len(active) - wanted):
            await self.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])
        return await self._write_status(rs)

    async def _write_status(self, rs: Obj) -> float | None:
        active = [pod for pod in self.owned_pods(rs) if is_active(pod)]
        min_ready = int(rs["spec"].get("minReadySeconds") or 0)
        template_labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get(
            "labels"
        ) or {}
        ready_times = [ready_for(pod) for pod in active]
        status: dict[str, Any] = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                all(
                    pod["metadata"].get("labels", {}).get(k) == v
                    for k, v in template_labels.items()
                )
                for pod in active
            )
            if template_labels
            else len(active),
            "readyReplicas": sum(t >= 0 for t in ready_times),
            "availableReplicas": sum(t >= min_ready for t in ready_times),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        current = rs.get("status") or {}
        if any(current.get(k) != v for k, v in status.items()):
            updated = await self.client.merge_patch(
                REPLICASETS.path(rs["metadata"]["namespace"], rs["metadata"]["name"], "status"),
                {"status": status},
            )
            self.owners.remember(updated)
        waiting = [min_ready - t for t in ready_times if 0 <= t < min_ready]
        return min(waiting) + 0.05 if waiting else None
