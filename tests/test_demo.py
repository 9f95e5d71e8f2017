"""`make demo` as a newcomer runs it: `modeldeploy demo` brings up the sandbox and the operator,
compresses version 1 on the GPU pool and serves it, rolls version 2 out through the canary
steps, shows a refused resource, and leaves no process behind."""

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


def test_demo_rolls_out_two_versions_and_stops_everything(tmp_path: Path) -> None:
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
    lines = out.splitlines()
    assert "gpu-pool" in out
    assert "cpu-pool" in out
    assert "customresourcedefinition.apiextensions.k8s.io/modeldeployments.modeldeploy.dev" in out
    assert "Accepted=True (SpecValid)" in out
    # The phases as they pass: version 1 compressed, then served; version 2 through its steps.
    phases = [line.split()[1] for line in lines if _is_progress(line)]
    assert phases.index("Compressing") < phases.index("RollingOut") < phases.index("Ready")
    assert "Compressed=True (ArtifactReady)" in out
    # The Job's pod ran on the GPU pool (`kubectl get pods -o wide`).
    assert any(line.startswith("digits-compress-") and "gpu-pool" in line for line in lines)
    for weight in ("25%", "50%"):
        assert f"canary 2 at {weight}" in out
    assert any(_is_progress(line) and "Ready" in line and "stable 2" in line for line in lines)
    # Both versions answered through the Service while the canary held, and none failed.
    assert any("by version 1, " in line and " by version 2" in line for line in lines)
    assert not [line for line in lines if "meanwhile" in line and "failed" in line]
    versions = [line for line in lines if line.startswith('"model_version"')]
    assert versions == ['"model_version": "1"', '"model_version": "2"']
    # `kubectl get modeldeployments` prints the resource with its printer columns.
    assert any(line.split()[:3] == ["digits", "2", "2"] for line in lines)
    assert "version 2: Promoted (all canary steps passed)" in out
    assert "spec.rollout.steps" in out
    assert "strictly increasing" in out
    assert not (tmp_path / "sandbox.pid").exists()


def _is_progress(line: str) -> bool:
    """A line the demo prints on a status change: `   4.8s  Ready  stable 1  ...`."""
    fields = line.split()
    return len(fields) > 2 and fields[0].endswith("s") and fields[0][:-1].replace(".", "").isdigit()


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
