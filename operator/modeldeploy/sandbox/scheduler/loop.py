"""The scheduler component: places pending pods on nodes through `pods/binding`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from modeldeploy.sandbox.controllers.base import Controller, run_until_stopped
from modeldeploy.sandbox.controllers.client import (
    NODES,
    PODS,
    PVCS,
    ApiError,
    KubeClient,
    Obj,
)
from modeldeploy.sandbox.controllers.clock import utc_now
from modeldeploy.sandbox.controllers.conditions import find_condition, set_condition
from modeldeploy.sandbox.controllers.events import record_event
from modeldeploy.sandbox.controllers.informer import Informer, object_key
from modeldeploy.sandbox.scheduler.fit import Decision, NodeState, choose_node, fit_error

log = logging.getLogger(__name__)

SCHEDULER_NAME = "default-scheduler"
RETRY_UNSCHEDULABLE_SECONDS = 30.0


def needs_scheduling(pod: Obj) -> bool:
    spec = pod.get("spec") or {}
    return (
        not spec.get("nodeName")
        and spec.get("schedulerName", SCHEDULER_NAME) == SCHEDULER_NAME
        and not pod["metadata"].get("deletionTimestamp")
        and (pod.get("status") or {}).get("phase", "Pending") == "Pending"
    )


def _holds_resources(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _claims(pod: Obj) -> list[str]:
    volumes = (pod.get("spec") or {}).get("volumes") or []
    return [
        v["persistentVolumeClaim"]["claimName"] for v in volumes if v.get("persistentVolumeClaim")
    ]


class Scheduler(Controller):
    name = SCHEDULER_NAME

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client)
        self.pods = self.informer(Informer(client, PODS))
        self.nodes = self.informer(Informer(client, NODES))
        self.claims = self.informer(Informer(client, PVCS))
        self.unschedulable: set[str] = set()
        self.pods.on_change(self._pod_changed)
        self.nodes.on_change(lambda _event, _node: self._retry_unschedulable())
        self.claims.on_change(lambda _event, _claim: self._retry_unschedulable())

    def _pod_changed(self, event: str, pod: Obj) -> None:
        if event != "DELETED" and needs_scheduling(pod):
            self.queue.add(object_key(pod))
        elif pod.get("spec", {}).get("nodeName") and (
            event == "DELETED" or not _holds_resources(pod)
        ):
            self._retry_unschedulable()  # capacity was freed

    def _retry_unschedulable(self) -> None:
        for key in self.unschedulable:
            self.queue.add(key)

    def node_states(self) -> list[NodeState]:
        states = {
            node["metadata"]["name"]: NodeState(node)
            for node in self.nodes.items()
            if not node["metadata"].get("deletionTimestamp")
        }
        for pod in self.pods.items():
            state = states.get((pod.get("spec") or {}).get("nodeName", ""))
            if state is not None and _holds_resources(pod):
                state.add_pod(pod)
        return list(states.values())

    def _decide(self, pod: Obj) -> Decision:
        namespace = pod["metadata"]["namespace"]
        node_count = len(self.node_states())
        for claim in _claims(pod):
            if self.claims.get(f"{namespace}/{claim}") is None:
                return Decision(
                    None,
                    fit_error(
                        node_count,
                        f'persistentvolumeclaim "{claim}" not found',
                        f"{node_count} Preemption is not helpful for scheduling",
                    ),
                )
        return choose_node(pod, self.node_states())

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.get(key)
        if pod is None or not needs_scheduling(pod):
            self.unschedulable.discard(key)
            return None
        decision = self._decide(pod)
        if decision.node_name is None:
            self.unschedulable.add(key)
            await self._mark_unschedulable(pod, decision.message)
            return RETRY_UNSCHEDULABLE_SECONDS
        self.unschedulable.discard(key)
        await self._bind(pod, decision.node_name)
        return None

    async def _bind(self, pod: Obj, node_name: str) -> None:
        metadata = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            await self.client.create(
                PODS.path(metadata["namespace"], metadata["name"], "binding"), binding
            )
        except ApiError as error:
            if error.status in (404, 409):
                return  # gone, or bound by someone else meanwhile
            raise
        # Count the pod on its node now: the watch event may come after the next decision.
        self.pods.remember({**pod, "spec": {**pod["spec"], "nodeName": node_name}})
        await record_event(
            self.client,
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {metadata['namespace']}/{metadata['name']} to {node_name}",
            SCHEDULER_NAME,
        )

    async def _mark_unschedulable(self, pod: Obj, message: str) -> None:
        status = pod.get("status") or {}
        current = find_condition(status.get("conditions"), "PodScheduled")
        if (
            current
            and current.get("reason") == "Unschedulable"
            and current.get("message") == message
        ):
            return
        conditions = set_condition(
            list(status.get("conditions") or []),
            "PodScheduled",
            False,
            utc_now(),
            "Unschedulable",
            message,
            extra_times=["lastProbeTime"],
        )
        metadata = pod["metadata"]
        try:
            updated = await self.client.merge_patch(
                PODS.path(metadata["namespace"], metadata["name"], "status"),
                {"status": {"phase": "Pending", "conditions": conditions}},
            )
        except ApiError as error:
            if error.status == 404:
                return
            raise
        self.pods.remember(updated)
        await record_event(self.client, pod, "Warning", "FailedScheduling", message, SCHEDULER_NAME)


async def run(kubeconfig: Path, stop: asyncio.Event) -> None:
    client = KubeClient.from_kubeconfig(kubeconfig, "modeldeploy-sandbox/scheduler")
    try:
        await run_until_stopped(stop, Scheduler(client).run())
    finally:
        await client.close()
