"""Pods on the sandbox node: volumes at their mount paths, env sources, images, probes."""

from __future__ import annotations

import base64
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.cluster.conftest import Cluster, is_ready, processes_with, wait_for

READER = """
cat seed.txt
cat /etc/modeldeploy/greeting
cat /models/model.txt
echo written > /models/output.txt
echo "env: $(echo $GREETING) $TOKEN $CFG_threshold $POD_NAMESPACE $NODE"
touch /etc/modeldeploy/extra 2>/dev/null && echo config-writable || echo config-read-only
echo "secret: $(cat /var/run/creds/api-token)"
echo from-the-pod > /host/report.txt
"""


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 2, **spec, "containers": containers},
    }


def phase(cluster: Cluster, name: str) -> str:
    return str(cluster.core.read_namespaced_pod(name, "default").status.phase)


@pytest.mark.slow
@pytest.mark.parametrize(
    "cluster", [None, False], indirect=True, ids=["namespaces", "path-translation"]
)
def test_volumes_and_env_sources_reach_the_process(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map(
        "default",
        {"metadata": {"name": "settings"}, "data": {"greeting": "hello\n", "threshold": "0.5"}},
    )
    token = base64.b64encode(b"s3cret").decode()
    core.create_namespaced_secret(
        "default", {"metadata": {"name": "creds"}, "data": {"token": token}}
    )
    core.create_namespaced_persistent_volume_claim(
        "default",
        {
            "metadata": {"name": "models"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    claim = cluster.directory / "pvc" / "default" / "models"  # documented claim location
    host = cluster.directory / "host-folder"  # created by the hostPath type
    claim.mkdir(parents=True)
    (claim / "model.txt").write_text("weights-v1\n")
    container = {
        "name": "reader",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", READER],
        "workingDir": "/scratch",
        "env": [
            {
                "name": "GREETING",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}},
            },
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/modeldeploy"},
            {"name": "models", "mountPath": "/models"},
            {"name": "scratch", "mountPath": "/scratch"},
            {"name": "creds", "mountPath": "/var/run/creds"},
            {"name": "host", "mountPath": "/host"},
        ],
    }
    seeder = {
        "name": "seed",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", "echo seeded-by-init > /scratch/seed.txt"],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
    }
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "settings"}},
        {"name": "models", "persistentVolumeClaim": {"claimName": "models"}},
        {
            "name": "creds",
            "secret": {"secretName": "creds", "items": [{"key": "token", "path": "api-token"}]},
        },
        {"name": "host", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}},
    ]
    core.create_namespaced_pod(
        "default",
        pod("reader", [container], restartPolicy="Never", volumes=volumes, initContainers=[seeder]),
    )
    wait_for(lambda: phase(cluster, "reader") == "Succeeded", "reader to succeed")

    output = core.read_namespaced_pod_log("reader", "default")
    assert output.splitlines() == [
        "seeded-by-init",
        "hello",
        "weights-v1",
        "env: hello s3cret 0.5 default cpu-pool",
        # read-only mounts need a mount namespace; translated paths are plain host folders
        "config-read-only" if cluster.isolated else "config-writable",
        "secret: s3cret",
    ]
    assert (host / "report.txt").read_text() == "from-the-pod\n"
    assert (claim / "output.txt").read_text() == "written\n"
    claim_status = core.read_namespaced_persistent_volume_claim("models", "default").status
    assert claim_status.phase == "Bound"
    assert not Path("/etc/modeldeploy").exists()  # mounted only inside the pod
    assert not Path("/models").exists()
    finished = core.read_namespaced_pod("reader", "default").status
    assert finished.init_container_statuses[0].state.terminated.reason == "Completed"


@pytest.mark.slow
def test_the_project_image_runs_the_installed_modeldeploy(cluster: Cluster) -> None:
    entry = {"name": "c", "image": "docker.io/modeldeploy/modeldeploy:0.1.0", "args": ["--version"]}
    cluster.core.create_namespaced_pod("default", pod("version", [entry], restartPolicy="Never"))
    wait_for(lambda: phase(cluster, "version") == "Succeeded", "version to succeed")
    assert cluster.core.read_namespaced_pod_log("version", "default").startswith("modeldeploy ")


@pytest.mark.slow
def test_a_command_that_cannot_run_fails_to_start(cluster: Cluster) -> None:
    missing = {"name": "c", "image": "modeldeploy/modeldeploy", "command": ["no-such-tool", "-v"]}
    cluster.core.create_namespaced_pod("default", pod("broken", [missing], restartPolicy="Never"))
    wait_for(lambda: phase(cluster, "broken") == "Failed", "broken to fail")
    status = cluster.core.read_namespaced_pod("broken", "default").status.container_statuses[0]
    assert status.state.terminated.reason == "StartError"
    assert status.state.terminated.exit_code == 128
    assert (
        status.state.terminated.message
        == 'exec: "no-such-tool": executable file not found in $PATH'
    )


