"""`make demo` as a newcomer runs it: `modeldeploy demo` brings up the sandbox, Prometheus and
the operator, compresses version 1 on the GPU pool and serves it, sends live traffic through
the Service, promotes version 2 through its canary steps, rolls the faulty version 3 back on
Prometheus's figures, prints a summary and writes a plot, and leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.sandbox.apiserver.kubectl import KUBECTL
from tests.sandbox.conftest import eventually

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow
CTRL_C_LINE = "Ctrl-C stops the operator, Prometheus and the cluster."
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

Process = tuple[int, str, str]  # pid, start time (clock ticks since boot), command name


def _stat(pid: int) -> tuple[int, str, str] | None:
    """(parent pid, start time, command name) from /proc/<pid>/stat, None when it is gone."""
    try:
        head, rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
    except (OSError, ValueError):
        return None
    fields = rest.split()
    return int(fields[1]), fields[19], head.split("(", 1)[1]


def _children_of(pid: int) -> list[Process]:
    """Every process whose parent chain reaches `pid` (from /proc, as `ps` would)."""
    stats = {int(e.name): _stat(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}
    parents = {child: stat[0] for child, stat in stats.items() if stat is not None}
    found: list[Process] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        for child in children:
            stat = stats[child]
            if stat is not None:
                found.append((child, stat[1], stat[2]))
        frontier += children
    return found


def _alive(process: Process) -> bool:
    stat = _stat(process[0])
    return stat is not None and stat[1] == process[1]  # the same process, not a reused pid


class Descendants:
    """The processes below `pid`, sampled every 200 ms while it runs (the demo's processes
    outlive their parent only if the demo fails to stop them: they are found here first)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: set[Process] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.seen.update(_children_of(self.pid))

    def stop(self) -> set[Process]:
        self._stop.set()
        self._thread.join(10)
        return self.seen


def _env() -> dict[str, str]:
    path = f"{KUBECTL.parent}{os.pathsep}{Path(sys.executable).parent}"
    return {**os.environ, "PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}


def _is_progress(line: str) -> bool:
    """A line the demo prints on a status change: `   4.8s  Ready  stable 1  ...`."""
    fields = line.split()
    return len(fields) > 2 and fields[0].endswith("s") and fields[0][:-1].replace(".", "").isdigit()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, data[:16]
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_demo_promotes_version_2_rolls_back_version_3_and_stops_everything(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "modeldeploy", "demo", "--dir", str(tmp_path), "--exit"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    descendants = Descendants(process.pid)
    try:
        out, err = process.communicate(timeout=300)
    finally:
        process.kill()
        started = descendants.stop()
    log = (tmp_path / "demo.log").read_text() if (tmp_path / "demo.log").exists() else ""
    assert process.returncode == 0, out + err + log
    lines = out.splitlines()
    assert "gpu-pool" in out
    assert "cpu-pool" in out
    assert "customresourcedefinition.apiextensions.k8s.io/modeldeployments.modeldeploy.dev" in out
    assert "Accepted=True (SpecValid)" in out
    # A real Prometheus scraped the pods, and the resources are analysed through it.
    assert re.search(r"Prometheus \S+ on http://127\.0\.0\.1:\d+", out), out
    assert "provider: prometheus" in out
    assert "address: http://127.0.0.1:" in out
    # The phases as they pass: version 1 compressed, then served; version 2 through its steps.
    phases = [line.split()[1] for line in lines if _is_progress(line)]
    assert phases.index("Compressing") < phases.index("RollingOut") < phases.index("Ready")
    assert "Compressed=True (ArtifactReady)" in out
    # The Job's pod ran on the GPU pool (`kubectl get pods -o wide`).
    assert any(line.startswith("digits-compress-") and "gpu-pool" in line for line in lines)
    for weight in ("25%", "50%"):
        assert f"canary 2 at {weight}" in out
    assert any(_is_progress(line) and "Ready" in line and "stable 2" in line for line in lines)
    assert "version 2: Promoted (all canary steps passed)" in out
    # Live lines: both versions answered while the canary held, and none failed before v3.
    faulty_at = out.index("version 3, faulty")
    before = [line for line in out[:faulty_at].splitlines() if line.startswith("   live")]
    assert any(" v1 " in line and " v2 " in line for line in before), before
    assert all(line.endswith(" 0 failed") for line in before), before
    # Version 3 fails half its answers, the live line shows it, and it is rolled back.
    after = [line for line in out[faulty_at:].splitlines() if line.startswith("   live")]
    assert any(re.search(r" v3 +\d+% err +[1-9]", line) for line in after), after
    assert any(_is_progress(line) and line.split()[1] == "RolledBack" for line in lines)
    assert re.search(r"Degraded=True \(AnalysisFailed\): error-rate [\d.]+ > 0\.05", out), out
    assert re.search(r"version 3: RolledBack \(error-rate [\d.]+ > 0\.05", out), out
    # `kubectl get modeldeployments` prints the resource with its printer columns.
    assert any(line.split()[:3] == ["digits", "3", "2"] and "RolledBack" in line for line in lines)
    versions = [line for line in lines if line.startswith('"model_version"')]
    assert versions == ['"model_version": "1"', '"model_version": "2"']
    assert "spec.rollout.steps" in out
    assert "strictly increasing" in out
    # The summary table: one row per version, with what Prometheus counted.
    rows = {line.split()[0]: line.split() for line in lines if re.match(r"[123] +[A-Z]", line)}
    assert rows["1"][1] == "Promoted"
    assert rows["2"][1] == "Promoted"
    assert rows["3"][1] == "RolledBack"
    for version in "123":
        assert int(rows[version][2]) > 0, rows
    assert float(rows["2"][3].rstrip("%")) == 0.0
    assert float(rows["3"][3].rstrip("%")) > 10.0
    # The plot: a PNG in the demo's directory, its path printed.
    plotted = re.search(r"per version over time: (\S+\.png)", out)
    assert plotted, out
    assert Path(plotted[1]).parent == tmp_path.resolve()
    width, height = _png_size(Path(plotted[1]))
    assert width >= 600
    assert height >= 400
    # Nothing the demo started is left: the sandbox, its pods, Prometheus, the operator.
    assert {"prometheus"} <= {name for _, _, name in started}, started
    eventually(
        lambda: not [p for p in started if _alive(p)],
        f"every process the demo started to exit: {[p for p in started if _alive(p)]}",
    )
    assert not (tmp_path / "sandbox.pid").exists()


def test_ctrl_c_stops_the_operator_prometheus_and_the_cluster(tmp_path: Path) -> None:
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
        names = {name for _, _, name in started}
        assert "prometheus" in names, started  # with the sandbox (its pods) and the operator
        assert len(started) >= 3
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0
        eventually(
            lambda: not [p for p in started if _alive(p)],
            "every process the demo started to exit",
        )
    finally:
        process.kill()
        process.wait()
