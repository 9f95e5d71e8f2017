"""What the proxy serves, worked out from Services and Endpoints (pure functions)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Frontend:
    """One listener: a ClusterIP and a Service port."""

    ip: str
    port: int


@dataclass(frozen=True)
class ServicePort:
    """The Service port a frontend belongs to (Endpoints name their ports after it)."""

    namespace: str
    service: str
    port_name: str

    @property
    def endpoints_key(self) -> str:
        return f"{self.namespace}/{self.service}"


Backend = tuple[str, int]


def frontends(services: Iterable[Obj]) -> dict[Frontend, ServicePort]:
    """The TCP ports of every Service that has a ClusterIP (not headless, not ExternalName)."""
    table: dict[Frontend, ServicePort] = {}
    for service in services:
        spec = service.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type") == "ExternalName":
            continue
        meta = service.get("metadata") or {}
        for port in spec.get("ports") or []:
            if port.get("protocol", "TCP") != "TCP" or not isinstance(port.get("port"), int):
                continue
            table[Frontend(str(ip), port["port"])] = ServicePort(
                str(meta.get("namespace", "")), str(meta.get("name", "")), port.get("name", "")
            )
    return table


def ready_backends(endpoints: Obj | None, port_name: str) -> list[Backend]:
    """Ready addresses (never `notReadyAddresses`) at the port named like the Service port."""
    backends: list[Backend] = []
    for subset in (endpoints or {}).get("subsets") or []:
        number = next(
            (
                port.get("port")
                for port in subset.get("ports") or []
                if port.get("name", "") == port_name and port.get("protocol", "TCP") == "TCP"
            ),
            None,
        )
        if not isinstance(number, int):
            continue
        for address in subset.get("addresses") or []:
            backend = (str(address.get("ip")), number)
            if address.get("ip") and backend not in backends:
                backends.append(backend)
    return backends
