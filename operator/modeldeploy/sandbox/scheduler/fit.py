"""Which nodes a pod fits on, and why not: the default scheduler's filter plugins.

Implemented filters, in the real scheduler's order: NodeUnschedulable,
TaintToleration, NodeAffinity (nodeSelector + required node affinity) and
NodeResourcesFit (pod count, cpu, memory, extended resources such as
nvidia.com/gpu). The failure message follows kube-scheduler 1.36's format
(pkg/scheduler/framework/types.go FitError.Error): the reasons' histogram, then what the
PostFilter plugins said - DynamicResources' "no new claims to deallocate" (the pod has no
ResourceClaims) and DefaultPreemption's own histogram (this scheduler never preempts: all
pods are equal, so a node is at best "No preemption victims found").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from modeldeploy.sandbox.controllers.quantity import (
    Resources,
    add_resources,
    max_resources,
    parse_resources,
)

Obj = Mapping[str, Any]

_AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
_UNSCHEDULABLE = "node(s) were unschedulable"
_TOO_MANY_PODS = "Too many pods"
# tainttoleration/taint_toleration.go ErrReasonNotMatch (no taint named since 1.34)
_UNTOLERATED = "node(s) had untolerated taint(s)"
_NO_CLAIMS = "no new claims to deallocate"
_NO_VICTIMS = "No preemption victims found for incoming pod"
_NOT_HELPFUL = "Preemption is not helpful for scheduling"
_FILTERED_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class Failure:
    """Why one node was rejected; `resolvable` means freeing capacity could help."""

    reasons: tuple[str, ...]
    resolvable: bool


@dataclass
class NodeState:
    """A node with the requests of the pods already placed on it."""

    node: Obj
    requested: Resources = field(default_factory=dict)
    pod_count: int = 0

    @property
    def name(self) -> str:
        return str(self.node["metadata"]["name"])

    def allocatable(self) -> Resources:
        status = self.node.get("status") or {}
        return parse_resources(status.get("allocatable") or status.get("capacity"))

    def add_pod(self, pod: Obj) -> None:
        add_resources(self.requested, pod_requests(pod))
        self.pod_count += 1


def _container_requests(container: Obj) -> Resources:
    resources = container.get("resources") or {}
    # Kubernetes defaults a missing request to the limit (extended resources need both equal).
    merged = dict(resources.get("limits") or {})
    merged.update(resources.get("requests") or {})
    return parse_resources(merged)


def pod_requests(pod: Obj) -> Resources:
    """Effective requests: sum over containers, at least the largest init container, + overhead."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or []:
        add_resources(total, _container_requests(container))
    for init in spec.get("initContainers") or []:
        total = max_resources(total, _container_requests(init))
    add_resources(total, parse_resources(spec.get("overhead")))
    return total


def _tolerates(toleration: Obj, taint: Obj) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    operator = toleration.get("operator") or "Equal"
    key = toleration.get("key") or ""
    if operator == "Exists":
        return not key or key == taint.get("key")
    return key == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") not in _FILTERED_EFFECTS:
            continue
        if not any(_tolerates(toleration, taint) for toleration in tolerations):
            return dict(taint)
    return None


def _matches_expression(expression: Obj, values_by_key: Mapping[str, str]) -> bool:
    key = expression.get("key", "")
    operator = expression.get("operator")
    values = [str(value) for value in expression.get("values") or []]
    present = key in values_by_key
    actual = values_by_key.get(key, "")
    if operator == "In":
        return present and actual in values
    if operator == "NotIn":
        return not present or actual not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if operator in ("Gt", "Lt") and present and len(values) == 1:
        try:
            actual_number, bound = int(actual), int(values[0])
        except ValueError:
            return False
        return actual_number > bound if operator == "Gt" else actual_number < bound
    return False


def _matches_term(term: Obj, labels: Mapping[str, str], node_name: str) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no objects
    return all(_matches_expression(e, labels) for e in expressions) and all(
        _matches_expression(f, {"metadata.name": node_name}) for f in fields
    )


