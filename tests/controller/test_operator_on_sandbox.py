"""`modeldeploy operator` as users run it: a real process, real kopf, a real API server (the
sandbox), resources applied with a real kubectl."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from tests.controller.conftest import (
    OperatorProcess,
    run_kubectl,
    start_operator,
    stop_operator,
)
from tests.sandbox.conftest import SandboxApi, eventually

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 60.0

pytestmark = pytest.mark.slow


class Cluster:
    def __init__(self, api: SandboxApi) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(config.new_client_from_config(str(api.kubeconfig)))

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.api.kubeconfig, *args, check=check, input=input)

    def resource(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            "modeldeploy.dev", "v1alpha1", "ml", "modeldeployments", name
        )
        return found


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    api = SandboxApi(tmp_path / "sandbox")
    api.start()
    try:
        cluster = Cluster(api)
        cluster.kubectl("apply", "-f", str(REPO / "crds"))
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}}
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
        yield cluster
    finally:
        api.stop()


@pytest.fixture
def operator(cluster: Cluster, tmp_path: Path) -> Iterator[OperatorProcess]:
    running = start_operator(cluster.api.kubeconfig, tmp_path / "operator.log")
    try:
        yield running
    finally:
        stop_operator(running)


def _accepted(resource: dict[str, Any]) -> dict[str, Any] | None:
    conditions = (resource.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Accepted"), None)


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_operator_accepts_a_resource_and_follows_its_generations(
    cluster: Cluster, operator: OperatorProcess
) -> None:
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "digits-quantized-canary.yaml"))
    eventually(lambda: _accepted(cluster.resource("digits")), "the Accepted condition", DEADLINE)
    resource = cluster.resource("digits")
    assert _accepted(resource) == {**_accepted(resource), "status": "True", "reason": "SpecValid"}
    assert resource["status"]["observedGeneration"] == resource["metadata"]["generation"]

    cluster.kubectl(
        "patch",
        "mdep",
        "digits",
        "-n",
        "ml",
        "--type=merge",
        "-p",
        '{"spec": {"serving": {"replicas": 6}}}',
    )
    eventually(
        lambda: cluster.resource("digits")["status"]["observedGeneration"] == 2,
        "observedGeneration 2",
        DEADLINE,
    )

    # GitOps sees no drift: the operator wrote status only, nothing in metadata.
    metadata = cluster.resource("digits")["metadata"]
    assert not [k for k in metadata.get("annotations", {}) if "kopf" in k]
    assert not metadata.get("finalizers")

    status, text = _get(f"http://127.0.0.1:{operator.metrics_port}/metrics")
    assert status == 200
    assert 'modeldeploy_operator_reconciles_total{result="ok"}' in text
    assert 'modeldeploy_operator_watch_events_total{kind="ModelDeployment"' in text
    assert _get(f"http://127.0.0.1:{operator.health_port}/healthz")[0] == 200

    printed = cluster.kubectl("get", "mdep", "-n", "ml").stdout
    assert printed.split()[:6] == ["NAME", "VERSION", "STABLE", "CANARY", "WEIGHT", "PHASE"]


def test_api_server_refuses_an_invalid_resource_naming_the_field(cluster: Cluster) -> None:
    resource = yaml.safe_load((REPO / "examples" / "digits-served-as-is.yaml").read_text())
    resource["spec"]["rollout"] = {"steps": [{"weight": 50}, {"weight": 20}]}
    result = cluster.kubectl("apply", "-f", "-", check=False, input=yaml.safe_dump(resource))
    assert result.returncode != 0
    assert "spec.rollout.steps" in result.stderr
    assert "strictly increasing" in result.stderr


def test_api_server_refuses_a_name_that_cannot_name_the_service(cluster: Cluster) -> None:
    resource = yaml.safe_load((REPO / "examples" / "digits-served-as-is.yaml").read_text())
    resource["metadata"]["name"] = "m" * 64
    result = cluster.kubectl("apply", "-f", "-", check=False, input=yaml.safe_dump(resource))
    assert result.returncode != 0
    assert "metadata.name must have at most 63 characters" in result.stderr
    resource["metadata"]["name"] = "m" * 63
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(resource))
