"""`modeldeploy sandbox node`: the node agent alone, joining an API server as a kubelet."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s
from tests.sandbox.cluster.conftest import Cluster, processes_with, wait_for
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.node.config import load_nodes

MODELDEPLOY = Path(sys.executable).parent / "modeldeploy"
NODES = """
nodes:
  - name: edge
    pool: edge
    labels: {zone: lab}
    capacity: {cpu: "2", memory: 4Gi}
"""


def test_node_config_errors_name_the_field(tmp_path: Path) -> None:
    config = tmp_path / "nodes.yaml"
    config.write_text("nodes:\n  - name: a\n    capacity: {cpu: lots}\n")
    with pytest.raises(ValueError, match=r"nodes\[0\]\.capacity\.cpu: .*'lots'"):
        load_nodes(config)
    config.write_text("nodes:\n  - name: a\n    taints: [{key: k, effect: Never}]\n")
    with pytest.raises(ValueError, match=r"nodes\[0\]\.taints\[0\]: needs a key and an effect"):
        load_nodes(config)
    config.write_text("nodes: []\n")
    with pytest.raises(ValueError, match="nodes: a non-empty list is required"):
        load_nodes(config)


def start_node(sandbox: SandboxApi, directory: Path, config: Path) -> subprocess.Popen[bytes]:
    command = [str(MODELDEPLOY), "sandbox", "node", "--kubeconfig", str(sandbox.kubeconfig)]
    return subprocess.Popen(
        [*command, "--dir", str(directory), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ready(core: k8s.CoreV1Api) -> str | None:
    nodes = core.list_node().items
    if not nodes:
        return None
    return next(c.status for c in nodes[0].status.conditions if c.type == "Ready")


def pod_phase(core: k8s.CoreV1Api, name: str) -> str:
    return str(core.read_namespaced_pod(name, "default").status.phase)


@pytest.mark.slow
def test_a_standalone_node_joins_leaves_and_comes_back(
    sandbox_api: SandboxApi, tmp_path: Path
) -> None:
    # Controllers and scheduler of the sandbox, but the node is `modeldeploy sandbox node`.
    cluster = Cluster(sandbox_api, with_node=False, node_grace_seconds=2)
    cluster.start()
    config = tmp_path / "nodes.yaml"
    config.write_text(NODES)
    marker = f"edge-pod-{uuid.uuid4().hex[:8]}"
    agent = start_node(sandbox_api, tmp_path / "node", config)
    core = cluster.core
    try:
        wait_for(lambda: ready(core) == "True" or None, "the edge node Ready")
        (node,) = core.list_node().items
        assert node.metadata.name == "edge"
        assert node.metadata.labels["zone"] == "lab"
        assert node.metadata.labels["pool"] == "edge"
        assert node.status.allocatable["cpu"] == "2"
        lease = k8s.CoordinationV1Api(cluster.api).read_namespaced_lease("edge", "kube-node-lease")
        assert lease.spec.holder_identity == "edge"
        assert lease.spec.lease_duration_seconds == 40

        container = {
            "name": "c",
            "image": "modeldeploy/modeldeploy",
            "command": ["sh", "-c", f"sleep 300; : {marker}"],
        }
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "first"}, "spec": {"containers": [container]}}
        )
        wait_for(lambda: pod_phase(core, "first") == "Running" or None, "the first pod running")
        assert core.read_namespaced_pod("first", "default").spec.node_name == "edge"
        assert processes_with(marker)
        pods_folder = tmp_path / "node" / "nodes" / "edge" / "pods"
        (first_folder,) = pods_folder.iterdir()

        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        assert processes_with(marker) == []
        # The folder of a pod that no longer exists (deleted while the node was away) goes.
        stale = pods_folder / "default_gone_0000-stale"
        stale.mkdir()

        # Without lease renewals the node turns Unknown and unreachable-tainted.
        wait_for(lambda: ready(core) == "Unknown" or None, "the node to go Unknown", 20)
        taints = core.read_node("edge").spec.taints
        assert [(t.key, t.effect) for t in taints] == [
            ("node.kubernetes.io/unreachable", "NoSchedule")
        ]

        def first_ready() -> str:
            conditions = core.read_namespaced_pod("first", "default").status.conditions
            return str(next(c.status for c in conditions if c.type == "Ready"))

        wait_for(lambda: first_ready() == "False" or None, "the lost node's pod not ready")
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "second"}, "spec": {"containers": [container]}}
        )

        def unschedulable() -> str | None:
            conditions = core.read_namespaced_pod("second", "default").status.conditions or []
            return next((c.message for c in conditions if c.reason == "Unschedulable"), None)

        assert wait_for(unschedulable, "second Unschedulable") == (
            "0/1 nodes are available: 1 node(s) had untolerated taint(s). no new claims to "
            "deallocate, preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
            "scheduling."
        )

        # The agent comes back: Ready again, taint gone, the waiting pod runs, the old one again.
        agent = start_node(sandbox_api, tmp_path / "node", config)
        wait_for(lambda: pod_phase(core, "second") == "Running" or None, "second running", 30)
        assert not stale.exists()
        assert first_folder.exists()
        assert ready(core) == "True"
        assert not core.read_node("edge").spec.taints
        wait_for(lambda: pod_phase(core, "first") == "Running" or None, "first running again")
        restarts = core.read_namespaced_pod("first", "default").status.container_statuses[0]
        assert restarts.restart_count == 1
    finally:
        if agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        cluster.stop()
    assert processes_with(marker) == []
