"""Rollback reaction benchmark: from the moment a faulty canary starts failing to the moment
the canary has 0 ready replicas, with the `direct` and the `prometheus` analysis providers.

Per provider, one sandbox (API server, controllers, scheduler, node agent and Service proxy in
this process; the operator as a real process, `python -m modeldeploy operator`; for
`prometheus` a real Prometheus server, Debian's, scraping the pods every 500 ms as in
tests/controller/prometheus.py). Version 1 (the digits MLP, 2 replicas) is stable and healthy;
live traffic (about 40 requests/s, one request per new connection) goes through the Service
the whole time. Each run applies a fresh version (2, 3, ...) whose pods serve healthy at first
and answer half of the inference requests with HTTP 500 from `MODELDEPLOY_FAULT_AFTER_S`
seconds after their server started (`MODELDEPLOY_FAULT_ERROR_RATE=0.5`), one canary step of
weight 50 (1 of 2 replicas) with a long pause, so the only way out is the rollback. Analysis:
interval 5 s, failureLimit 2, minRequests 5, one metric (error-rate <= 0.05).

Moments, all on this process's monotonic clock:
- fault: the answer time of the first HTTP 500 the traffic client receives after the version
  was applied. Version 1 never fails (the benchmark checks it answered no 500 before), so it
  is the canary's first injected failure as a user sees it; the fault began at most one
  canary request earlier (about 20 canary requests/s, half of them fail after the start, so
  typically < 0.1 s earlier; the measured gap to the canary's last answer before it is kept).
- canary at 0 ready: the first 100 ms poll (pods and Deployments listed from the API), after
  the canary's Deployment had reported ready replicas, in which it reports 0 ready replicas
  *and* no pod of that version has condition Ready=True (terminating pods included).
Also recorded: every analysis verdict (status.analysis.runs changing, same poll), the
rollback decision (phase RolledBack), the Deployment scaled to 0, and the canary's last
answer seen by the traffic. Writes benchmarks/results/rollback.json and rollback.png.

    python -m benchmarks.rollback [--runs 10] [--providers direct,prometheus]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from benchmarks.machine import Machine
from tests.controller.conftest import (
    GROUP,
    NAMESPACE,
    PLURAL,
    REPO,
    VERSION,
    Env,
    OperatorProcess,
    model_deployment,
    start_operator,
)
from tests.controller.prometheus import (
    PodDiscovery,
    prometheus_binary,
    running_prometheus,
    scrape_config,
)
from tests.fixtures.models import default_data_dir, digits_mlp
from tests.sandbox.cluster.conftest import Cluster, wait_for
from tests.sandbox.conftest import SandboxApi

from modeldeploy.demo import claim_manifest
from modeldeploy.sandbox.node.config import default_nodes

SCRAPE_INTERVAL = scrape_config("")["global"]["scrape_interval"]  # the tests' Prometheus
RESULTS = Path(__file__).resolve().parent / "results"
NAME = "digits"
REPLICAS = 2
INTERVAL_S = 5.0
FAILURE_LIMIT = 2
ERROR_RATE = "0.5"
POLL_SECONDS = 0.1
TRAFFIC_GAP_SECONDS = 0.02  # between two requests: about 40 requests/s
RUN_DEADLINE_S = 120.0
GOAL_S = 2 * INTERVAL_S + 5.0
FLAGGER_DEFAULT_S = 60.0 * 5  # Flagger's default analysis: interval 60 s x threshold 5
ANALYSIS: dict[str, Any] = {
    "interval": f"{INTERVAL_S:g}s",
    "failureLimit": FAILURE_LIMIT,
    "minRequests": 5,
    "inconclusiveLimit": 50,
    "metrics": [{"name": "error-rate", "max": 0.05}],
}


class Traffic:
    """Requests through the Service on new connections, each recorded as
    (answer time, HTTP status or 0 for a connection error, model_version or None)."""

    def __init__(self, env: Env, rows: np.ndarray) -> None:
        self.url = env.service_url(NAME) + f"/v2/models/{NAME}/infer"
        body = {
            "inputs": [
                {"name": "input", "shape": list(rows.shape), "datatype": "FP32",
                 "data": rows.ravel().tolist()}
            ]
        }  # fmt: skip
        self.body = json.dumps(body).encode()
        self.records: list[tuple[float, int, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self) -> tuple[int, str | None]:
        request = urllib.request.Request(
            self.url,
            data=self.body,
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, str(json.loads(response.read())["model_version"])
        except urllib.error.HTTPError as error:
            error.read()
            return error.code, None
        except (urllib.error.URLError, OSError):
            return 0, None

    def _run(self) -> None:
        while not self._stop.is_set():
            code, version = self._one()
            self.records.append((time.monotonic(), code, version))
            self._stop.wait(TRAFFIC_GAP_SECONDS)

    def since(self, start: float, end: float | None = None) -> list[tuple[float, int, str | None]]:
        return [r for r in list(self.records) if r[0] >= start and (end is None or r[0] <= end)]

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(15)


class Api:
    """Raw JSON reads of the sandbox API (cheap enough to poll every 100 ms)."""

    def __init__(self, url: str, tls: ssl.SSLContext) -> None:
        self.url = url
        self.tls = tls

    def get(self, path: str, **query: str) -> dict[str, Any]:
        address = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(address, timeout=10, context=self.tls) as response:
            found: dict[str, Any] = json.loads(response.read())
            return found

    def pods(self) -> list[dict[str, Any]]:
        selector = f"modeldeploy.dev/name={NAME},app.kubernetes.io/component=server"
        path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        items: list[dict[str, Any]] = self.get(path, labelSelector=selector)["items"]
        return items

    def deployments(self) -> list[dict[str, Any]]:
        path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
        items: list[dict[str, Any]] = self.get(path, labelSelector=f"modeldeploy.dev/name={NAME}")[
            "items"
        ]
        return items

    def status(self) -> dict[str, Any]:
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}/{NAME}"
        found: dict[str, Any] = self.get(path).get("status") or {}
        return found


def _version(item: dict[str, Any]) -> str | None:
    return (item["metadata"].get("labels") or {}).get("modeldeploy.dev/version")


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _resource(
    version: str, analysis: dict[str, Any], fault_after_s: float | None
) -> dict[str, Any]:
    serving: dict[str, Any] | None = None
    if fault_after_s is not None:
        variables = {
            "MODELDEPLOY_FAULT_ERROR_RATE": ERROR_RATE,
            "MODELDEPLOY_FAULT_AFTER_S": f"{fault_after_s:g}",
        }
        env = [{"name": k, "value": v} for k, v in variables.items()]
        serving = {"podOverrides": {"containers": [{"name": "server", "env": env}]}}
    return model_deployment(
        NAME,
        version,
        replicas=REPLICAS,
        steps=[{"weight": 50, "pause": "1h"}],  # never promoted: only a rollback ends it
        serving=serving,
        rollout={"analysis": analysis, "progressDeadline": "5m"},
    )


def _parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _settled(api: Api) -> bool:
    """Only version 1's pods, all ready, and it is the stable version."""
    pods = api.pods()
    status = api.status()
    return (
        status.get("stableVersion") == "1"
        and not status.get("canaryVersion")
        and len(pods) == REPLICAS
        and all(_version(p) == "1" and _ready(p) for p in pods)
    )


