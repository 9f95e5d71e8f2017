"""Node lifecycle: a node whose lease is not renewed becomes Ready=Unknown and unschedulable.

As kube-controller-manager's node lifecycle controller: after the monitor grace
period without a lease renewal, the node's conditions turn `Unknown`
(NodeStatusUnknown, "Kubelet stopped posting node status.") and it gets the
taint `node.kubernetes.io/unreachable:NoSchedule`, which the scheduler honours;
the taint goes once the node agent reports Ready again.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from modeldeploy.sandbox.controllers.base import Controller
from modeldeploy.sandbox.controllers.client import LEASES, NODES, PODS, KubeClient, Obj
from modeldeploy.sandbox.controllers.clock import format_time, parse_time, utc_now
from modeldeploy.sandbox.controllers.conditions import find_condition, set_condition
from modeldeploy.sandbox.controllers.informer import Informer

LEASE_NAMESPACE = "kube-node-lease"
UNREACHABLE = "node.kubernetes.io/unreachable"
_NODE_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")


def last_seen(node: Obj, lease: Obj | None) -> datetime | None:
    """The newest sign of life: the lease's renewTime or the Ready heartbeat."""
    times = [parse_time(((lease or {}).get("spec") or {}).get("renewTime"))]
    ready = find_condition((node.get("status") or {}).get("conditions"), "Ready") or {}
    times.append(parse_time(ready.get("lastHeartbeatTime")))
    known = [moment for moment in times if moment is not None]
    return max(known) if known else None


class NodeLifecycleController(Controller):
    name = "node-lifecycle-controller"

    def __init__(self, client: KubeClient, grace_seconds: float = 40.0) -> None:
        super().__init__(client)
        self.grace = grace_seconds
        self.nodes = self.informer(Informer(client, NODES))
        self.leases = self.informer(Informer(client, LEASES))
        self.nodes.on_change(lambda _event, node: self.queue.add(node["metadata"]["name"]))
        self.leases.on_change(self._lease_changed)

    def _lease_changed(self, _event: str, lease: Obj) -> None:
        if lease["metadata"].get("namespace") == LEASE_NAMESPACE:
            self.queue.add(lease["metadata"]["name"])

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.get(key)
        if node is None:
            return None
        seen = last_seen(node, self.leases.get(f"{LEASE_NAMESPACE}/{key}"))
        if seen is None:
            return self.grace
        now = utc_now()
        remaining = (seen + timedelta(seconds=self.grace) - now).total_seconds()
        taints = list((node.get("spec") or {}).get("taints") or [])
        tainted = any(t.get("key") == UNREACHABLE for t in taints)
        if remaining > 0:
            ready = find_condition((node.get("status") or {}).get("conditions"), "Ready") or {}
            if tainted and ready.get("status") == "True":
                kept = [t for t in taints if t.get("key") != UNREACHABLE]
                await self._patch(key, {"spec": {"taints": kept or None}})
            return remaining + 0.05
        if not tainted:
            taint = {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": format_time(now)}
            await self._patch(key, {"spec": {"taints": [*taints, taint]}})
        await self._mark_unknown(node, now)
        return None

    async def _mark_unknown(self, node: Obj, now: datetime) -> None:
        conditions: list[dict[str, Any]] = []
        changed = False
        for condition in (node.get("status") or {}).get("conditions") or []:
            if condition.get("type") in _NODE_CONDITIONS and condition.get("status") != "Unknown":
                condition = {
                    **condition,
                    "status": "Unknown",
                    "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastTransitionTime": format_time(now),
                }
                changed = True
            conditions.append(condition)
        if changed:
            name = node["metadata"]["name"]
            updated = await self.client.merge_patch(
                NODES.path(name=name, subresource="status"), {"status": {"conditions": conditions}}
            )
            self.nodes.remember(updated)
            await self._mark_pods_not_ready(name, now)

    async def _mark_pods_not_ready(self, node_name: str, now: datetime) -> None:
        """Pods on a node nobody hears from stop counting as ready (Services drop them)."""
        listing = await self.client.get(
            PODS.path(), {"fieldSelector": f"spec.nodeName={node_name}"}
        )
        for pod in listing.get("items") or []:
            status = pod.get("status") or {}
            if status.get("phase") in ("Succeeded", "Failed"):
                continue
            conditions = list(status.get("conditions") or [])
            for kind in ("Ready", "ContainersReady"):
                conditions = set_condition(conditions, kind, False, now)
            metadata = pod["metadata"]
            await self.client.merge_patch(
                PODS.path(metadata["namespace"], metadata["name"], "status"),
                {"status": {"conditions": conditions}},
            )

    async def _patch(self, name: str, body: Obj) -> None:
        self.nodes.remember(await self.client.merge_patch(NODES.path(name=name), body))