def matches_node_affinity(pod: Obj, node: Obj) -> bool:
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(key) != value for key, value in selector.items()):
        return False
    required = (
        ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
    ) or {}
    terms = required.get("nodeSelectorTerms")
    if terms is None:
        return True
    return any(_matches_term(term, labels, node["metadata"]["name"]) for term in terms)


def _insufficient(requests: Resources, state: NodeState) -> Failure | None:
    """NodeResourcesFit (noderesources/fit.go fitsRequest): a request above what is free; it is
    unresolvable (preemption cannot help) when it exceeds the node's whole allocatable."""
    allocatable = state.allocatable()
    reasons = []
    unresolvable = False
    if "pods" in allocatable and state.pod_count + 1 > allocatable["pods"]:
        reasons.append(_TOO_MANY_PODS)
    for name in sorted(requests):
        amount = requests[name]
        if amount <= 0 or name == "pods":
            continue
        total = allocatable.get(name, Fraction(0))
        if amount > total - state.requested.get(name, Fraction(0)):
            reasons.append(f"Insufficient {name}")
            unresolvable = unresolvable or amount > total
    return Failure(tuple(reasons), resolvable=not unresolvable) if reasons else None


def check_node(pod: Obj, state: NodeState, requests: Resources) -> Failure | None:
    """None when the pod fits; else the first failing filter's reasons."""
    node = state.node
    if (node.get("spec") or {}).get("unschedulable") and not any(
        _tolerates(t, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        for t in (pod.get("spec") or {}).get("tolerations") or []
    ):
        return Failure((_UNSCHEDULABLE,), resolvable=False)
    if untolerated_taint(pod, node) is not None:
        return Failure((_UNTOLERATED,), resolvable=False)
    if not matches_node_affinity(pod, node):
        return Failure((_AFFINITY_MISMATCH,), resolvable=False)
    return _insufficient(requests, state)


def _histogram(counts: Counter[str]) -> str:
    return ", ".join(sorted(f"{count} {reason}" for reason, count in counts.items()))


def unschedulable_message(failures: Sequence[Failure], node_count: int) -> str:
    """kube-scheduler's FailedScheduling text for a pod that fits nowhere."""
    reasons: Counter[str] = Counter()
    preemption: Counter[str] = Counter()
    for failure in failures:
        reasons.update(failure.reasons)
        preemption[_NO_VICTIMS if failure.resolvable else _NOT_HELPFUL] += 1
    if node_count == 0:
        return "no nodes available to schedule pods"
    return fit_error(node_count, _histogram(reasons), _histogram(preemption))


def fit_error(node_count: int, reasons: str, preemption: str) -> str:
    """`0/N nodes are available: <reasons>. <PostFilter messages>` (FitError.Error)."""
    return (
        f"0/{node_count} nodes are available: {reasons}. {_NO_CLAIMS}, "
        f"preemption: 0/{node_count} nodes are available: {preemption}."
    )


@dataclass(frozen=True)
class Decision:
    node_name: str | None
    message: str = ""


def _score(requests: Resources, state: NodeState) -> Fraction:
    """LeastAllocated: the mean free fraction of cpu and memory after placing the pod."""
    allocatable = state.allocatable()
    fractions = []
    for name in ("cpu", "memory"):
        capacity = allocatable.get(name, Fraction(0))
        if capacity > 0:
            used = state.requested.get(name, Fraction(0)) + requests.get(name, Fraction(0))
            fractions.append((capacity - used) / capacity)
    return sum(fractions, Fraction(0)) / max(len(fractions), 1)


def choose_node(pod: Obj, nodes: Iterable[NodeState]) -> Decision:
    """The best feasible node, or the reason message when there is none."""
    requests = pod_requests(pod)
    states = list(nodes)
    feasible: list[NodeState] = []
    failures: list[Failure] = []
    for state in states:
        failure = check_node(pod, state, requests)
        if failure is None:
            feasible.append(state)
        else:
            failures.append(failure)
    if not feasible:
        return Decision(None, unschedulable_message(failures, len(states)))
    best = min(feasible, key=lambda state: (-_score(requests, state), state.name))
    return Decision(best.name)
