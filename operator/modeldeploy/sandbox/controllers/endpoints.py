"""Endpoints controller: each Service with a selector lists its pods' IPs and target ports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeldeploy.sandbox.controllers.base import Controller
from modeldeploy.sandbox.controllers.client import (
    ENDPOINTS,
    PODS,
    SERVICES,
    KubeClient,
    Obj,
)
from modeldeploy.sandbox.controllers.informer import Informer
from modeldeploy.sandbox.controllers.replicaset import is_ready


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _target_port(service_port: Mapping[str, Any], pod: Obj) -> int | None:
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    for container in pod["spec"].get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port["containerPort"])
    return None


def endpoint_subsets(service: Obj, pods: list[Obj]) -> list[dict[str, Any]]:
    """Subsets grouping pods that resolve to the same ports, ready and not-ready apart."""
    spec = service.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], dict[str, list[dict[str, Any]]]] = {}
    for pod in sorted(pods, key=lambda p: str((p.get("status") or {}).get("podIP", ""))):
        status = pod.get("status") or {}
        if not status.get("podIP") or status.get("phase") in ("Succeeded", "Failed"):
            continue
        if pod["metadata"].get("deletionTimestamp") and not publish_not_ready:
            continue
        ports: list[tuple[str, int, str]] = []
        for service_port in spec.get("ports") or []:
            number = _target_port(service_port, pod)
            if number is not None:
                ports.append(
                    (service_port.get("name", ""), number, service_port.get("protocol", "TCP"))
                )
        address = {
            "ip": status["podIP"],
            "nodeName": pod["spec"].get("nodeName", ""),
            "targetRef": {
                "kind": "Pod",
                "namespace": pod["metadata"]["namespace"],
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
            },
        }
        group = groups.setdefault(tuple(ports), {"addresses": [], "notReadyAddresses": []})
        ready = publish_not_ready or is_ready(pod)
        group["addresses" if ready else "notReadyAddresses"].append(address)
    subsets = []
    for port_set, addresses in groups.items():
        subset: dict[str, Any] = {k: v for k, v in addresses.items() if v}
        if port_set:
            subset["ports"] = [
                {**({"name": name} if name else {}), "port": number, "protocol": protocol}
                for name, number, protocol in port_set
            ]
        subsets.append(subset)
    return subsets


class EndpointsController(Controller):
    name = "endpoints-controller"

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client)
        self.services = self.informer(Informer(client, SERVICES))
        self.pods = self.informer(Informer(client, PODS))
        self.endpoints = self.informer(Informer(client, ENDPOINTS))
        self.services.on_change(self.enqueue_object)
        self.pods.on_change(self._pod_changed)
        self.endpoints.on_change(self.enqueue_object)

    def _pod_changed(self, _event: str, pod: Obj) -> None:
        labels = pod["metadata"].get("labels") or {}
        for service in self.services.items():
            selector = (service.get("spec") or {}).get("selector")
            if service["metadata"].get("namespace") == pod["metadata"].get("namespace") and (
                selector and selects(selector, labels)
            ):
                self.enqueue_object("MODIFIED", service)

    async def reconcile(self, key: str) -> float | None:
        namespace, name = key.split("/", 1)
        service = self.services.get(key)
        current = self.endpoints.get(key)
        if service is None:
            if current is not None:
                await self.client.delete_if_present(ENDPOINTS.path(namespace, name))
            return None
        selector = (service.get("spec") or {}).get("selector")
        if not selector:
            return None  # Endpoints of a selector-less Service are the user's to write
        pods = [
            pod
            for pod in self.pods.items()
            if pod["metadata"].get("namespace") == namespace
            and selects(selector, pod["metadata"].get("labels") or {})
        ]
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": service["metadata"].get("labels") or {},
            },
            "subsets": endpoint_subsets(service, pods),
        }
        if current is None:
            self.endpoints.remember(await self.client.create(ENDPOINTS.path(namespace), body))
        elif (current.get("subsets") or []) != body["subsets"]:
            body["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
            self.endpoints.remember(
                await self.client.replace(ENDPOINTS.path(namespace, name), body)
            )
        return None
