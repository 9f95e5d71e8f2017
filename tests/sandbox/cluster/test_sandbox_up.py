"""`modeldeploy sandbox up` runs every component; stopping or killing it leaves no process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from tests.sandbox.cluster.conftest import processes_with, wait_for

MODELDEPLOY = Path(sys.executable).parent / "modeldeploy"


def start_sandbox(directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(MODELDEPLOY), "sandbox", "up", "--dir", str(directory), "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def node_count(directory: Path) -> int | None:
    if not (directory / "kubeconfig").exists():
        return None
    try:
        api = k8s_config.new_client_from_config(config_file=str(directory / "kubeconfig"))
        with api:
            return len(k8s.CoreV1Api(api).list_node(_request_timeout=2).items)
    except Exception:  # not answering yet (a kubeconfig of the previous run, or starting)
        return None


@pytest.mark.slow
def test_stopping_or_killing_sandbox_up_ends_every_pod_process(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    marker = f"left-behind-{uuid.uuid4().hex[:8]}"
    sandbox = start_sandbox(directory)
    try:
        wait_for(lambda: node_count(directory) == 2 or None, "sandbox up with 2 nodes")
        api = k8s_config.new_client_from_config(config_file=str(directory / "kubeconfig"))
        with api:
            script = f"python -c 'import time; time.sleep(600)' {marker} & sleep 600; : {marker}"
            container = {
                "name": "c",
                "image": "modeldeploy/modeldeploy",
                "command": ["sh", "-c", script],
            }
            k8s.CoreV1Api(api).create_namespaced_pod(
                "default", {"metadata": {"name": "lingering"}, "spec": {"containers": [container]}}
            )
        wait_for(lambda: len(processes_with(marker)) == 2 or None, "the pod's two processes")

        sandbox.send_signal(signal.SIGINT)  # Ctrl-C
        assert sandbox.wait(timeout=60) == 0
        assert processes_with(marker) == []
        assert processes_with(str(directory)) == []  # no launcher or init process either

        # The pod is still in the API: a new `sandbox up` runs it again; SIGKILL it this time.
        os.remove(directory / "kubeconfig")
        sandbox = start_sandbox(directory)
        wait_for(lambda: len(processes_with(marker)) == 2 or None, "the pod running again")
        sandbox.kill()
        sandbox.wait(timeout=30)
        wait_for(lambda: processes_with(marker) == [] or None, "no process after SIGKILL", 10)
        wait_for(lambda: processes_with(str(directory)) == [] or None, "no launcher left", 10)
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
            sandbox.wait(timeout=30)
