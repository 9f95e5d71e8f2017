"""Deployments on the sandbox: real processes per pod, readiness, rolling updates, scaling."""

from __future__ import annotations

import random
import urllib.request
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.cluster.conftest import Cluster, is_ready, pods_by_label, wait_for

# A tiny HTTP server bound to the pod's own address, answering with its pod name and VERSION.
SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (os.environ["POD_NAME"] + " " + os.environ["VERSION"]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        print("served", self.path, flush=True)
http.server.HTTPServer((os.environ["POD_IP"], int(os.environ["PORT"])), Handler).serve_forever()
"""


def deployment(port: int, version: str) -> dict[str, Any]:
    field = {"fieldRef": {"fieldPath": "status.podIP"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "terminationGracePeriodSeconds": 5,
                    "containers": [
                        {
                            "name": "server",
                            "image": "modeldeploy/modeldeploy:0.1.0",
                            "command": ["python", "-c", SERVER],
                            "env": [
                                {"name": "POD_IP", "valueFrom": field},
                                {
                                    "name": "POD_NAME",
                                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                },
                                {"name": "PORT", "value": str(port)},
                                {"name": "VERSION", "value": version},
                            ],
                            "ports": [{"name": "http", "containerPort": port}],
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 1,
                            },
                        }
                    ],
                },
            },
        },
    }


def answer(pod: Any, port: int) -> str:
    with urllib.request.urlopen(f"http://{pod.status.pod_ip}:{port}/", timeout=5) as response:
        return str(response.read().decode())


def rolled_out(cluster: Cluster, replicas: int) -> bool:
    found = cluster.apps.read_namespaced_deployment("web", "default")
    status = found.status
    return (
        (status.observed_generation or 0) >= found.metadata.generation
        and (status.updated_replicas or 0) == replicas
        and (status.replicas or 0) == replicas
        and (status.available_replicas or 0) == replicas
    )


def serving_pods(cluster: Cluster) -> list[Any]:
    return [p for p in pods_by_label(cluster, "app=web") if p.metadata.deletion_timestamp is None]


@pytest.mark.slow
def test_deployment_rolls_out_scales_and_works_with_kubectl(cluster: Cluster) -> None:
    port = random.randint(20000, 29999)
    cluster.apps.create_namespaced_deployment("default", deployment(port, "1"))
    wait_for(lambda: rolled_out(cluster, 3), "3 available replicas")

    pods = serving_pods(cluster)
    addresses = {pod.status.pod_ip for pod in pods}
    assert len(addresses) == 3
    assert all(address.startswith("127.") for address in addresses)
    assert {answer(pod, port) for pod in pods} == {f"{pod.metadata.name} 1" for pod in pods}

    kubectl = Kubectl(cluster.sandbox)
    assert "successfully rolled out" in kubectl.run(
        "rollout", "status", "deployment/web", "--timeout=60s"
    )
    wide = kubectl.run("get", "pods", "-o", "wide")
    for pod in pods:
        row = next(line for line in wide.splitlines() if line.startswith(pod.metadata.name))
        assert pod.status.pod_ip in row.split()
        assert "cpu-pool" in row.split()
    assert "served /healthz" in kubectl.run("logs", pods[0].metadata.name)

    # A template change rolls pod by pod; with maxUnavailable 1 at least 2 stay ready.
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        deployment(port, "2")["spec"]["template"]["spec"]["containers"][0]
                    ]
                }
            }
        }
    }
    cluster.apps.patch_namespaced_deployment("web", "default", patch)
    fewest_ready = 3

    def sample() -> bool:
        nonlocal fewest_ready
        fewest_ready = min(fewest_ready, sum(is_ready(p) for p in serving_pods(cluster)))
        return rolled_out(cluster, 3)

    wait_for(sample, "the rollout to version 2")
    assert fewest_ready >= 2
    new_pods = serving_pods(cluster)
    assert {answer(pod, port) for pod in new_pods} == {f"{p.metadata.name} 2" for p in new_pods}
    replicasets = cluster.apps.list_namespaced_replica_set("default").items
    assert sorted(rs.spec.replicas for rs in replicasets) == [0, 3]

    # Old ReplicaSets beyond revisionHistoryLimit are removed.
    cluster.apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"revisionHistoryLimit": 0}}
    )
    wait_for(
        lambda: len(cluster.apps.list_namespaced_replica_set("default").items) == 1 or None,
        "the old ReplicaSet to be deleted",
    )

    # The Service's Endpoints list the ready pods' own addresses and the named target port.
    service = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
        },
    }
    cluster.core.create_namespaced_service("default", service)

    def endpoint_addresses() -> set[str] | None:
        try:
            found = cluster.core.read_namespaced_endpoints("web", "default")
        except ApiException:
            return None
        subsets = found.subsets or []
        if len(subsets) != 1 or subsets[0].ports[0].port != port:
            return None
        return {address.ip for address in subsets[0].addresses or []}

    expected = {pod.status.pod_ip for pod in new_pods}
    wait_for(lambda: endpoint_addresses() == expected or None, "Endpoints of the 3 pods")

    cluster.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    wait_for(lambda: not pods_by_label(cluster, "app=web"), "all pods gone after scale to 0")
    cluster.apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    wait_for(lambda: rolled_out(cluster, 3), "3 replicas again")
    assert all(answer(pod, port).endswith(" 2") for pod in serving_pods(cluster))


@pytest.mark.slow
def test_a_stuck_rollout_reports_its_progress_deadline(cluster: Cluster) -> None:
    stuck = deployment(random.randint(20000, 29999), "1")
    stuck["metadata"]["name"] = "stuck"
    stuck["spec"]["progressDeadlineSeconds"] = 2
    stuck["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/web:1"
    cluster.apps.create_namespaced_deployment("default", stuck)

    def progressing() -> Any:
        found = cluster.apps.read_namespaced_deployment("stuck", "default")
        conditions = found.status.conditions or []
        return next((c for c in conditions if c.type == "Progressing"), None)

    timed_out = wait_for(
        lambda: (c := progressing()) and c.reason == "ProgressDeadlineExceeded" and c, "deadline"
    )
    assert timed_out.status == "False"
    assert timed_out.message.startswith('ReplicaSet "stuck-')
    assert "timed out progressing" in timed_out.message
    result = Kubectl(cluster.sandbox).run("rollout", "status", "deployment/stuck", check=False)
    assert 'deployment "stuck" exceeded its progress deadline' in result
