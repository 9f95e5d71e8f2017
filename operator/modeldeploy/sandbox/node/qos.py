"""A pod's QoS class, computed as Kubernetes' `GetPodQOS` does
(kubernetes/kubernetes pkg/apis/core/helper/qos/qos.go): only cpu and memory count, so a pod
whose only requests are extended resources (`nvidia.com/gpu`) is BestEffort."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from modeldeploy.sandbox.controllers.quantity import parse_quantity

Obj = Mapping[str, Any]
_QOS_RESOURCES = ("cpu", "memory")


def _positive(values: Mapping[str, Any] | None) -> dict[str, Fraction]:
    """The cpu/memory entries of a resource list that are above zero (others never count)."""
    found = {}
    for name, amount in (values or {}).items():
        if name in _QOS_RESOURCES and parse_quantity(amount) > 0:
            found[name] = parse_quantity(amount)
    return found


def _add(total: dict[str, Fraction], more: Mapping[str, Fraction]) -> None:
    for name, amount in more.items():
        total[name] = total.get(name, Fraction(0)) + amount


def _pod_level(spec: Obj) -> Obj | None:
    """`spec.resources` when it sets cpu or memory (PodLevelResources, on by default)."""
    resources = spec.get("resources") or {}
    names = [*(resources.get("requests") or {}), *(resources.get("limits") or {})]
    return resources if any(name in _QOS_RESOURCES for name in names) else None


def _totals(groups: Iterable[Obj]) -> tuple[dict[str, Fraction], dict[str, Fraction], bool]:
    """Summed requests and limits, and whether every group limits both cpu and memory.
    A missing request counts as its limit: kube-apiserver defaults it so before the kubelet
    sees the pod (pkg/apis/core/v1/defaults.go)."""
    requests: dict[str, Fraction] = {}
    limits: dict[str, Fraction] = {}
    limited_everywhere = True
    for resources in groups:
        group_limits = _positive(resources.get("limits"))
        defaulted = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
        _add(requests, _positive(defaulted))
        _add(limits, group_limits)
        if set(group_limits) != set(_QOS_RESOURCES):
            limited_everywhere = False
    return requests, limits, limited_everywhere


def compute_qos_class(pod: Obj) -> str:
    """`ComputePodQOS`: BestEffort with no cpu/memory requests or limits anywhere; Guaranteed
    when every container (or the pod level) limits cpu and memory and requests equal limits;
    else Burstable. Ephemeral containers never count."""
    spec = pod.get("spec") or {}
    pod_level = _pod_level(spec)
    if pod_level is not None:
        requests, limits, limited = _totals([pod_level])
    else:
        containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
        requests, limits, limited = _totals(c.get("resources") or {} for c in containers)
    if not requests and not limits:
        return "BestEffort"
    if limited and requests == limits:
        return "Guaranteed"
    return "Burstable"


def qos_class(pod: Obj) -> str:
    """`GetPodQOS`: the class already in `status.qosClass` (immutable once set: a real API
    server refuses a status write that changes it), else the computed one."""
    stored = (pod.get("status") or {}).get("qosClass")
    return str(stored) if stored else compute_qos_class(pod)
