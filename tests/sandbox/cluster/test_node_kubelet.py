"""Node agent behaviours a kubelet has: restarts by liveness, events, shutdown, registration."""

from __future__ import annotations

import random
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox.cluster.conftest import Cluster, is_ready, processes_with, wait_for
from tests.sandbox.cluster.test_node_agent import ready, start_node
from tests.sandbox.cluster.test_pods import pod
from tests.sandbox.conftest import SandboxApi


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


def node_config(path: Path, taint_value: str) -> Path:
    path.write_text(
        "nodes:\n  - name: edge\n    capacity: {cpu: '2', memory: 4Gi}\n"
        f"    taints: [{{key: pool, value: {taint_value}, effect: PreferNoSchedule}}]\n"
    )
    return path


def taints_of(cluster: Cluster) -> set[tuple[str, str, str]]:
    taints = cluster.core.read_node("edge").spec.taints or []
    return {(t.key, t.value or "", t.effect) for t in taints}


@pytest.mark.slow
def test_a_stopping_agent_marks_pods_not_ready_first_and_keeps_taints_others_set(
    sandbox_api: SandboxApi, tmp_path: Path
) -> None:
    # The node lifecycle controller's 40 s grace: only the agent itself marks the pod.
    cluster = Cluster(sandbox_api, with_node=False)
    cluster.start()
    core = cluster.core
    marker = f"graceful-{uuid.uuid4().hex[:8]}"
    release = tmp_path / "shared" / "release"
    # On SIGTERM the container holds on until the test has seen the pod not ready.
    script = (
        f"trap 'while [ ! -f /shared/release ]; do sleep 0.05; done; exit 0' TERM; "
        f"sleep 300 & wait $!; : {marker}"
    )
    container = {
        "name": "app",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "shared", "mountPath": "/shared"}],
    }
    volumes = [
        {"name": "shared", "hostPath": {"path": str(release.parent), "type": "DirectoryOrCreate"}}
    ]
    agent = start_node(sandbox_api, tmp_path / "node", node_config(tmp_path / "a.yaml", "edge"))
    try:
        wait_for(lambda: ready(core) == "True" or None, "the edge node Ready")
        core.create_namespaced_pod("default", pod("graceful", [container], volumes=volumes))
        wait_for(lambda: is_ready(core.read_namespaced_pod("graceful", "default")), "pod Ready")
        # Others' taints and a cordon, as `kubectl taint` and `kubectl cordon` set them.
        others = [{"key": "team", "value": "ml", "effect": "NoSchedule"}]
        current = [t.to_dict() for t in core.read_node("edge").spec.taints]
        core.patch_node("edge", {"spec": {"taints": current + others, "unschedulable": True}})

        agent.send_signal(signal.SIGTERM)
        seen = wait_for(
            lambda: (
                (p := core.read_namespaced_pod("graceful", "default")) and not is_ready(p) and p
            ),
            "the pod not ready",
            20,
        )
        assert processes_with(marker), "the pod was marked not ready only after its process ended"
        assert seen.status.container_statuses[0].ready is False
        release.touch()
        assert agent.wait(timeout=30) == 0
        assert processes_with(marker) == []
        stopped = core.read_namespaced_pod("graceful", "default").status
        assert not is_ready(core.read_namespaced_pod("graceful", "default"))
        assert stopped.container_statuses[0].state.terminated.exit_code == 0

        # Registered again with a changed own taint: the others' taints and the cordon stay.
        agent = start_node(sandbox_api, tmp_path / "node", node_config(tmp_path / "b.yaml", "v2"))
        wait_for(lambda: ready(core) == "True" or None, "the edge node Ready again")
        wait_for(
            lambda: (
                taints_of(cluster)
                == {("team", "ml", "NoSchedule"), ("pool", "v2", "PreferNoSchedule")}
                or None
            ),
            "own taint updated, others kept",
        )
        assert core.read_node("edge").spec.unschedulable is True
        again = wait_for(
            lambda: (s := status_of(cluster, "graceful", "app")) and s.state.running and s,
            "the pod running again",
        )
        assert again.restart_count == 1
        assert again.last_state.terminated.exit_code == 0  # as recorded at the shutdown
    finally:
        release.touch()
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        cluster.stop()
    assert processes_with(marker) == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "cluster", [None, False], indirect=True, ids=["namespaces", "path-translation"]
)
def test_a_volume_over_a_parent_of_the_venv_does_not_hide_the_image(cluster: Cluster) -> None:
    """The chart mounts an emptyDir at /tmp; with the checkout under /tmp that hid the venv."""
    parent = Path(sys.prefix).parent  # the folder holding the venv (the checkout)
    script = (
        f"echo scratch > {parent}/written.txt && modeldeploy --version && cat {parent}/written.txt"
    )
    container = {
        "name": "c",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "scratch", "mountPath": str(parent)}],
    }
    volumes = [{"name": "scratch", "emptyDir": {}}]
    cluster.core.create_namespaced_pod(
        "default", pod("covered", [container], volumes=volumes, restartPolicy="Never")
    )
    wait_for(
        lambda: (
            cluster.core.read_namespaced_pod("covered", "default").status.phase
            in ("Succeeded", "Failed")
            or None
        ),
        "the pod to finish",
    )
    log = cluster.core.read_namespaced_pod_log("covered", "default")
    assert cluster.core.read_namespaced_pod("covered", "default").status.phase == "Succeeded", log
    assert log.startswith("modeldeploy ")
    assert log.splitlines()[-1] == "scratch"  # the emptyDir is there too
    assert not (parent / "written.txt").exists()  # written into the volume, not the checkout


