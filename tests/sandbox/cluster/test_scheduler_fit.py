"""The scheduler's filters and messages, on node objects like the node agent registers."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.controllers.quantity import QuantityError, parse_quantity
from modeldeploy.sandbox.node.agent import node_object
from modeldeploy.sandbox.node.config import default_nodes
from modeldeploy.sandbox.scheduler.fit import NodeState, choose_node, pod_requests

NODES = [node_object(config, "2026-01-01T00:00:00Z") for config in default_nodes()]


def pod(requests: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    resources = {"limits": requests} if requests else {}
    container = {"name": "c", "image": "modeldeploy/modeldeploy", "resources": resources}
    return {"metadata": {"name": "p"}, "spec": {"containers": [container], **spec}}


def states(*placed: dict[str, Any]) -> list[NodeState]:
    result = [NodeState(node) for node in NODES]
    for existing in placed:
        target = next(s for s in result if s.name == existing["spec"]["nodeName"])
        target.add_pod(existing)
    return result


GPU_TOLERATION = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
# kube-scheduler 1.36's text: DynamicResources' and DefaultPreemption's PostFilter messages
POST_FILTER = " no new claims to deallocate, preemption: 0/2 nodes are available: "


def test_quantities_parse_exactly_and_reject_garbage() -> None:
    assert parse_quantity("500m") * 2 == 1
    assert parse_quantity("2Gi") == 2 * 2**30
    assert parse_quantity("1e3") == 1000
    assert parse_quantity("1.5k") == 1500
    with pytest.raises(QuantityError, match="'two'"):
        parse_quantity("two")


def test_requests_default_to_limits_and_init_containers_count_at_their_peak() -> None:
    spec = pod({"cpu": "1", "nvidia.com/gpu": "1"})
    spec["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"cpu": "3"}}}]
    assert pod_requests(spec) == {"cpu": 3, "nvidia.com/gpu": 1}


def test_a_plain_pod_lands_on_the_cpu_pool() -> None:
    assert choose_node(pod({"cpu": "100m"}), states()).node_name == "cpu-pool"


def test_gpu_pod_without_toleration_gets_the_real_schedulers_message() -> None:
    decision = choose_node(pod({"nvidia.com/gpu": "1"}), states())
    assert decision.node_name is None
    # No node has a GPU the pod may use, whatever is deleted: preemption cannot help anywhere.
    assert decision.message == (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) had untolerated taint(s)." + POST_FILTER + "2 Preemption is not helpful "
        "for scheduling."
    )


def test_gpus_are_counted_against_running_pods_but_not_finished_ones() -> None:
    gpu_pod = pod({"nvidia.com/gpu": "1"}, tolerations=GPU_TOLERATION)
    assert choose_node(gpu_pod, states()).node_name == "gpu-pool"
    running = [
        {**pod({"nvidia.com/gpu": "1"}), "spec": {**gpu_pod["spec"], "nodeName": "gpu-pool"}}
    ] * 2
    assert choose_node(gpu_pod, states(*running)).node_name is None
    two = pod({"nvidia.com/gpu": "2"}, tolerations=GPU_TOLERATION)
    decision = choose_node(two, states(running[0]))
    assert decision.node_name is None
    # GPUs in use could be freed (resolvable); more than the node has could not.
    assert decision.message.endswith(
        POST_FILTER + "1 No preemption victims found for incoming pod, "
        "1 Preemption is not helpful for scheduling."
    )
    three = pod({"nvidia.com/gpu": "3"}, tolerations=GPU_TOLERATION)
    assert choose_node(three, states()).message.endswith(
        POST_FILTER + "2 Preemption is not helpful for scheduling."
    )


@pytest.mark.parametrize(
    ("expression", "fits"),
    [
        ({"key": "pool", "operator": "In", "values": ["gpu"]}, "gpu-pool"),
        ({"key": "pool", "operator": "NotIn", "values": ["gpu"]}, "cpu-pool"),
        ({"key": "nvidia.com/gpu.present", "operator": "Exists"}, "gpu-pool"),
        ({"key": "nvidia.com/gpu.present", "operator": "DoesNotExist"}, "cpu-pool"),
        ({"key": "pool", "operator": "In", "values": ["tpu"]}, None),
    ],
)
def test_required_node_affinity_operators(expression: dict[str, Any], fits: str | None) -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [expression]}]
            }
        }
    }
    decision = choose_node(pod(tolerations=GPU_TOLERATION, affinity=affinity), states())
    assert decision.node_name == fits
    if fits is None:
        assert decision.message.startswith(
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
        )


def test_node_selector_and_noexecute_taints_filter_too() -> None:
    assert choose_node(pod(nodeSelector={"pool": "gpu"}), states()).node_name is None
    tainted = [NodeState(node) for node in NODES]
    tainted[0].node["spec"] = {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}
    decision = choose_node(pod(), tainted)
    assert decision.node_name is None
    # Which taint is not named any more: both nodes count under one reason.
    assert decision.message == (
        "0/2 nodes are available: 2 node(s) had untolerated taint(s)."
        + POST_FILTER
        + "2 Preemption is not helpful for scheduling."
    )
    exact = [{"key": "maintenance", "operator": "Equal", "value": "", "effect": "NoExecute"}]
    assert choose_node(pod(tolerations=exact), tainted).node_name == "cpu-pool"
    tainted[0].node["spec"] = {}
