"""Serving benchmark: `modeldeploy serve` against KServe, MLServer and raw ONNX Runtime.

Side by side in one run, on the same ONNX models (the digits MLP: HTTP-bound; MiniLM-L6 at
sequence 32: compute-bound), ONNX Runtime pinned to 1 thread everywhere:
(a) raw ONNX Runtime in-process rows/s at batch 1, 8, 32 and 64 (the limit);
(b) `modeldeploy serve` (dynamic batching: max batch 32, max delay 5 ms);
(c) KServe's Python `ModelServer` (PyPI `kserve`), a custom `kserve.Model` with onnxruntime;
(d) MLServer (PyPI `mlserver`), a custom `MLModel` runtime with onnxruntime.
The peers get their own venvs under data/peers/ (their pins clash with ours), created here
with pip on first use. KServe binds 0.0.0.0 with no option, so it runs in its own network
namespace (`unshare -n`, loopback up) and its load generator joins it (`nsenter`);
everything else binds 127.0.0.1. Per-request logging is off everywhere.

Load: `wrk` (Debian package `wrk`; `apt-get install -y wrk`), 1 thread, v2 JSON bodies of
one row, at concurrency 1, 8 and 32, 10 s per run, 3 rounds with the systems in rotating
order so that load from other processes on this shared machine hits all alike; medians are
reported. Writes benchmarks/results/serve.json and serve.png.

    python -m benchmarks.serve [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from benchmarks.machine import Machine
from tests.fixtures.models import default_data_dir, digits_mlp, minilm

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PEER_SOURCES = REPO / "benchmarks" / "serve_peers"
PEER_PACKAGES = {
    "kserve": ["kserve==0.21.0", "onnxruntime==1.32.0"],
    # uvloop 0.22+ breaks MLServer 1.7.1's inference worker processes (get_event_loop).
    "mlserver": ["mlserver==1.7.1", "onnxruntime==1.32.0", "uvloop<0.22"],
}
CONCURRENCIES = (1, 8, 32)
RAW_BATCHES = (1, 8, 32, 64)
SYSTEMS = ("modeldeploy", "kserve", "mlserver")
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass
class Workload:
    name: str
    model: Path
    rows: dict[str, np.ndarray]  # a few hundred example rows per input

    def feeds(self, batch: int) -> dict[str, np.ndarray]:
        return {name: values[:batch] for name, values in self.rows.items()}

    def v2_body(self) -> bytes:
        datatypes = {np.dtype(np.float32): "FP32", np.dtype(np.int64): "INT64"}
        inputs = [
            {
                "name": name,
                "shape": [1, *values.shape[1:]],
                "datatype": datatypes[values.dtype],
                "data": values[0].ravel().tolist(),
            }
            for name, values in self.rows.items()
        ]
        return json.dumps({"inputs": inputs}).encode()


def workloads(data_dir: Path) -> list[Workload]:
    digits = digits_mlp(data_dir)
    with np.load(digits.val) as val:
        digit_rows = {"input": val["inputs"][:256].astype(np.float32)}
    text = minilm(data_dir, seq_len=32)
    with np.load(text.val) as val:
        token_rows = {
            name: val[name][:256].astype(np.int64) for name in ("input_ids", "attention_mask")
        }
    return [
        Workload("digits", digits.model, digit_rows),
        Workload("minilm", text.model, token_rows),
    ]


# Raw ONNX Runtime, in process.


def raw_rows_per_second(workload: Workload, batch: int, seconds: float) -> float:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(workload.model), options, providers=["CPUExecutionProvider"])
    feeds = workload.feeds(batch)
    session.run(None, feeds)
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or runs < 3:
        session.run(None, feeds)
        runs += 1
    return runs * batch / elapsed


# Servers.


@dataclass
class Server:
    system: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    in_netns: bool = False
    prefix: list[str] = field(default_factory=list)  # runs a command where the server is

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, path: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.system} exited: {self.log.read_text()[-2000:]}")
            probe = subprocess.run(
                [*self.prefix, "curl", "-sf", "-o", "/dev/null", self.url(path)], check=False
            )
            if probe.returncode == 0:
                return
            time.sleep(0.5)  # polling a starting server until the deadline
        raise RuntimeError(
            f"{self.system} not ready in {timeout:.0f}s: {self.log.read_text()[-2000:]}"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def peer_python(system: str, data_dir: Path) -> Path:
    """The peer's venv interpreter, creating the venv with pip on first use."""
    venv = data_dir / "peers" / f"{system}-venv"
    marker = venv / ".installed"
    packages = PEER_PACKAGES[system]
    if not marker.exists() or marker.read_text() != " ".join(packages):
        print(f"creating {venv} ({' '.join(packages)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *packages], check=True)
        marker.write_text(" ".join(packages))
    return venv / "bin" / "python"


def start(system: str, workload: Workload, data_dir: Path, work: Path) -> Server:
    log = work / f"{system}-{workload.name}.log"
    env = {**os.environ, **ONE_THREAD_ENV}
    model = str(workload.model)
    if system == "modeldeploy":
        port = free_port()
        command = [
            sys.executable, "-m", "modeldeploy", "serve", "--model-path", model,
            "--model-name", workload.name, "--host", "127.0.0.1", "--port", str(port),
            "--threads", "1", "--max-batch-size", "32", "--max-delay-ms", "5",
            "--log-level", "WARNING",
        ]  # fmt: skip
        return Server(system, _spawn(command, env, log), port, log)
    python = peer_python(system, data_dir)
    if system == "kserve":
        port = 8080  # inside its own network namespace
        command = [
            "unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
            str(python), str(PEER_SOURCES / "kserve_server.py"), "--model_name", workload.name,
            "--model_path", model, "--http_port", str(port), "--enable_grpc", "false",
            "--enable_latency_logging", "false", "--configure_logging", "false",
        ]  # fmt: skip
        process = _spawn(command, env, log)
        prefix = ["nsenter", f"--net=/proc/{process.pid}/ns/net"]
        return Server(system, process, port, log, in_netns=True, prefix=prefix)
    folder = work / f"mlserver-{workload.name}"
    folder.mkdir()
    shutil.copy(PEER_SOURCES / "mlserver_runtime.py", folder)
    port = free_port()
    settings = {
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
        "metrics_port": free_port(), "debug": False,
    }  # fmt: skip
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": workload.name,
        "implementation": "mlserver_runtime.OnnxRuntimeModel",
        "parameters": {"uri": model},
    }
    (folder / "model-settings.json").write_text(json.dumps(model_settings))
    command = [str(python.parent / "mlserver"), "start", str(folder)]
    return Server(system, _spawn(command, env, log, cwd=folder), port, log)


