"""`modeldeploy serve` as a process: configured by env like a serving pod, drained by SIGTERM."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.serve.conftest import FEATURES, linear_model
from tests.serve.test_dataplane import ROW, metric, wait_for

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    def __init__(self, env: dict[str, str], args: tuple[str, ...] = ()) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "POD_IP": "127.0.0.1", "MODELDEPLOY_PORT": str(self.port), **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "modeldeploy", "serve", *args],
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.process.poll() is None, self.output()
            try:
                return requests.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_for(ready, timeout=30)

    def output(self) -> str:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.communicate(timeout=10)[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=10)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return linear_model(tmp_path / "model.onnx")


@pytest.fixture
def processes() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for process in started:
        process.stop()


def test_sigterm_under_load_answers_every_accepted_request_and_exits_0(
    model: Path, processes: list[ServeProcess]
) -> None:
    server = ServeProcess(
        {
            "MODELDEPLOY_MODEL_PATH": str(model),
            "MODELDEPLOY_MODEL_NAME": "digits",
            "MODELDEPLOY_MODEL_VERSION": "7",
            "MODELDEPLOY_FAULT_LATENCY_MS": "1500",
            "MODELDEPLOY_QUIET_PERIOD_S": "1",
        }
    )
    processes.append(server)
    server.wait_ready()
    answers: list[requests.Response] = []

    def send() -> None:
        answers.append(requests.post(f"{server.url}/v2/models/digits/infer", json=ROW, timeout=30))

    senders = [threading.Thread(target=send) for _ in range(6)]
    for sender in senders:
        sender.start()
    wait_for(lambda: metric(server.url, "modeldeploy_requests_in_flight") == 6)
    server.process.send_signal(signal.SIGTERM)
    wait_for(lambda: requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 503)
    # Not ready, still answering: the Service may not have stopped sending yet.
    late = requests.post(f"{server.url}/v2/models/digits/infer", json=ROW, timeout=10)
    assert late.status_code == 200
    assert late.headers["Connection"] == "close"
    for sender in senders:
        sender.join()
    assert [answer.status_code for answer in answers] == [200] * 6
    assert all(answer.json()["outputs"][0]["shape"] == [1, 10] for answer in answers)
    assert server.process.wait(timeout=30) == 0
    log = server.output()
    assert "FAULT INJECTION IS ON" in log
    assert "not ready: answering until no request has come for 1.0s" in log
    assert "drained: all" in log


def test_serves_an_artifact_from_the_store_by_digest(
    model: Path, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    store = tmp_path / "store"
    (store / digest).mkdir(parents=True)
    shutil.copy(model, store / digest / "model.onnx")
    server = ServeProcess(
        {"MODELDEPLOY_MODEL_STORE": str(store), "MODELDEPLOY_MODEL_DIGEST": f"sha256:{digest}"},
        args=("--model-name", "digits"),
    )
    processes.append(server)
    server.wait_ready()
    body = {"instances": [[0.0] * FEATURES]}
    response = requests.post(f"{server.url}/v1/models/digits:predict", json=body, timeout=10)
    assert response.status_code == 200
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0


def test_a_tampered_artifact_is_refused(
    model: Path, tmp_path: Path, processes: list[ServeProcess]
) -> None:
    server = ServeProcess(
        {"MODELDEPLOY_MODEL_PATH": str(model), "MODELDEPLOY_MODEL_SHA256": "0" * 64}
    )
    processes.append(server)
    assert server.process.wait(timeout=30) == 1
    assert f"sha256 is {hashlib.sha256(model.read_bytes()).hexdigest()}" in server.output()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODELDEPLOY_MAX_BATCH_SIZE": "0"}, "MODELDEPLOY_MAX_BATCH_SIZE='0': must be at least 1"),
        ({"MODELDEPLOY_PORT": "http"}, "MODELDEPLOY_PORT='http'"),
        ({"MODELDEPLOY_FAULT_ERROR_RATE": "2"}, "MODELDEPLOY_FAULT_ERROR_RATE=2.0: must be"),
        ({"MODELDEPLOY_MODEL_PATH": ""}, "set exactly one of --model-path"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(
    model: Path, env: dict[str, str], message: str, processes: list[ServeProcess]
) -> None:
    server = ServeProcess({"MODELDEPLOY_MODEL_PATH": str(model), **env})
    processes.append(server)
    assert server.process.wait(timeout=30) == 2
    assert message in server.output()


def test_a_missing_model_file_exits_1(tmp_path: Path, processes: list[ServeProcess]) -> None:
    server = ServeProcess({"MODELDEPLOY_MODEL_PATH": str(tmp_path / "absent.onnx")})
    processes.append(server)
    assert server.process.wait(timeout=30) == 1
    assert "no such model file" in server.output()
