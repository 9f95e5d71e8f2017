"""The QoS class as Kubernetes' GetPodQOS computes it (pkg/apis/core/helper/qos/qos.go)."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.node.qos import compute_qos_class, qos_class


def pod(*containers: dict[str, Any], init: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    def container(index: int, resources: dict[str, Any]) -> dict[str, Any]:
        return {"name": f"c{index}", "resources": resources}

    return {
        "spec": {
            "containers": [container(i, r) for i, r in enumerate(containers)],
            "initContainers": [container(i, r) for i, r in enumerate(init)],
        }
    }


GUARANTEED = {"limits": {"cpu": "1", "memory": "1Gi"}}


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, "BestEffort"),
        # Only cpu and memory count: the GPU Job's pod is BestEffort, as on a real cluster.
        ({"limits": {"nvidia.com/gpu": "1"}}, "BestEffort"),
        ({"requests": {"ephemeral-storage": "1Gi"}}, "BestEffort"),
        ({"limits": {"cpu": "0"}}, "BestEffort"),  # zero quantities are ignored
        (GUARANTEED, "Guaranteed"),  # requests default to limits
        ({"limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"}}, "Guaranteed"),
        ({"requests": {"cpu": "1000m", "memory": "1Gi"}, **GUARANTEED}, "Guaranteed"),
        ({"requests": {"cpu": "500m"}, **GUARANTEED}, "Burstable"),
        ({"requests": {"cpu": "1"}}, "Burstable"),
        ({"limits": {"cpu": "1"}}, "Burstable"),  # memory not limited
        ({"limits": {"memory": "1Gi", "nvidia.com/gpu": "2"}}, "Burstable"),
    ],
)
def test_one_container(resources: dict[str, Any], expected: str) -> None:
    assert compute_qos_class(pod(resources)) == expected


def test_every_container_must_be_limited_for_guaranteed() -> None:
    assert compute_qos_class(pod(GUARANTEED, GUARANTEED)) == "Guaranteed"
    assert compute_qos_class(pod(GUARANTEED, {})) == "Burstable"
    assert compute_qos_class(pod({}, init=(GUARANTEED,))) == "Burstable"
    assert compute_qos_class(pod(GUARANTEED, init=(GUARANTEED,))) == "Guaranteed"


def test_pod_level_resources_decide_when_they_set_cpu_or_memory() -> None:
    gpu_only = pod({"limits": {"nvidia.com/gpu": "1"}})
    gpu_only["spec"]["resources"] = {"limits": {"cpu": "2", "memory": "2Gi"}}
    assert compute_qos_class(gpu_only) == "Guaranteed"
    gpu_only["spec"]["resources"] = {"requests": {"cpu": "1"}}
    assert compute_qos_class(gpu_only) == "Burstable"


def test_the_stored_class_is_kept() -> None:
    """status.qosClass is immutable on a real API server: the node never rewrites it."""
    stored = {**pod(GUARANTEED), "status": {"qosClass": "BestEffort"}}
    assert qos_class(stored) == "BestEffort"
    assert qos_class(pod(GUARANTEED)) == "Guaranteed"
