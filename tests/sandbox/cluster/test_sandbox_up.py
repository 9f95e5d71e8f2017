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


def run_marked_pod(directory: Path, marker: str) -> None:
    """Once the sandbox answers, a pod whose shell and child both carry `marker`, running."""
    wait_for(lambda: node_count(directory) == 2 or None, "the sandbox with 2 nodes")
    api = k8s_config.new_client_from_config(config_file=str(directory / "kubeconfig"))
    with api:
        script = f"python -c 'import time; time.sleep(600)' {marker} & sleep 600; : {marker}"
        container = {
            "name": "c",
            "image": "modeldeploy/modeldeploy",
            "command": ["sh", "-c", script],
        }
        k8s.CoreV1Api(api).create_namespaced_pod(
            "default", {"metadata": {"name": "marked"}, "spec": {"containers": [container]}}
        )
    wait_for(lambda: len(processes_with(marker)) == 2 or None, "the pod's two processes")


@pytest.mark.slow
def test_stopping_or_killing_sandbox_up_ends_every_pod_process(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    marker = f"left-behind-{uuid.uuid4().hex[:8]}"
    sandbox = start_sandbox(directory)
    try:
        run_marked_pod(directory, marker)

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


# The sandbox in one process with pods run without namespaces (as for a non-root user).
UNISOLATED = """
import asyncio, sys
from pathlib import Path
from modeldeploy.sandbox.apiserver.server import ApiServer
from modeldeploy.sandbox.node.components import run_components

async def main() -> None:
    directory = Path(sys.argv[1])
    server = ApiServer(directory, port=0)
    await server.start()
    await run_components(server.kubeconfig, directory, asyncio.Event(), isolate=False)

asyncio.run(main())
"""


@pytest.mark.slow
def test_without_namespaces_a_killed_sandbox_still_leaves_no_process(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    directory.mkdir()
    marker = f"unisolated-{uuid.uuid4().hex[:8]}"
    sandbox = subprocess.Popen([sys.executable, "-c", UNISOLATED, str(directory)])
    try:
        run_marked_pod(directory, marker)
        sandbox.kill()
        sandbox.wait(timeout=30)
        wait_for(lambda: processes_with(marker) == [] or None, "no process after SIGKILL", 10)
    finally:
        if sandbox.poll() is None:
            sandbox.kill()
            sandbox.wait(timeout=30)
