"""`modeldeploy sandbox up|status|down` as a user runs them."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.sandbox.conftest import eventually

MODELDEPLOY = [sys.executable, "-m", "modeldeploy", "sandbox"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODELDEPLOY, *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.slow
def test_up_status_down(tmp_path: Path) -> None:
    directory = tmp_path / "sandbox"
    server = subprocess.Popen(
        [*MODELDEPLOY, "up", "--dir", str(directory), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # Generous: on a loaded machine starting Python and the sandbox's parts takes a while.
        eventually(
            lambda: _run("status", "--dir", str(directory)).returncode == 0,
            "the sandbox to answer",
            seconds=120,
        )
        status = _run("status", "--dir", str(directory))
        assert "sandbox running" in status.stdout
        assert f"export KUBECONFIG={directory.resolve() / 'kubeconfig'}" in status.stdout
        again = _run("up", "--dir", str(directory), "--port", "0")
        assert again.returncode == 1
        assert "already running" in again.stderr
        down = _run("down", "--dir", str(directory))
        assert down.returncode == 0
        out, _ = server.communicate(timeout=120)
        assert server.returncode == 0
        assert f"export KUBECONFIG={directory.resolve() / 'kubeconfig'}" in out
        assert _run("status", "--dir", str(directory)).returncode == 1
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_up_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("up", "--dir", str(tmp_path / "sandbox"), "--port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
