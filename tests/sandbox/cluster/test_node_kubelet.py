"""Node agent behaviours a kubelet has: restarts by liveness, events, shutdown, registration."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sandbox.cluster.conftest import Cluster, wait_for


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 2, **spec, "containers": containers},
    }


def status_of(cluster: Cluster, name: str, container: str) -> Any:
    found = cluster.core.read_namespaced_pod(name, "default")
    return next((s for s in found.status.container_statuses or [] if s.name == container), None)


@pytest.mark.slow
@pytest.mark.parametrize(
    "cluster", [None, False], indirect=True, ids=["namespaces", "path-translation"]
)
def test_a_failed_liveness_probe_restarts_with_back_off_without_a_readiness_probe(
    cluster: Cluster,
) -> None:
    # The file exists only in the container's own layer: every run starts healthy, then breaks.
    script = "touch /tmp/healthy; sleep 1; rm /tmp/healthy; sleep 300"
    worker = {
        "name": "worker",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", script],
        "livenessProbe": {
            "exec": {"command": ["cat", "/tmp/healthy"]},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    }
    cluster.core.create_namespaced_pod("default", pod("lively", [worker]))
    wait_for(
        lambda: ((s := status_of(cluster, "lively", "worker")) and s.restart_count >= 2) or None,
        "two restarts by the liveness probe",
        60,
    )
    status = status_of(cluster, "lively", "worker")
    assert status.last_state.terminated is not None
    assert status.last_state.terminated.exit_code in (137, 143)
    assert cluster.core.read_namespaced_pod("lively", "default").status.phase == "Running"
    events = cluster.core.list_namespaced_event(
        "default", field_selector="involvedObject.name=lively"
    ).items
    killing = [e for e in events if e.reason == "Killing"]
    assert any(
        e.message == "Container worker failed liveness probe, will be restarted" for e in killing
    )
    assert not any("nsenter" in (e.message or "") for e in events)
