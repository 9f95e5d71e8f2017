"""ClusterIPs of Services, allocated as kube-apiserver's `--service-cluster-ip-range` does.

The range is `SERVICE_NETWORK` (127.1.0.0/16): loopback, so every address reaches this machine,
where the sandbox proxy listens on it. The addresses taken are exactly those the stored Services
hold, so there is no allocation map to persist or repair: deleting a Service frees its address
and a restarted API server finds the same addresses taken.
"""

from __future__ import annotations

import random
from collections.abc import Collection
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address
from typing import Any

from modeldeploy.sandbox.apiserver.errors import ApiError, FieldCause, bad_value
from modeldeploy.sandbox.network import SERVICE_NETWORK

HEADLESS = "None"
_VALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
_RANDOM = random.Random()


def _static_band(size: int) -> int:
    """How many addresses at the start of the range dynamic allocation avoids while it can, as
    upstream (KEP-3070), so that addresses chosen by users rarely collide with allocated ones."""
    return min(max(16, size // 16), 256)


def allocate(
    in_use: Collection[str],
    network: IPv4Network = SERVICE_NETWORK,
    rng: random.Random = _RANDOM,
) -> str | None:
    """A random free host address of `network` (upper band first), or None when it is full."""
    first = int(network.network_address) + 1
    last = int(network.broadcast_address) - 1
    taken = {int(address) for ip in in_use if isinstance(address := _address(ip), IPv4Address)}
    static = _static_band(last - first + 1)
    for low, high in ((first + static, last), (first, first + static - 1)):
        count = high - low + 1
        if count <= 0:
            continue
        start = rng.randrange(count)
        for step in range(count):
            candidate = low + (start + step) % count
            if candidate not in taken:
                return str(IPv4Address(candidate))
    return None


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None


def _carry_over(spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
    """An update that leaves the addresses out keeps them (a PUT of the manifest, helm, kubectl
    apply); one that changes only `clusterIP` changes `clusterIPs` with it (old clients)."""
    old_ip, old_ips = old_spec.get("clusterIP"), old_spec.get("clusterIPs")
    if not spec.get("clusterIP") and not spec.get("clusterIPs"):
        if old_ip:
            spec["clusterIP"] = old_ip
        if old_ips:
            spec["clusterIPs"] = old_ips
    elif spec.get("clusterIP") != old_ip and spec.get("clusterIPs") == old_ips:
        spec["clusterIPs"] = [spec["clusterIP"]] if spec.get("clusterIP") else []


def _shape_causes(spec: dict[str, Any]) -> list[FieldCause]:
    """`clusterIP` and `clusterIPs` agree and hold addresses (or `None`), one of them at most."""
    ip, ips = spec.get("clusterIP") or "", spec.get("clusterIPs") or []
    if not isinstance(ip, str) or not isinstance(ips, list):
        raise ValueError("spec.clusterIP must be a string and spec.clusterIPs a list of strings")
    if ip and ips and ips[0] != ip:
        return [
            FieldCause(
                "spec.clusterIPs",
                f"Invalid value: {bad_value(ips)}: first value must match `clusterIP`",
            )
        ]
    if not ip and ips:
        return [
            FieldCause(
                "spec.clusterIPs",
                f"Invalid value: {bad_value(ips)}: must be empty when `clusterIP` is not specified",
            )
        ]
    if len(ips) > 1:
        # The sandbox's service network is IPv4 only (single-stack).
        return [
            FieldCause(
                "spec.clusterIPs",
                f"Invalid value: {bad_value(ips)}: this cluster is not configured for dual-stack "
                "services: may hold one value only",
            )
        ]
    if ip and ip != HEADLESS and _address(ip) is None:
        return [FieldCause("spec.clusterIPs[0]", f"Invalid value: {bad_value(ip)}: {_VALID_IP}")]
    return []


def _claim(spec: dict[str, Any], in_use: Collection[str]) -> list[FieldCause]:
    """Give the Service its address: a free one, or the one it asks for if that is free."""
    wanted = spec.get("clusterIP") or ""
    if wanted == HEADLESS:
        return []
    if not wanted:
        allocated = allocate(in_use)
        if allocated is None:
            raise ApiError(
                500,
                "InternalError",
                "Internal error occurred: failed to allocate a serviceIP: range is full",
            )
        spec["clusterIP"], spec["clusterIPs"] = allocated, [allocated]
        return []
    address = _address(wanted)
    if not isinstance(address, IPv4Address) or address not in SERVICE_NETWORK:
        why = f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_NETWORK}"
    elif wanted in in_use:
        why = "provided IP is already allocated"
    else:
        return []
    return [
        FieldCause(
            "spec.clusterIPs",
            f"Invalid value: {bad_value([wanted])}: failed to allocate IP {wanted}: {why}",
        )
    ]


def _has_address(spec: dict[str, Any]) -> bool:
    return spec.get("type") != "ExternalName" and bool(spec.get("clusterIPs"))


def admit(
    spec: dict[str, Any], old_spec: dict[str, Any] | None, in_use: Collection[str]
) -> list[FieldCause]:
    """Fill in a Service's `clusterIP`/`clusterIPs` (create, or an update of a Service that had
    none) or check they are unchanged; `in_use` holds every other Service's addresses."""
    if spec.get("type") == "ExternalName":
        # An ExternalName Service is a DNS alias: it holds no address (one it had is freed).
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        return []
    if old_spec is not None and _has_address(old_spec):
        _carry_over(spec, old_spec)
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]  # what clients that know only `clusterIP` send
    causes = _shape_causes(spec)
    if causes:
        return causes
    if old_spec is None or not _has_address(old_spec):
        return _claim(spec, in_use)
    # Never empty here: an update that leaves the addresses out has been given the old ones.
    ips = spec["clusterIPs"]
    if ips[0] != old_spec["clusterIPs"][0]:
        return [
            FieldCause(
                "spec.clusterIPs[0]", f"Invalid value: {bad_value(ips)}: may not change once set"
            )
        ]
    return []
