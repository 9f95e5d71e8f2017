"""Scheduling on the sandbox's node pools: GPU taint, GPU capacity, waiting and retrying."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sandbox.cluster.conftest import Cluster, wait_for

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
POST_FILTER = "no new claims to deallocate, preemption: 0/2 nodes are available: "


def gpu_pod(name: str, tolerate: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": 2,
        "containers": [
            {
                "name": "train",
                "image": "modeldeploy/modeldeploy",
                "command": ["sleep", "300"],
                "resources": {"limits": {"nvidia.com/gpu": "1"}},
            }
        ],
    }
    if tolerate:
        spec["tolerations"] = [GPU_TOLERATION]
        spec["nodeSelector"] = {"pool": "gpu"}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def scheduled(cluster: Cluster, name: str) -> Any:
    pod = cluster.core.read_namespaced_pod(name, "default")
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


def running_on(cluster: Cluster, name: str) -> str | None:
    pod = cluster.core.read_namespaced_pod(name, "default")
    return pod.spec.node_name if pod.status.phase == "Running" else None


def unschedulable_message(cluster: Cluster, name: str) -> str | None:
    condition = scheduled(cluster, name)
    if condition is None or condition.status != "False":
        return None
    assert condition.reason == "Unschedulable"
    return str(condition.message)


@pytest.mark.slow
def test_gpu_pods_need_the_toleration_and_wait_for_a_free_gpu(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod("default", gpu_pod("no-toleration", tolerate=False))
    message = wait_for(lambda: unschedulable_message(cluster, "no-toleration"), "Unschedulable")
    assert message == (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) had untolerated taint(s). " + POST_FILTER + "2 Preemption is not helpful for "
        "scheduling."
    )

    for name in ("gpu-a", "gpu-b", "gpu-c"):
        cluster.core.create_namespaced_pod("default", gpu_pod(name, tolerate=True))
        if name != "gpu-c":  # the third comes once two hold both GPUs
            assert wait_for(lambda n=name: running_on(cluster, n), f"{name} running") == "gpu-pool"
    waiting = wait_for(lambda: unschedulable_message(cluster, "gpu-c"), "gpu-c Unschedulable")
    assert waiting == (
        "0/2 nodes are available: 1 Insufficient nvidia.com/gpu, "
        "1 node(s) didn't match Pod's node affinity/selector. " + POST_FILTER + "1 No preemption "
        "victims found for incoming pod, 1 Preemption is not helpful for scheduling."
    )
    assert cluster.core.read_namespaced_pod("gpu-c", "default").status.phase == "Pending"
    # The scheduler posts its event after the PodScheduled condition.
    wait_for(
        lambda: (
            any(
                e.reason == "FailedScheduling" and e.message == waiting
                for e in cluster.core.list_namespaced_event(
                    "default", field_selector="involvedObject.name=gpu-c"
                ).items
            )
            or None
        ),
        "a FailedScheduling event",
    )

    cluster.core.delete_namespaced_pod("gpu-a", "default")
    assert wait_for(lambda: running_on(cluster, "gpu-c"), "gpu-c running", 30) == "gpu-pool"
    assert running_on(cluster, "gpu-b") == "gpu-pool"
    assert unschedulable_message(cluster, "no-toleration") is not None