def _spawn(
    command: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


# Load with wrk.

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(server: Server, path: str, script: Path, concurrency: int, seconds: int) -> dict[str, Any]:
    command = [
        *server.prefix, "wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "30s",
        "--latency", "-s", str(script), server.url(path),
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = dict(
        re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+(?:us|ms|s|m))\s*$", output, re.M)
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"{server.system}: unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    return {
        "rps": float(rate.group(1)),
        "p50_ms": _ms(percentiles["50"]),
        "p99_ms": _ms(percentiles["99"]),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def wrk_script(work: Path, workload: Workload) -> Path:
    script = work / f"{workload.name}.lua"
    body = workload.v2_body().decode()
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return script


def check_answer(server: Server, path: str, body: bytes) -> None:
    """One request by hand: the server must answer 200 with outputs (not an error page)."""
    answer = subprocess.run(
        [*server.prefix, "curl", "-sf", "-H", "Content-Type: application/json",
         "--data-binary", "@-", server.url(path)],
        input=body, capture_output=True, check=True,
    )  # fmt: skip
    outputs = json.loads(answer.stdout)["outputs"]
    if not outputs or not outputs[0]["data"]:
        raise RuntimeError(f"{server.system} answered without outputs: {answer.stdout[:200]!r}")


# The run.


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rps": statistics.median(r["rps"] for r in rounds),
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "non_2xx": sum(r["non_2xx"] for r in rounds),
        "rounds": rounds,
    }


@contextlib.contextmanager
def servers(workload: Workload, data_dir: Path, work: Path) -> Iterator[dict[str, Server]]:
    running: dict[str, Server] = {}
    try:
        for system in SYSTEMS:
            running[system] = start(system, workload, data_dir, work)
        for server in running.values():
            server.wait_ready(f"/v2/models/{workload.name}/ready")
        yield running
    finally:
        for server in running.values():
            server.stop()


def bench_workload(
    workload: Workload, data_dir: Path, rounds: int, seconds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    raw: dict[int, list[float]] = {batch: [] for batch in RAW_BATCHES}
    for _ in range(rounds):
        for batch in RAW_BATCHES:
            raw[batch].append(raw_rows_per_second(workload, batch, seconds=3))
    raw_median = {batch: statistics.median(values) for batch, values in raw.items()}
    log(
        f"{workload.name} raw ORT rows/s: "
        + ", ".join(f"b{b}={v:.0f}" for b, v in raw_median.items())
    )
    path = f"/v2/models/{workload.name}/infer"
    results: dict[str, dict[int, list[dict[str, Any]]]] = {
        system: {c: [] for c in CONCURRENCIES} for system in SYSTEMS
    }
    with (
        tempfile.TemporaryDirectory(prefix="serve-bench-") as folder,
        servers(workload, data_dir, Path(folder)) as running,
    ):
        script = wrk_script(Path(folder), workload)
        for server in running.values():
            check_answer(server, path, workload.v2_body())
            subprocess.run(  # warm-up, not recorded
                [*server.prefix, "wrk", "-t1", "-c8", "-d3s", "-s", str(script), server.url(path)],
                capture_output=True, check=True,
            )  # fmt: skip
        for round_index in range(rounds):
            order = SYSTEMS[round_index % 3 :] + SYSTEMS[: round_index % 3]
            for system in order:
                for concurrency in CONCURRENCIES:
                    try:
                        result = wrk(running[system], path, script, concurrency, seconds)
                    except RuntimeError as err:  # logged; the other rounds still count
                        log(str(err))
                        continue
                    results[system][concurrency].append(result)
                    log(
                        f"{workload.name} round {round_index + 1} {system} c={concurrency}: "
                        f"{result['rps']:.0f} req/s p50 {result['p50_ms']:.1f} ms "
                        f"p99 {result['p99_ms']:.1f} ms non-2xx {result['non_2xx']}"
                    )
    summary = {
        system: {str(c): median_of(results[system][c]) for c in CONCURRENCIES} for system in SYSTEMS
    }
    best_batch = max(raw_median, key=lambda batch: raw_median[batch])
    return {
        "model": str(workload.model),
        "raw_ort_rows_per_s": {str(b): v for b, v in raw_median.items()},
        "raw_ort_best": {"batch": best_batch, "rows_per_s": raw_median[best_batch]},
        "servers": summary,
        "vs_faster_peer": _ratios(summary),
    }


def _ratios(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    ratios = {}
    for c in map(str, CONCURRENCIES):
        peer = max(("kserve", "mlserver"), key=lambda system: summary[system][c]["rps"])
        ours, theirs = summary["modeldeploy"][c], summary[peer][c]
        ratios[c] = {
            "faster_peer": peer,
            "rps_ratio": ours["rps"] / theirs["rps"],
            "p99_ms": {"modeldeploy": ours["p99_ms"], peer: theirs["p99_ms"]},
            "lower_p99": ours["p99_ms"] < theirs["p99_ms"],
        }
    return ratios


def goals(results: dict[str, Any]) -> dict[str, Any]:
    digits, text = results["digits"], results["minilm"]
    c32 = text["servers"]["modeldeploy"]["32"]
    raw32 = text["raw_ort_rows_per_s"]["32"]
    return {
        "digits_at_least_2x_faster_peer_every_concurrency": all(
            r["rps_ratio"] >= 2 for r in digits["vs_faster_peer"].values()
        ),
        "digits_lower_p99_every_concurrency": all(
            r["lower_p99"] for r in digits["vs_faster_peer"].values()
        ),
        "minilm_c32_rows_per_s": c32["rps"],
        "minilm_raw_ort_batch32_rows_per_s": raw32,
        "minilm_c32_fraction_of_raw_batch32": c32["rps"] / raw32,
        "minilm_at_least_85pct_of_raw_batch32": c32["rps"] >= 0.85 * raw32,
        "minilm_c32_p99_ms": c32["p99_ms"],
        "minilm_p99_under_1s": c32["p99_ms"] < 1000,
    }


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    width = 0.25
    for column, name in enumerate(("digits", "minilm")):
        data = results["models"][name]
        positions = np.arange(len(CONCURRENCIES))
        for index, system in enumerate(SYSTEMS):
            rps = [data["servers"][system][str(c)]["rps"] for c in CONCURRENCIES]
            p99 = [data["servers"][system][str(c)]["p99_ms"] for c in CONCURRENCIES]
            axes[0][column].bar(positions + (index - 1) * width, rps, width, label=system)
            axes[1][column].bar(positions + (index - 1) * width, p99, width, label=system)
        best = data["raw_ort_best"]
        axes[0][column].axhline(
            best["rows_per_s"], color="black", linestyle="--",
            label=f"raw ORT, batch {best['batch']} (rows/s)",
        )  # fmt: skip
        axes[0][column].set_title(f"{name}: throughput (1 ORT thread)")
        axes[0][column].set_ylabel("requests/s (1 row each)")
        if name == "digits":  # raw ORT is ~30x any server here: log scale keeps bars readable
            axes[0][column].set_yscale("log")
            axes[0][column].set_ylabel("requests/s (1 row each, log)")
        axes[1][column].set_title(f"{name}: p99 latency")
        axes[1][column].set_ylabel("ms (log)")
        axes[1][column].set_yscale("log")
        for row in (0, 1):
            axes[row][column].set_xticks(positions, [f"c={c}" for c in CONCURRENCIES])
            axes[row][column].legend(fontsize=8)
    figure.suptitle("modeldeploy serve vs KServe vs MLServer (wrk, v2 JSON, medians of rounds)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--replot", action="store_true", help="only redraw serve.png from serve.json"
    )
    args = parser.parse_args(argv)
    if args.replot:
        plot(json.loads((RESULTS / "serve.json").read_text()), RESULTS / "serve.png")
        return 0
    missing = [
        tool for tool in ("wrk", "curl", "unshare", "nsenter", "ip") if not shutil.which(tool)
    ]
    if missing:
        print(f"missing tools: {missing} (apt-get install -y wrk curl iproute2 util-linux)")
        return 2
    data_dir = default_data_dir()
    for system in ("kserve", "mlserver"):
        peer_python(system, data_dir)
    machine = Machine()
    log = machine.log

    models = {}
    for workload in workloads(data_dir):
        models[workload.name] = bench_workload(workload, data_dir, args.rounds, args.seconds, log)
        partial = RESULTS / "serve.partial.json"  # kept if a later model fails
        partial.write_text(json.dumps(models, indent=2))
    results = {
        "machine": machine.describe(onnxruntime=ort.__version__, peers=PEER_PACKAGES),
        "method": {
            "load": "wrk -t1 --latency, v2 JSON body of one row, --timeout 30s",
            "concurrencies": list(CONCURRENCIES),
            "rounds": args.rounds,
            "seconds_per_run": args.seconds,
            "ort_threads": 1,
            "modeldeploy": "--max-batch-size 32 --max-delay-ms 5",
            "statistic": "median of rounds (systems in rotating order per round)",
        },
        "models": models,
    }
    results["goals"] = goals(models)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "serve.png")
    (RESULTS / "serve.partial.json").unlink()
    print(json.dumps(results["goals"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
