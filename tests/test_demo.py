"""`make demo` as a newcomer runs it: `modeldeploy demo` brings up the sandbox and the operator,
applies an example that gets accepted, shows a refused one, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sandbox.apiserver.kubectl import KUBECTL
from tests.sandbox.conftest import eventually

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow
CTRL_C_LINE = "Ctrl-C stops the operator and the cluster."


def _children_of(pid: int) -> list[int]:
    """Every process whose parent chain reaches `pid` (from /proc, as `ps` would)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _env() -> dict[str, str]:
    path = f"{KUBECTL.parent}{os.pathsep}{Path(sys.executable).parent}"
    return {**os.environ, "PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}


def test_demo_runs_the_example_and_stops_everything(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "modeldeploy", "demo", "--dir", str(tmp_path), "--exit"],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        cwd=REPO,
    )
    log = (tmp_path / "demo.log").read_text() if (tmp_path / "demo.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log
    out = result.stdout
    assert "gpu-pool" in out
    assert "cpu-pool" in out
    assert "customresourcedefinition.apiextensions.k8s.io/modeldeployments.modeldeploy.dev" in out
    # `kubectl get modeldeployments` prints the resource with its printer columns.
    assert any(line.split()[:2] == ["digits", "2"] for line in out.splitlines())
    assert "Accepted=True (SpecValid)" in out
    assert "spec.rollout.steps" in out
    assert "strictly increasing" in out
    assert not (tmp_path / "sandbox.pid").exists()


def test_ctrl_c_stops_the_operator_and_the_cluster(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "modeldeploy", "demo", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith(CTRL_C_LINE):
                break
        assert "".join(lines).endswith(f"{CTRL_C_LINE}\n"), "".join(lines)
        started = _children_of(process.pid)
        assert len(started) >= 2  # the sandbox (with its node's pods) and the operator
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
        eventually(
            lambda: not [pid for pid in started if Path(f"/proc/{pid}").exists()],
            "every process the demo started to exit",
        )
    finally:
        process.kill()
        process.wait()
