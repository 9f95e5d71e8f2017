"""`kubectl logs` through the kubelet endpoint: the Node reports InternalIP and the kubelet
port, the agent serves /containerLogs over TLS with a self-signed certificate, and the API
server's pods/log is proxied there as kube-apiserver does it. The node agent keeps its files
in a directory of its own: only the endpoint can answer, as with a real API server."""

from __future__ import annotations

import re
import signal
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from tests.sandbox.apiserver.kubectl import OLD_KUBECTL, Kubectl
from tests.sandbox.cluster.conftest import Cluster, wait_for
from tests.sandbox.cluster.test_node_agent import NODES, ready, start_node
from tests.sandbox.conftest import SandboxApi

# Five lines, then a failure the first time (a previous run to read), then a second run.
SCRIPT = (
    'for i in 1 2 3 4 5; do echo "line $i"; done; '
    "[ -f /state/again ] || { touch /state/again; exit 3; }; echo second-run; sleep 300"
)


def kubelet_endpoint(cluster: Cluster, node: str) -> tuple[str, int]:
    status = cluster.core.read_node(node).status
    (address,) = status.addresses
    assert address.type == "InternalIP"
    return address.address, status.daemon_endpoints.kubelet_endpoint.port


def get(url: str, cafile: Path) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(cafile))  # verified: SAN 127.0.0.1
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
def test_logs_come_from_the_kubelet_endpoint(sandbox_api: SandboxApi, tmp_path: Path) -> None:
    cluster = Cluster(sandbox_api, with_node=False)
    cluster.start()
    config = tmp_path / "nodes.yaml"
    config.write_text(NODES)
    agent = start_node(sandbox_api, tmp_path / "node", config)
    try:
        wait_for(lambda: ready(cluster.core) == "True" or None, "the edge node Ready")
        check_logs(cluster, tmp_path / "node" / "nodes" / "pki" / "kubelet.crt")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        cluster.stop()


def check_logs(cluster: Cluster, cert: Path) -> None:
    container = {
        "name": "c",
        "image": "modeldeploy/modeldeploy",
        "command": ["sh", "-c", SCRIPT],
        "volumeMounts": [{"name": "state", "mountPath": "/state"}],
    }
    cluster.core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "talker"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [container],
                "volumes": [{"name": "state", "emptyDir": {}}],
            },
        },
    )

    def second_run() -> Any:
        status = cluster.core.read_namespaced_pod("talker", "default").status
        statuses = status.container_statuses or []
        running = statuses and statuses[0].restart_count == 1 and statuses[0].state.running
        log = cluster.core.read_namespaced_pod_log("talker", "default") if running else ""
        return "second-run" in log or None

    wait_for(second_run, "the second run's output")
    host, port = kubelet_endpoint(cluster, "edge")
    assert host == "127.0.0.1"
    assert port > 0
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "edge" in names.value.get_values_for_type(x509.DNSName)

    base = f"https://{host}:{port}/containerLogs/default/talker/c"
    assert get(f"{base}?previous=true", cert) == (200, "".join(f"line {i}\n" for i in range(1, 6)))
    assert get(f"{base}?previous=true&tailLines=2", cert) == (200, "line 4\nline 5\n")
    assert get(f"{base}?previous=true&limitBytes=8", cert) == (200, "line 1\nl")
    assert get(f"{base}?tailLines=1", cert) == (200, "second-run\n")
    status, stamped = get(f"{base}?previous=true&timestamps=true&tailLines=1", cert)
    assert status == 200
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:]{8}\.\d{9}Z line 5\n", stamped), stamped
    assert get(f"{base}?previous=true&sinceSeconds=3600", cert)[1].endswith("line 5\n")
    assert get(f"{base}?previous=true&sinceTime=2999-01-01T00:00:00Z", cert) == (200, "")
    assert get(f"https://{host}:{port}/containerLogs/default/nobody/c", cert) == (
        404,
        'pod "nobody" does not exist',
    )
    assert get(f"https://{host}:{port}/containerLogs/default/talker/other", cert)[0] == 404

    # kubectl (two versions) through the API server, which proxies to that endpoint.
    for binary in (None, OLD_KUBECTL):
        kubectl = Kubectl(cluster.sandbox) if binary is None else Kubectl(cluster.sandbox, binary)
        assert kubectl.run("logs", "talker", "--previous", "--tail=1") == "line 5\n"
        assert kubectl.run("logs", "talker", "--limit-bytes=6", "-p") == "line 1"
        stamped = kubectl.run("logs", "talker", "--timestamps", "--since=1h", "--tail=1")
        assert re.fullmatch(r"\S+Z second-run\n", stamped), stamped
        error = kubectl.run("logs", "talker", "-c", "nope", check=False)
        assert "container nope is not valid for pod talker" in error
    cluster.core.delete_namespaced_pod("talker", "default")