@pytest.mark.slow
def test_a_missing_config_map_holds_the_container_until_it_exists(cluster: Cluster) -> None:
    waiting = {
        "name": "c",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", "echo level=$LEVEL; sleep 300"],
        "env": [
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "late", "key": "level"}}}
        ],
    }
    cluster.core.create_namespaced_pod("default", pod("patient", [waiting]))

    def state() -> Any:
        found = cluster.core.read_namespaced_pod("patient", "default").status
        return found.container_statuses[0].state if found.container_statuses else None

    blocked = wait_for(
        lambda: (
            (s := state()) and s.waiting and s.waiting.reason == "CreateContainerConfigError" and s
        ),
        "CreateContainerConfigError",
    )
    assert blocked.waiting.message == 'configmap "late" not found'
    cluster.core.create_namespaced_config_map(
        "default", {"metadata": {"name": "late"}, "data": {"level": "3"}}
    )
    wait_for(lambda: (s := state()) and s.running, "the container running", 30)
    wait_for(
        lambda: "level=3" in cluster.core.read_namespaced_pod_log("patient", "default") or None,
        "its log",
    )


@pytest.mark.slow
def test_deletion_sends_sigterm_then_sigkill_after_the_grace_period(cluster: Cluster) -> None:
    marker = f"stubborn-{uuid.uuid4().hex[:8]}"
    # The shell ignores SIGTERM; its child quits on it: only SIGKILL ends the shell.
    script = (
        f"python -c 'import time; time.sleep(300)' {marker}-child & "
        f"trap '' TERM; while :; do sleep 0.1; done; : {marker}"
    )
    stubborn = {"name": "c", "image": "modeldeploy/modeldeploy", "command": ["sh", "-c", script]}
    cluster.core.create_namespaced_pod("default", pod("stubborn", [stubborn]))
    wait_for(lambda: len(processes_with(marker)) == 2 or None, "the pod's processes")
    deleted_at = time.monotonic()
    cluster.core.delete_namespaced_pod("stubborn", "default", grace_period_seconds=5)
    wait_for(lambda: len(processes_with(marker)) == 1 or None, "only the shell after SIGTERM", 5)
    wait_for(lambda: processes_with(marker) == [] or None, "SIGKILL after the grace period", 20)
    assert time.monotonic() - deleted_at >= 4.5  # the shell got its grace period
    wait_for(
        lambda: (
            not cluster.core.list_namespaced_pod(
                "default", field_selector="metadata.name=stubborn"
            ).items
        ),
        "the pod object removed",
    )


@pytest.mark.slow
def test_unknown_image_never_runs(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod(
        "default", pod("ghost", [{"name": "web", "image": "nginx:1.27"}])
    )

    def waiting_reason() -> str | None:
        found = cluster.core.read_namespaced_pod("ghost", "default")
        statuses = found.status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.reason if waiting else None

    reasons = {wait_for(waiting_reason, "an image pull error")}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        found = cluster.core.read_namespaced_pod("ghost", "default")
        state = found.status.container_statuses[0].state
        assert state.running is None
        assert state.terminated is None
        assert found.status.phase == "Pending"
        reasons.add(state.waiting.reason)
        time.sleep(0.2)
    assert reasons == {"ErrImagePull", "ImagePullBackOff"}
    message = found.status.container_statuses[0].state.waiting.message
    assert '"nginx:1.27"' in message
    logs = Kubectl(cluster.sandbox).run("logs", "ghost", check=False)
    assert "is waiting to start" in logs


@pytest.mark.slow
@pytest.mark.parametrize(
    "cluster", [None, False], indirect=True, ids=["namespaces", "path-translation"]
)
def test_probes_drive_readiness_and_restarts(cluster: Cluster) -> None:
    port = random.randint(20000, 29999)
    # /state exists only in the container: exec probes must run where the container does.
    script = "rm -f /state/*; sleep 1; touch /state/ready; sleep 2; touch /state/broken; sleep 300"
    worker = {
        "name": "worker",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", script],
        "volumeMounts": [{"name": "state", "mountPath": "/state"}],
        "readinessProbe": {"exec": {"command": ["cat", "/state/ready"]}, "periodSeconds": 1},
        "livenessProbe": {
            "exec": {"command": ["test", "!", "-f", "/state/broken"]},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    }
    web = {
        "name": "web",
        "image": "modeldeploy/modeldeploy",
        "command": ["python", "-m", "http.server", "--bind", "$(POD_IP)", str(port)],
        "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "startupProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 30},
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
    }
    volumes = [{"name": "state", "emptyDir": {}}]
    cluster.core.create_namespaced_pod("default", pod("probed", [worker, web], volumes=volumes))

    def container(name: str) -> Any:
        found = cluster.core.read_namespaced_pod("probed", "default")
        return next(s for s in found.status.container_statuses or [] if s.name == name)

    wait_for(lambda: is_ready(cluster.core.read_namespaced_pod("probed", "default")), "Ready")
    assert not Path("/state").exists()
    restarted = wait_for(lambda: container("worker").restart_count >= 1 or None, "a restart", 30)
    assert restarted
    last = container("worker").last_state.terminated
    assert last is not None
    assert last.exit_code in (137, 143)
    assert container("web").restart_count == 0
    assert container("web").started
    events = cluster.core.list_namespaced_event(
        "default", field_selector="involvedObject.name=probed"
    )
    messages = [e.message for e in events.items]
    assert "Container worker failed liveness probe, will be restarted" in messages