def one_run(
    api: Api,
    env: Env,
    traffic: Traffic,
    analysis: dict[str, Any],
    version: str,
    fault_after_s: float,
) -> dict[str, Any]:
    quiet_from = time.monotonic()  # the previous canary is unready: version 1 alone answers
    wait_for(lambda: _settled(api), "version 1 alone and ready", RUN_DEADLINE_S)
    load = os.getloadavg()
    applied = time.monotonic()
    clock_offset = time.time() - applied  # wall clock - monotonic, for startedAt
    env.apply(_resource(version, analysis, fault_after_s))
    marks: dict[str, float] = {}
    verdicts: list[dict[str, Any]] = []
    polls: list[float] = []
    last_runs = None
    started_at = None
    reason: str | None = None
    while time.monotonic() - applied < RUN_DEADLINE_S:
        poll = time.monotonic()
        pods = [p for p in api.pods() if _version(p) == version]
        deployments = [d for d in api.deployments() if _version(d) == version]
        status = api.status()
        polls.append(poll)
        ready_pods = sum(1 for p in pods if _ready(p))
        ready_replicas = sum(int((d.get("status") or {}).get("readyReplicas") or 0)
                             for d in deployments)  # fmt: skip
        for pod in pods:
            for container in (pod.get("status") or {}).get("containerStatuses") or []:
                running = (container.get("state") or {}).get("running") or {}
                if container.get("name") == "server" and running.get("startedAt"):
                    started_at = started_at or running["startedAt"]
        if ready_pods and "canary_ready" not in marks:
            marks["canary_ready"] = poll
        if ready_replicas and "canary_ready_replicas" not in marks:
            marks["canary_ready_replicas"] = poll  # the Deployment's status caught up
        if status.get("stepReadyAt") and status.get("canaryVersion") == version:
            marks.setdefault("step_ready", poll)
        state = status.get("analysis") or {}
        if state.get("runs") != last_runs and state.get("revision"):
            last_runs = state.get("runs")
            verdicts.append(
                {
                    "t": poll,
                    "runs": state.get("runs"),
                    "metrics": [
                        {k: m.get(k) for k in ("verdict", "value", "requests", "failures")}
                        for m in state.get("metrics") or []
                    ],
                }
            )
        history = (status.get("history") or [{}])[0]
        if history.get("version") == version and history.get("outcome") == "RolledBack":
            marks.setdefault("rolled_back", poll)
            reason = reason or history.get("reason")
        if deployments and all((d.get("spec") or {}).get("replicas") == 0 for d in deployments):
            marks.setdefault("scaled_to_zero", poll)
        if "canary_ready_replicas" in marks and ready_replicas == 0:
            marks.setdefault("zero_ready_replicas", poll)
        if "canary_ready" in marks and ready_pods == 0:
            marks.setdefault("zero_ready_pods", poll)
        if "canary_ready_replicas" in marks and ready_pods == 0 and ready_replicas == 0:
            marks["zero_ready"] = poll
            break
        time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - poll)))
    time.sleep(1.0)  # answers still in flight when the canary went unready
    records = traffic.since(applied)
    before = traffic.since(quiet_from, applied)
    failures = [r for r in records if r[1] == 500]
    canary = [r for r in records if r[1] == 500 or r[2] == version]
    result: dict[str, Any] = {
        "version": version,
        "fault_after_s": fault_after_s,
        "loadavg_at_start": [round(x, 2) for x in load],
        "requests": len(records),
        "requests_per_s": round(len(records) / max(1e-9, records[-1][0] - applied), 1)
        if records
        else 0,
        "stable_only_window": {
            "seconds": round(applied - quiet_from, 2),
            "requests": len(before),
            "http_500": sum(1 for r in before if r[1] == 500),
            "versions": sorted({r[2] for r in before if r[2]}),
        },
        "connection_errors": sum(1 for r in records if r[1] == 0),
        "canary_answers": len(canary),
        "canary_500s": len(failures),
        "poll_gap_s": {
            "median": round(statistics.median(np.diff(polls)), 3) if len(polls) > 1 else None,
            "max": round(float(max(np.diff(polls))), 3) if len(polls) > 1 else None,
        },
        "rollback_reason": reason,
    }
    if not failures or "zero_ready" not in marks:
        result["error"] = (
            "no HTTP 500 seen" if not failures else "canary not at 0 ready within the deadline"
        )
        result["marks_after_apply_s"] = {k: round(v - applied, 3) for k, v in marks.items()}
        return result
    fault = failures[0][0]
    previous_canary = [r[0] for r in canary if r[0] < fault]
    after_zero = [r for r in canary if r[0] > marks["zero_ready"]]
    # startedAt has 1 s resolution and precedes the fault clock (server init) by the imports.
    started_wall = _parse_time(started_at)
    declared = None if started_wall is None else started_wall - clock_offset + fault_after_s
    verdicts_before = [v for v in verdicts if v["t"] < fault]
    result.update(
        reaction_s=round(marks["zero_ready"] - fault, 3),
        marks_after_fault_s={k: round(v - fault, 3) for k, v in sorted(marks.items())},
        fault_after_apply_s=round(fault - applied, 3),
        fault_minus_previous_canary_answer_s=round(fault - previous_canary[-1], 3)
        if previous_canary
        else None,
        fault_minus_declared_start_s=None if declared is None else round(fault - declared, 2),
        last_canary_answer_after_fault_s=round(canary[-1][0] - fault, 3),
        canary_answers_after_zero_ready=len(after_zero),
        passing_verdicts_before_fault=sum(
            1 for v in verdicts_before if any(m["verdict"] == "Pass" for m in v["metrics"])
        ),
        fault_phase_in_interval_s=round(fault - verdicts_before[-1]["t"], 3)
        if verdicts_before
        else None,
        verdicts=[
            {**v, "t": round(v["t"] - fault, 3)} for v in verdicts
        ],  # t: seconds after the fault (negative: before)
    )
    failing = [v for v in verdicts if v["t"] > fault and any(
        m["verdict"] == "Fail" for m in v["metrics"])]  # fmt: skip
    if failing:
        result["marks_after_fault_s"]["first_failed_verdict"] = round(failing[0]["t"] - fault, 3)
    return result