def pod_events(cluster: Cluster, name: str) -> list[Any]:
    selector = f"involvedObject.name={name}"
    return list(cluster.core.list_namespaced_event("default", field_selector=selector).items)


@pytest.mark.slow
def test_events_are_the_kubelets_and_repeats_are_counted(cluster: Cluster) -> None:
    port = random.randint(20000, 29999)  # nothing listens there: readiness keeps failing
    container = {
        "name": "web",
        "image": "modeldeploy/modeldeploy",
        "command": ["sleep", "300"],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 1},
    }
    cluster.core.create_namespaced_pod("default", pod("evented", [container]))

    def unhealthy() -> Any:
        found = [e for e in pod_events(cluster, "evented") if e.reason == "Unhealthy"]
        return found if found and found[0].count >= 3 else None

    (event,) = wait_for(unhealthy, "the failing probe counted three times on one event")
    ip = cluster.core.read_namespaced_pod("evented", "default").status.pod_ip
    assert event.message == (
        f'Readiness probe failed: Get "http://{ip}:{port}/healthz": '
        f"dial tcp {ip}:{port}: connect: connection refused"
    )
    assert event.type == "Warning"
    assert event.involved_object.field_path == "spec.containers{web}"
    assert event.source.component == "kubelet"
    assert event.series.count == event.count
    assert event.last_timestamp >= event.first_timestamp
    by_reason = {e.reason: e for e in pod_events(cluster, "evented")}
    assert by_reason["Pulled"].message == (
        'Container image "modeldeploy/modeldeploy" already present on machine and can be '
        "accessed by the pod"
    )
    assert by_reason["Created"].message == "Container created"
    assert by_reason["Started"].message == "Container started"
    assert {by_reason[r].involved_object.field_path for r in ("Pulled", "Created", "Started")} == {
        "spec.containers{web}"
    }

    cluster.core.delete_namespaced_pod("evented", "default")
    killing = wait_for(
        lambda: next((e for e in pod_events(cluster, "evented") if e.reason == "Killing"), None),
        "the Killing event",
    )
    assert killing.message == "Stopping container web"
