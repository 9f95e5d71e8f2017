"""`modeldeploy sandbox node`: the node agent alone, joining an API server as a kubelet."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from tests.sandbox.cluster.conftest import processes_with, wait_for
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


@pytest.mark.slow
def test_a_standalone_node_registers_renews_its_lease_and_runs_bound_pods(
    sandbox_api: SandboxApi, tmp_path: Path
) -> None:
    config = tmp_path / "nodes.yaml"
    config.write_text(NODES)
    marker = f"edge-pod-{uuid.uuid4().hex[:8]}"
    command = [str(MODELDEPLOY), "sandbox", "node", "--kubeconfig", str(sandbox_api.kubeconfig)]
    agent = subprocess.Popen(
        [*command, "--dir", str(tmp_path / "node"), "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api = k8s_config.new_client_from_config(config_file=str(sandbox_api.kubeconfig))
    try:
        core = k8s.CoreV1Api(api)
        wait_for(lambda: core.list_node().items or None, "the edge node")
        (node,) = core.list_node().items
        assert node.metadata.name == "edge"
        assert node.metadata.labels["zone"] == "lab"
        assert node.metadata.labels["pool"] == "edge"
        assert node.status.allocatable["cpu"] == "2"
        assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
        lease = k8s.CoordinationV1Api(api).read_namespaced_lease("edge", "kube-node-lease")
        assert lease.spec.holder_identity == "edge"
        assert lease.spec.lease_duration_seconds == 40

        # No scheduler runs here: a pod bound by hand is this node's to run.
        script = f"sleep 300; : {marker}"
        container = {
            "name": "c",
            "image": "modeldeploy/modeldeploy",
            "command": ["sh", "-c", script],
        }
        core.create_namespaced_pod(
            "default",
            {
                "metadata": {"name": "bound"},
                "spec": {"nodeName": "edge", "containers": [container]},
            },
        )
        wait_for(
            lambda: core.read_namespaced_pod("bound", "default").status.phase == "Running" or None,
            "the bound pod running",
        )
        assert processes_with(marker)
        assert core.read_namespaced_pod("bound", "default").status.pod_ip.startswith("127.0.")

        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=30) == 0
        assert processes_with(marker) == []
    finally:
        api.close()
        if agent.poll() is None:
            agent.kill()
            agent.wait(timeout=30)