def run_provider(
    provider: str, runs: int, fault_after: float, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    directory = work / provider
    api_server = SandboxApi(directory / "sandbox")
    api_server.start()
    cluster = Cluster(api_server, nodes=tuple(default_nodes(gpus=0)))
    operator: OperatorProcess | None = None
    result: dict[str, Any] = {"provider": provider, "runs": []}
    try:
        cluster.start()
        digits = digits_mlp(default_data_dir())
        env = Env(api_server, cluster, digits, directory / "sandbox")
        env.kubectl("apply", "-f", str(REPO / "crds"))
        env.kubectl("create", "namespace", NAMESPACE)
        for claim in ("models", "data"):
            env.apply(claim_manifest(claim))
        models = env.directory / "pvc" / NAMESPACE / "models" / NAME
        for number in range(1, runs + 2):
            (models / str(number)).mkdir(parents=True)
            shutil.copy(digits.model, models / str(number) / "model.onnx")
        with ExitStack() as stack:
            analysis = {**ANALYSIS, "provider": provider}
            if provider == "prometheus":
                binary = prometheus_binary()
                if not binary:
                    raise RuntimeError("prometheus is not installed (make tools)")
                discovery = stack.enter_context(PodDiscovery(cluster.core))
                server = stack.enter_context(
                    running_prometheus(binary, discovery.url, directory / "prometheus")
                )
                analysis["address"] = server.url
            operator = start_operator(env.api.kubeconfig, directory / "operator.log")
            api = Api(api_server.url, api_server.ssl_context)
            env.apply(_resource("1", analysis, None))
            wait_for(lambda: _settled(api), "version 1 Ready", 240)
            log(f"{provider}: version 1 ready")
            with np.load(digits.val) as data:
                rows = np.asarray(data["inputs"][:1], dtype=np.float32)
            traffic = stack.enter_context(Traffic(env, rows))
            time.sleep(3.0)  # traffic before the first run
            for index in range(runs):
                version = str(index + 2)
                # The fault's phase in the 5 s analysis interval moves by 0.5 s per run.
                after = fault_after + (index % 10) * INTERVAL_S / 10
                try:
                    run = one_run(api, env, traffic, analysis, version, after)
                except Exception as error:
                    run = {"version": version, "error": repr(error)}
                result["runs"].append(run)
                log(
                    f"{provider} v{version}: reaction {run.get('reaction_s')} s "
                    f"{run.get('marks_after_fault_s') or run.get('error')}"
                )
    except Exception as error:
        result["error"] = repr(error)
        log(f"{provider}: failed: {error!r}")
    finally:
        if operator is not None:
            operator.process.send_signal(signal.SIGTERM)
            try:
                operator.process.wait(timeout=30)
            except Exception:
                operator.process.kill()
            log_text = operator.log.read_text(errors="replace")
            result["operator_log_errors"] = [
                line[:300]
                for line in log_text.splitlines()
                if "Traceback" in line or " ERROR " in line or '"level": "error"' in line
            ][:10]
        cluster.stop()
        api_server.stop()
    result["summary"] = summary(result["runs"])
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    reactions = [r["reaction_s"] for r in runs if "reaction_s" in r]
    if not reactions:
        return {"runs_measured": 0, "runs_failed": len(runs), "goal_met": False}
    median = statistics.median(reactions)

    def stage(key: str) -> float | None:
        values = [r["marks_after_fault_s"][key] for r in runs
                  if key in (r.get("marks_after_fault_s") or {})]  # fmt: skip
        return round(statistics.median(values), 3) if values else None

    return {
        "runs_measured": len(reactions),
        "runs_failed": len(runs) - len(reactions),
        "reaction_median_s": round(median, 3),
        "reaction_max_s": round(max(reactions), 3),
        "reaction_min_s": round(min(reactions), 3),
        "median_after_fault_s": {
            "first_failed_verdict": stage("first_failed_verdict"),
            "rolled_back": stage("rolled_back"),
            "scaled_to_zero": stage("scaled_to_zero"),
            "zero_ready_replicas": stage("zero_ready_replicas"),
            "zero_ready_pods": stage("zero_ready_pods"),
            "zero_ready": stage("zero_ready"),
        },
        "goal_s": GOAL_S,
        "goal_met": len(reactions) == len(runs) and max(reactions) <= GOAL_S,
        "flagger_default_s": FLAGGER_DEFAULT_S,
        "median_vs_flagger_default": round(median / FLAGGER_DEFAULT_S, 4),
        "flagger_default_over_median": round(FLAGGER_DEFAULT_S / median, 1),
    }  # fmt: skip


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    providers = results["providers"]
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [1, 2]}
    )
    for position, provider in enumerate(providers):
        values = [r["reaction_s"] for r in provider["runs"] if "reaction_s" in r]
        if not values:
            continue
        left.boxplot([values], positions=[position], widths=0.5, showfliers=False)
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
        left.scatter(np.add(position, jitter), values, s=18, zorder=3)
        s = provider["summary"]
        left.annotate(
            f"median {s['reaction_median_s']:.1f} s\nmax {s['reaction_max_s']:.1f} s",
            (position, max(values)), textcoords="offset points", xytext=(0, 8),
            ha="center", fontsize=8,
        )  # fmt: skip
    left.axhline(GOAL_S, color="red", linestyle=":", label=f"goal {GOAL_S:g} s (2 intervals + 5 s)")
    left.set_xticks(range(len(providers)), [p["provider"] for p in providers])
    left.set_ylabel("seconds, first HTTP 500 -> canary 0 ready")
    left.set_ylim(0, max(GOAL_S * 1.25, left.get_ylim()[1]))
    left.set_title(
        f"reaction ({results['method']['runs_per_provider']} runs each)\n"
        f"Flagger default (60 s x 5): {FLAGGER_DEFAULT_S:g} s"
    )
    left.legend(fontsize=8, loc="lower right")

    stages = [
        ("first_failed_verdict", "1st failed verdict"),
        ("rolled_back", "RolledBack (2nd failed verdict)"),
        ("zero_ready", "canary 0 ready"),
    ]
    labels, bottoms = [], []
    x = 0
    for provider in providers:
        for run in provider["runs"]:
            marks = run.get("marks_after_fault_s") or {}
            previous = 0.0
            for index, (key, label) in enumerate(stages):
                value = marks.get(key)
                if value is None:
                    continue
                right.bar(
                    x, value - previous, bottom=previous, color=f"C{index}",
                    label=label if x == 0 else None,
                )  # fmt: skip
                previous = value
            labels.append(f"{provider['provider'][:4]}.\nv{run['version']}")
            bottoms.append(x)
            x += 1
        x += 1
    right.axhline(GOAL_S, color="red", linestyle=":")
    right.set_xticks(bottoms, labels, fontsize=7)
    right.set_ylabel("seconds after the first HTTP 500")
    right.set_title("per run: when the stages were reached (polled every 100 ms)")
    right.legend(fontsize=8, loc="upper right")
    machine = results["machine"]
    figure.suptitle(
        f"modeldeploy automatic rollback, analysis interval {INTERVAL_S:g} s, failureLimit "
        f"{FAILURE_LIMIT}, error rate {ERROR_RATE}; {machine['cpus']} CPUs, load "
        f"{machine['loadavg_before'][0]:.1f}->{machine['loadavg_after'][0]:.1f}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="faulty versions per provider")
    parser.add_argument("--providers", default="direct,prometheus")
    parser.add_argument(
        "--fault-after", type=float, default=12.0,
        help="MODELDEPLOY_FAULT_AFTER_S of the first run (+0.5 s per run, cycling over 10)",
    )  # fmt: skip
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument("--output", default="rollback", help="file name stem under results/")
    args = parser.parse_args(argv)
    if args.replot:
        results = json.loads((RESULTS / f"{args.output}.json").read_text())
        plot(results, RESULTS / f"{args.output}.png")
        return 0
    machine = Machine()
    log = machine.log

    work = Path(tempfile.mkdtemp(prefix="rollback-bench-"))
    providers = []
    try:
        for provider in args.providers.split(","):
            providers.append(run_provider(provider, args.runs, args.fault_after, work, log))
    finally:
        if args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results = {
        "machine": machine.describe(
            note="2 shared cores; other sandbox tests ran at the same time (see loadavg, "
            "also per run)"
        ),
        "method": {
            "runs_per_provider": args.runs,
            "cluster": "sandbox API server, controllers, scheduler, node agent and Service "
            "proxy in the benchmark process; operator as its own process",
            "stable": f"version 1, {REPLICAS} replicas, healthy",
            "faulty": f"versions 2..{args.runs + 1}, one per run: MODELDEPLOY_FAULT_ERROR_RATE="
            f"{ERROR_RATE} from MODELDEPLOY_FAULT_AFTER_S = {args.fault_after:g} s + "
            "0.5 s x (run % 10) after its server started (so the fault falls at different "
            "phases of the analysis interval); through serving.podOverrides",
            "steps": [{"weight": 50, "pause": "1h"}],
            "analysis": ANALYSIS,
            "prometheus": f"Debian prometheus, scrape_interval {SCRAPE_INTERVAL}, pods listed "
            "over http_sd with kubernetes_sd's labels (tests/controller/prometheus.py)",
            "traffic": "one thread, one request per new connection through the Service "
            f"(OIP v2 infer), {TRAFFIC_GAP_SECONDS} s between requests",
            "fault_moment": "answer time of the first HTTP 500 the traffic client receives "
            "after the faulty version is applied. Version 1 never fails: stable_only_window "
            "counts the answers between the previous canary going unready (+1 s) and the "
            "apply (0 HTTP 500 expected). The fault began after the canary's previous answer "
            "(fault_minus_previous_canary_answer_s bounds how much earlier); "
            "fault_minus_declared_start_s compares with container startedAt (1 s resolution, "
            "before the server's imports) + MODELDEPLOY_FAULT_AFTER_S",
            "zero_ready_moment": "first poll (every 100 ms: pods, Deployments and the "
            "resource listed from the API), after the canary's Deployment had reported ready "
            "replicas, in which it reports 0 readyReplicas and no pod of that version has "
            "condition Ready=True (terminating pods included)",
            "reaction": "zero_ready_moment - fault_moment",
            "other_marks": "first_failed_verdict (status.analysis.runs changed with a Fail), "
            "rolled_back (history[0] RolledBack for the version), scaled_to_zero (Deployment "
            "spec.replicas 0), zero_ready_replicas, zero_ready_pods: all seconds after the "
            "fault, from the same polls",
            "goal": f"at most 2 intervals + 5 s = {GOAL_S:g} s, every run",
            "flagger": f"Flagger's default reaction, interval 60 s x threshold 5 = "
            f"{FLAGGER_DEFAULT_S:g} s (its documented defaults, not measured here)",
        },
        "providers": providers,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / f"{args.output}.png")
    print(json.dumps({p["provider"]: p["summary"] for p in providers}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
