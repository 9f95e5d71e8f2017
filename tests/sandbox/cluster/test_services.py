"""Services carry traffic: the proxy listens on each ClusterIP:port and sends every new
connection to a random ready pod, following readiness, scaling and deletion."""

from __future__ import annotations

import collections
import random
import socket
import urllib.request
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from tests.sandbox.cluster.conftest import Cluster, wait_for
from tests.sandbox.conftest import eventually

# Answers its pod name; /healthz (the readiness probe) fails for good once /fail was asked.
SERVER = """
import http.server, os
failed = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/fail":
            failed.append(True)
        code = 503 if self.path == "/healthz" and failed else 200
        body = os.environ["POD_NAME"].encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer((os.environ["POD_IP"], int(os.environ["PORT"])), Handler).serve_forever()
"""


def _deployment(port: int, replicas: int) -> dict[str, Any]:
    def field(path: str) -> dict[str, Any]:
        return {"fieldRef": {"fieldPath": path}}

    container = {
        "name": "server",
        "image": "modeldeploy/modeldeploy:0.1.0",
        "command": ["python", "-c", SERVER],
        "env": [
            {"name": "POD_IP", "valueFrom": field("status.podIP")},
            {"name": "POD_NAME", "valueFrom": field("metadata.name")},
            {"name": "PORT", "value": str(port)},
        ],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
    }
    return {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]},
            },
        },
    }


def _service(selector: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web"},
        "spec": {
            "selector": selector,
            "ports": [{"name": "web", "port": port, "targetPort": "http"}],
        },
    }


def _fetch(url: str) -> str:
    """One request on a new connection (urllib never reuses one)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def _outcome(ip: str, port: int) -> str:
    """What a new connection to ip:port meets: refused (nothing listens), reset, or an answer."""
    try:
        with socket.create_connection((ip, port), timeout=5) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return "answered" if connection.recv(1024) else "closed"
    except ConnectionRefusedError:
        return "refused"
    except (ConnectionResetError, BrokenPipeError):
        return "reset"


def _endpoints(cluster: Cluster) -> tuple[set[str], set[str]]:
    """(ready, not ready) addresses of the Service's Endpoints."""
    found = cluster.core.read_namespaced_endpoints("web", "default")
    ready, not_ready = set(), set()
    for subset in found.subsets or []:
        ready |= {address.ip for address in subset.addresses or []}
        not_ready |= {address.ip for address in subset.not_ready_addresses or []}
    return ready, not_ready


def _ready_pods(cluster: Cluster) -> dict[str, str] | None:
    """Pod name -> IP of the 3 ready pods, once there are 3 and the Endpoints list them."""
    pods = cluster.core.list_namespaced_pod("default", label_selector="app=web").items
    ready = {
        pod.metadata.name: pod.status.pod_ip
        for pod in pods
        if any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    }
    try:
        listed = _endpoints(cluster)[0]
    except ApiException:  # no Endpoints yet
        return None
    return ready if len(ready) == 3 and set(ready.values()) == listed else None


@pytest.mark.slow
def test_traffic_reaches_every_ready_pod_evenly_and_follows_readiness(cluster: Cluster) -> None:
    pod_port, service_port = random.randint(20000, 29999), random.randint(10000, 19999)
    cluster.apps.create_namespaced_deployment("default", _deployment(pod_port, 3))
    service = cluster.core.create_namespaced_service(
        "default", _service({"app": "web"}, service_port)
    )
    url = f"http://{service.spec.cluster_ip}:{service_port}/"
    pods = wait_for(lambda: _ready_pods(cluster), "3 ready pods listed in the Endpoints")

    seen: set[str] = set()
    eventually(lambda: seen.add(_fetch(url)) or seen == set(pods), "every pod behind the proxy")
    shares = collections.Counter(_fetch(url) for _ in range(120))
    assert set(shares) == set(pods)
    assert min(shares.values()) >= 20, shares  # 40 each expected; a fixed pick would fail

    # A pod that stops being ready gets no new connection (its own address still answers).
    failing = sorted(pods)[0]
    _fetch(f"http://{pods[failing]}:{pod_port}/fail")
    eventually(lambda: pods[failing] in _endpoints(cluster)[1], "the pod listed as not ready")
    eventually(lambda: failing not in {_fetch(url) for _ in range(10)}, "the proxy to drop the pod")
    answers = collections.Counter(_fetch(url) for _ in range(60))
    assert set(answers) == set(pods) - {failing}, answers

    # Half-close: the request is sent and the write side shut; the answer still comes back.
    with socket.create_connection((service.spec.cluster_ip, service_port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        raw.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := raw.recv(4096):
            received += chunk
    assert received.startswith(b"HTTP/1.0 200")
    assert received.split(b"\r\n\r\n", 1)[1].decode() in set(pods) - {failing}


@pytest.mark.slow
def test_no_ready_endpoint_resets_and_a_deleted_service_stops_listening(cluster: Cluster) -> None:
    # Below the kernel's ephemeral range (32768-60999), so no port-0 listener can hold it.
    port = random.randint(10000, 19999)
    service = cluster.core.create_namespaced_service("default", _service({"app": "none"}, port))
    ip = service.spec.cluster_ip
    # Listening (not refused) but with nowhere to send it: the connection is reset at once.
    eventually(lambda: _outcome(ip, port) == "reset", "a reset from the listener")
    cluster.core.delete_namespaced_service("web", "default")
    eventually(lambda: _outcome(ip, port) == "refused", "the listener to close")
