"""The node agent: registers nodes, renews their leases and runs the pods bound to them.

It uses only the standard API (Node objects, Leases in kube-node-lease, pods
with a `spec.nodeName` field selector, `pods/status`), so it could be the node of
any API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy import __version__
from modeldeploy.sandbox.apiserver.server import POD_LOG_DIR
from modeldeploy.sandbox.controllers.base import run_until_stopped
from modeldeploy.sandbox.controllers.client import (
    API_ERRORS,
    CONFIGMAPS,
    LEASES,
    NAMESPACES,
    NODES,
    PVCS,
    SECRETS,
    ApiError,
    Kind,
    KubeClient,
    Obj,
)
from modeldeploy.sandbox.controllers.clock import format_micro_time, format_time, utc_now
from modeldeploy.sandbox.controllers.informer import Informer
from modeldeploy.sandbox.node.config import NodeConfig, default_nodes, with_own_taints
from modeldeploy.sandbox.node.env import decode_secret
from modeldeploy.sandbox.node.ips import PodAddresses
from modeldeploy.sandbox.node.kubelet_server import KubeletServer
from modeldeploy.sandbox.node.pod import NodeRuntime, PodWorker
from modeldeploy.sandbox.node.runtime import LAUNCHER

log = logging.getLogger(__name__)

HOST_IP = "127.0.0.1"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
RENEW_SECONDS = 10.0
STATUS_SECONDS = 60.0
KUBELET_VERSION = "v1.36.0-sandbox"
_OBJECT_KINDS: dict[str, Kind] = {
    "configmap": CONFIGMAPS,
    "secret": SECRETS,
    "persistentvolumeclaim": PVCS,
}


@dataclass(frozen=True)
class AgentOptions:
    directory: Path  # the sandbox directory: pods/, pvc/ and pod-logs/ live here
    nodes: tuple[NodeConfig, ...] = ()
    crash_backoff: float = 10.0
    shutdown_grace: float = 5.0
    isolate: bool | None = None  # None: namespaces where the machine allows them


def isolation_available(scratch: Path) -> bool:
    """Whether containers get their own mount/PID namespaces here (root on Linux)."""
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-S", str(LAUNCHER), "--check", str(scratch)],
            capture_output=True,
            check=False,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result.returncode == 0


def node_object(config: NodeConfig, now: str, kubelet_port: int = 0) -> dict[str, Any]:
    """The Node as this agent registers it. Its one address is the loopback address its
    kubelet endpoint listens on (an API server reaches it there, and needs no DNS for a
    Hostname address)."""
    ready = [
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": config.name, "labels": config.labels},
        "spec": {"taints": config.taints} if config.taints else {},
        "status": {
            "capacity": config.capacity,
            "allocatable": config.capacity,
            "conditions": [
                {
                    "type": kind,
                    "status": status,
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for kind, status, reason, message in ready
            ],
            "addresses": [{"type": "InternalIP", "address": HOST_IP}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
            "nodeInfo": {
                "architecture": "amd64"
                if platform.machine() in ("x86_64", "AMD64")
                else platform.machine(),
                "operatingSystem": "linux",
                "osImage": f"{platform.system()} {platform.release()}",
                "kernelVersion": platform.release(),
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": "",
                "containerRuntimeVersion": f"modeldeploy-sandbox://{__version__}",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


def _is_ready(node: Obj) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class NodeAgent:
    def __init__(self, client: KubeClient, options: AgentOptions) -> None:
        self.client = client
        self.options = options
        self.nodes = list(options.nodes) or default_nodes()
        self.addresses = PodAddresses()
        self.workers: dict[str, PodWorker] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        directory = options.directory.resolve()
        isolate = options.isolate
        if isolate is None:
            isolate = isolation_available(directory / "nodes" / ".isolation-check")
        log.info("container isolation (mount/PID namespaces): %s", isolate)
        self.runtimes = {
            node.name: NodeRuntime(
                client=client,
                node_name=node.name,
                host_ip=HOST_IP,
                claims_root=directory / "pvc",
                pods_root=directory / "nodes" / node.name / "pods",
                log_root=directory / POD_LOG_DIR,
                isolate=isolate,
                fetch=self.fetch,
                lookup=self.lookup,
                tokens=self.token,
                crash_backoff=options.crash_backoff,
            )
            for node in self.nodes
        }
        self.kubelet = KubeletServer(
            HOST_IP,
            directory / "nodes" / "pki",
            [node.name for node in self.nodes],
            directory / POD_LOG_DIR,
            self._pod_for_logs,
        )
        self.informers = [
            Informer(client, Kind("v1", "pods"), field_selector=f"spec.nodeName={node.name}")
            for node in self.nodes
        ]
        for informer in self.informers:
            informer.on_change(self._pod_event)

    def _pod_for_logs(self, namespace: str, name: str) -> tuple[Obj, Callable[[], bool]] | None:
        """A pod this agent runs, and whether it may still write logs (for a follow)."""
        for uid, worker in self.workers.items():
            if worker.namespace == namespace and worker.name == name:

                def running(uid: str = uid) -> bool:
                    current = self.workers.get(uid)
                    phase = (current.pod.get("status") or {}).get("phase") if current else None
                    return current is not None and phase not in ("Succeeded", "Failed")

                return worker.pod, running
        return None

    async def fetch(self, kind: str, namespace: str, name: str) -> Obj | None:
        try:
            return await self.client.get(_OBJECT_KINDS[kind].path(namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def token(self, pod: Mapping[str, Any], source: Mapping[str, Any]) -> tuple[str, int]:
        """A token bound to `pod` for a projected serviceAccountToken source (TokenRequest)."""
        meta = pod["metadata"]
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        lifetime = int(source.get("expirationSeconds") or 3600)
        spec: Obj = {
            "expirationSeconds": lifetime,
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
        path = Kind("v1", "serviceaccounts").path(meta["namespace"], account, "token")
        answer = await self.client.create(path, body)
        return str(answer["status"]["token"]), lifetime

    async def lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        obj = await self.fetch(kind, namespace, name)
        if obj is None:
            return None
        if kind == "secret":
            return decode_secret(obj)
        return {k: str(v) for k, v in (obj.get("data") or {}).items()}

    def _pod_event(self, event: str, pod: Obj) -> None:
        uid = str(pod["metadata"].get("uid"))
        worker = self.workers.get(uid)
        if event == "DELETED":
            if worker is not None:
                worker.gone()
            return
        if worker is not None:
            worker.update(pod)
            return
        runtime = self.runtimes.get(str(pod["spec"].get("nodeName")))
        if runtime is None:
            return
        address = self.addresses.allocate(uid, str((pod.get("status") or {}).get("podIP") or ""))
        worker = PodWorker(runtime, pod, address)
        self.workers[uid] = worker
        self.tasks[uid] = asyncio.create_task(self._run_worker(uid, worker))

    async def _run_worker(self, uid: str, worker: PodWorker) -> None:
        try:
            await worker.main(self.options.shutdown_grace)
        except Exception:
            log.exception("pod %s/%s: the pod worker failed", worker.namespace, worker.name)
        finally:
            self.workers.pop(uid, None)
            self.tasks.pop(uid, None)
            self.addresses.release(uid)

    # ---- node registration and heartbeats ----------------------------------------------------

    async def register(self) -> None:
        now = format_time(utc_now())
        for config in self.nodes:
            body = node_object(config, now, self.kubelet.port)
            try:
                await self.client.create(NODES.path(), body)
            except ApiError as error:
                if error.status != 409:
                    raise
                await self._update_registration(config, body)
        await self._ensure_lease_namespace()

    async def _update_registration(self, config: NodeConfig, body: Obj) -> None:
        """An existing Node: labels and status from this agent; of the taints only its own
        (read-modify-write guarded by resourceVersion, retried on a conflict)."""
        path = NODES.path(name=config.name)
        for attempt in itertools.count():
            node = await self.client.get(path)
            taints = with_own_taints(
                list((node.get("spec") or {}).get("taints") or []), config.taints
            )
            metadata = {**body["metadata"], "resourceVersion": node["metadata"]["resourceVersion"]}
            try:
                await self.client.merge_patch(
                    path, {"metadata": metadata, "spec": {"taints": taints or None}}
                )
                break
            except ApiError as error:
                if error.status != 409 or attempt >= 5:
                    raise
        await self.client.merge_patch(
            NODES.path(name=config.name, subresource="status"), {"status": body["status"]}
        )

    async def _ensure_lease_namespace(self) -> None:
        try:
            await self.client.create(
                NAMESPACES.path(),
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NAMESPACE}},
            )
        except ApiError as error:
            if error.status != 409:
                raise

    async def _renew_lease(self, config: NodeConfig, node_uid: str) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": config.name,
                "namespace": LEASE_NAMESPACE,
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": config.name, "uid": node_uid}
                ],
            },
            "spec": {
                "holderIdentity": config.name,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": format_micro_time(utc_now()),
            },
        }
        path = LEASES.path(LEASE_NAMESPACE, config.name)
        try:
            await self.client.merge_patch(path, {"spec": lease["spec"]})
        except ApiError as error:
            if error.status != 404:
                raise
            await self.client.create(LEASES.path(LEASE_NAMESPACE), lease)

    async def heartbeat(self) -> None:
        """Leases every 10 s; the Ready condition's heartbeat every 60 s, as the kubelet."""
        last_status = 0.0
        loop = asyncio.get_running_loop()
        while True:
            for config in self.nodes:
                try:
                    node = await self.client.get(NODES.path(name=config.name))
                    await self._renew_lease(config, str(node["metadata"]["uid"]))
                    if loop.time() - last_status >= STATUS_SECONDS or not _is_ready(node):
                        await self._post_ready(config, node)
                except API_ERRORS as error:
                    if isinstance(error, ApiError) and error.status == 404:
                        await self.register()  # someone deleted the Node: register again
                    else:
                        log.warning("heartbeat of %s failed: %s", config.name, error)
            if loop.time() - last_status >= STATUS_SECONDS:
                last_status = loop.time()
            await asyncio.sleep(RENEW_SECONDS)

    async def _post_ready(self, config: NodeConfig, node: Obj) -> None:
        """This node's own view (Ready, no pressure), keeping transition times that still hold."""
        now = format_time(utc_now())
        previous = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        conditions = []
        for condition in node_object(config, now)["status"]["conditions"]:
            before = previous.get(condition["type"]) or {}
            if before.get("status") == condition["status"]:
                condition["lastTransitionTime"] = before.get("lastTransitionTime", now)
            conditions.append(condition)
        await self.client.merge_patch(
            NODES.path(name=config.name, subresource="status"),
            {"status": {"conditions": conditions}},
        )

    async def run(self, stop: asyncio.Event) -> None:
        await self.kubelet.start()
        try:
            await self._run(stop)
        finally:
            await self.kubelet.stop()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.register()
                break
            except API_ERRORS as error:  # the API server may come up after the node
                log.warning("registering nodes failed, retrying: %s", error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        cleanup = asyncio.create_task(self.remove_stale_pod_folders())
        try:
            await run_until_stopped(
                stop, self.heartbeat(), *(informer.run() for informer in self.informers)
            )
        finally:
            cleanup.cancel()
            await self.shutdown()

    async def remove_stale_pod_folders(self) -> None:
        """Folders of pods deleted while the agent was not running (the uid ends the name)."""
        await asyncio.gather(*(informer.synced.wait() for informer in self.informers))
        for runtime in self.runtimes.values():
            if not runtime.pods_root.is_dir():
                continue
            for folder in runtime.pods_root.iterdir():
                if folder.name.rsplit("_", 1)[-1] not in self.workers:
                    shutil.rmtree(folder, ignore_errors=True)

    async def shutdown(self) -> None:
        """Marks every pod not ready in the API, then stops every container (SIGTERM, a short
        grace, SIGKILL) and records how each ended; pods stay in the API and run again when
        the agent comes back. (Keeping containers running across an agent restart, as a
        kubelet does, would need a runtime that outlives the agent, as containerd does.)"""
        await asyncio.gather(*(worker.mark_not_ready() for worker in self.workers.values()))
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(kubeconfig: Path, stop: asyncio.Event, options: AgentOptions) -> None:
    client = KubeClient.from_kubeconfig(kubeconfig, f"kubelet/{KUBELET_VERSION}")
    try:
        await NodeAgent(client, options).run(stop)
    finally:
        await client.close()
