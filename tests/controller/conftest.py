"""A whole sandbox cluster (API server, controllers, scheduler, node agent, Service proxy)
with the CRD installed, the digits model on a claim, and the operator as a real process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kubernetes import client

from modeldeploy.demo import COMPRESSION, claim_manifest, infer
from modeldeploy.sandbox.node.config import default_nodes
from tests.fixtures.models import DigitsModel, default_data_dir, digits_mlp
from tests.sandbox.cluster.conftest import Cluster
from tests.sandbox.conftest import SandboxApi

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "ml"
GROUP, VERSION, PLURAL = "modeldeploy.dev", "v1alpha1", "modeldeployments"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kubectl_path() -> str:
    local = REPO / ".venv" / "tools" / "bin" / "kubectl"
    found = str(local) if local.exists() else shutil.which("kubectl")
    assert found, "kubectl is installed by `make tools`"
    return found


def run_kubectl(
    kubeconfig: Path, *args: str, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real kubectl against the sandbox."""
    return subprocess.run(
        [kubectl_path(), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=check,
        input=input,
    )


@dataclass
class Env:
    """The running cluster and the operator."""

    api: SandboxApi
    cluster: Cluster
    digits: DigitsModel
    directory: Path

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.cluster.api)

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.api.kubeconfig, *args, check=check, input=input)

    def apply(self, resource: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump(resource))

    def resource(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, name
        )
        return found

    def status(self, name: str) -> dict[str, Any]:
        return self.resource(name).get("status") or {}

    def deployments(self, name: str) -> dict[str, Any]:
        items = (
            client.AppsV1Api(self.cluster.api)
            .list_namespaced_deployment(NAMESPACE, label_selector=f"modeldeploy.dev/name={name}")
            .items
        )
        return {d.metadata.name: d for d in items}

    def jobs(self, name: str) -> list[Any]:
        return list(
            client.BatchV1Api(self.cluster.api)
            .list_namespaced_job(NAMESPACE, label_selector=f"modeldeploy.dev/name={name}")
            .items
        )

    def serving_pods(self, name: str) -> list[Any]:
        return list(
            self.cluster.core.list_namespaced_pod(
                NAMESPACE,
                label_selector=f"modeldeploy.dev/name={name},app.kubernetes.io/component=server",
            ).items
        )

    def service_url(self, name: str) -> str:
        service = self.cluster.core.read_namespaced_service(name, NAMESPACE)
        return f"http://{service.spec.cluster_ip}:{service.spec.ports[0].port}"

    def infer(self, name: str, rows: np.ndarray) -> tuple[str, np.ndarray]:
        """One request on a new connection through the Service: (version, logits)."""
        return infer(self.service_url(name), name, rows)


@pytest.fixture(scope="session")
def digits() -> DigitsModel:
    return digits_mlp(default_data_dir())


@pytest.fixture
def gpus() -> int:
    """GPUs of the sandbox's gpu-pool node; a test overrides it with parametrize."""
    return 2


@pytest.fixture
def env(tmp_path: Path, digits: DigitsModel, gpus: int) -> Iterator[Env]:
    api = SandboxApi(tmp_path / "sandbox")
    api.start()
    cluster = Cluster(api, nodes=tuple(default_nodes(gpus=gpus)))
    try:
        cluster.start()
        running = Env(api, cluster, digits, tmp_path / "sandbox")
        running.kubectl("apply", "-f", str(REPO / "crds"))
        running.kubectl("create", "namespace", NAMESPACE)
        for claim in ("models", "data"):
            running.apply(claim_manifest(claim))
        models = running.directory / "pvc" / NAMESPACE / "models" / "digits"
        data = running.directory / "pvc" / NAMESPACE / "data" / "digits"
        for version in ("1", "2", "3"):
            (models / version).mkdir(parents=True)
            shutil.copy(digits.model, models / version / "model.onnx")
        data.mkdir(parents=True)
        shutil.copy(digits.val, data / "val.npz")
        yield running
    finally:
        cluster.stop()
        api.stop()


@dataclass
class OperatorProcess:
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int
    health_port: int

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())


def start_operator(kubeconfig: Path, log: Path, *flags: str) -> OperatorProcess:
    """`modeldeploy operator` as a process against the cluster of `kubeconfig`."""
    metrics_port, health_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modeldeploy",
            "operator",
            "--standalone",
            "--all-namespaces",
            f"--metrics-port={metrics_port}",
            f"--liveness=http://127.0.0.1:{health_port}/healthz",
            *flags,
        ],
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    return OperatorProcess(process, log, metrics_port, health_port)


def stop_operator(operator: OperatorProcess, sig: int = signal.SIGTERM) -> None:
    operator.process.send_signal(sig)
    try:
        code = operator.process.wait(timeout=30)
    finally:
        operator.process.kill()
    if sig == signal.SIGTERM:
        assert code == 0, operator.log.read_text()[-4000:]


@pytest.fixture
def operator(env: Env, tmp_path: Path) -> Iterator[OperatorProcess]:
    running = start_operator(env.api.kubeconfig, tmp_path / "operator.log")
    try:
        yield running
    finally:
        stop_operator(running)


def model_deployment(
    name: str,
    version: str,
    *,
    compression: dict[str, Any] | None = None,
    replicas: int = 2,
    steps: list[dict[str, Any]] | None = None,
    rollout: dict[str, Any] | None = None,
    serving: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"version": version, "uri": f"pvc://models/digits/{version}/model.onnx"},
        "serving": {"replicas": replicas, **(serving or {})},
        "rollout": {
            "steps": steps if steps is not None else [{"weight": 25, "pause": "2s"}],
            "progressDeadline": "60s",
            # No live analysis unless a test asks for it: these tests send no traffic.
            "analysis": {"metrics": []},
            **(rollout or {}),
        },
    }
    if compression is not None:
        spec["compression"] = compression
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": spec,
    }


# Version 1 of the demo is compressed like this, on the GPU pool.
QUANTIZE_ON_GPU: dict[str, Any] = COMPRESSION
