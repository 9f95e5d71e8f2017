"""Operator scale benchmark: N ModelDeployments against the sandbox, time to converge, RSS,
API writes per resource and writes over an idle window after convergence.

Per N (default 100, 300, 1000; a fresh sandbox each): the sandbox API server and its
controllers (Deployment/ReplicaSet/Job controllers, scheduler) run in this process, the
operator runs as a real process (`python -m modeldeploy operator --standalone
--all-namespaces`). N resources without compression (`pvc://models/m/1/model.onnx`, version
"1", 1 replica) are created by 8 client threads. There is no node agent: 1000 serving
processes cannot run on a 2-core machine, so the serving pods stay Pending and convergence
means: every resource has its Deployment and its Service, and its status says phase
`RollingOut` with condition `Progressing=True` and `observedGeneration == generation`
(the state of a first version whose pods are not ready yet). Listed every 0.5 s until then.

Then the namespace is left alone: once its objects' resourceVersions stop changing, an idle
window (default 60 s) in which the operator's `modeldeploy_operator_api_writes_total` is
sampled every second and every object's resourceVersion compared before/after. Writes
benchmarks/results/operator_scale.json and operator_scale.png.

    python -m benchmarks.operator_scale [--sizes 100,300,1000] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import ssl
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.machine import Machine
from kubernetes import client
from kubernetes import config as k8s_config
from tests.controller.conftest import (
    GROUP,
    NAMESPACE,
    PLURAL,
    VERSION,
    Env,
    OperatorProcess,
    start_operator,
)
from tests.sandbox.cluster.conftest import Cluster
from tests.sandbox.conftest import SandboxApi

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (100, 300, 1000)
CREATE_THREADS = 8
POLL_SECONDS = 0.5
SETTLE_LIMIT_SECONDS = 120.0
GOAL_RSS_MB = 300.0
LABEL = "modeldeploy.dev/name"


def resource(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "model": {"version": "1", "uri": "pvc://models/m/1/model.onnx"},
            "serving": {"replicas": 1},
        },
    }


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def metric_samples(text: str, name: str) -> dict[str, float]:
    """`{labels}` -> value for every sample of one counter in a Prometheus text page."""
    pattern = rf"^{name}(\{{[^}}]*\}})? ([0-9.e+-]+)$"
    return {labels or "": float(v) for labels, v in re.findall(pattern, text, re.MULTILINE)}


def operator_counters(operator: OperatorProcess) -> dict[str, dict[str, float]]:
    text = operator.metrics()
    return {
        "writes": metric_samples(text, "modeldeploy_operator_api_writes_total"),
        "reconciles": metric_samples(text, "modeldeploy_operator_reconciles_total"),
        "errors": metric_samples(text, "modeldeploy_operator_api_errors_total"),
    }


class Lister:
    """Raw JSON lists of the namespace (no client models: 1000s of objects per poll)."""

    def __init__(self, url: str, tls: ssl.SSLContext) -> None:
        self.url = url
        self.tls = tls

    def items(self, path: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.url + path, timeout=120, context=self.tls) as response:
            items: list[dict[str, Any]] = json.loads(response.read())["items"]
        return items

    def resources(self) -> list[dict[str, Any]]:
        return self.items(f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}")

    def deployments(self) -> list[dict[str, Any]]:
        return self.items(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")

    def services(self) -> list[dict[str, Any]]:
        return self.items(f"/api/v1/namespaces/{NAMESPACE}/services")

    def versions(self) -> dict[str, str]:
        """resourceVersion of every object in the namespace, by kind/name."""
        paths = {
            "ModelDeployment": f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/{PLURAL}",
            "Deployment": f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments",
            "ReplicaSet": f"/apis/apps/v1/namespaces/{NAMESPACE}/replicasets",
            "Job": f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs",
            **{
                kind: f"/api/v1/namespaces/{NAMESPACE}/{plural}"
                for kind, plural in (
                    ("Pod", "pods"),
                    ("Service", "services"),
                    ("Endpoints", "endpoints"),
                    ("Event", "events"),
                    ("PersistentVolumeClaim", "persistentvolumeclaims"),
                )
            },
        }
        return {
            f"{kind}/{item['metadata']['name']}": item["metadata"]["resourceVersion"]
            for kind, path in paths.items()
            for item in self.items(path)
        }


def converged(item: dict[str, Any], deployments: set[str], services: set[str]) -> bool:
    name = item["metadata"]["name"]
    status = item.get("status") or {}
    progressing = [c for c in status.get("conditions") or [] if c.get("type") == "Progressing"]
    return (
        name in deployments
        and name in services
        and status.get("phase") == "RollingOut"
        and bool(progressing)
        and progressing[0].get("status") == "True"
        and status.get("observedGeneration") == item["metadata"].get("generation")
    )


def progress(lister: Lister) -> dict[str, int]:
    items = lister.resources()
    deployments = {
        d["metadata"].get("labels", {}).get(LABEL, "") for d in lister.deployments()
    }  # fmt: skip
    services = {s["metadata"]["name"] for s in lister.services()}
    return {
        "resources": len(items),
        "with_status": sum(1 for i in items if (i.get("status") or {}).get("phase")),
        "with_deployment": sum(1 for i in items if i["metadata"]["name"] in deployments),
        "with_service": sum(1 for i in items if i["metadata"]["name"] in services),
        "converged": sum(1 for i in items if converged(i, deployments, services)),
    }


def create_all(kubeconfig: Path, count: int) -> list[str]:
    """Create `count` resources from several threads (a client each); the errors, if any."""
    local = threading.local()
    errors: list[str] = []

    def create(index: int) -> None:
        if not hasattr(local, "custom"):
            api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
            local.custom = client.CustomObjectsApi(api)
        body = resource(f"m-{index:04d}")
        for attempt in range(5):
            try:
                local.custom.create_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, PLURAL, body
                )
                return
            except client.ApiException as error:
                if error.status == 409:
                    return
                if attempt == 4:
                    errors.append(f"{body['metadata']['name']}: {error.status} {error.reason}")
                time.sleep(0.2 * (attempt + 1))  # back-off before retrying a failed create

    with ThreadPoolExecutor(CREATE_THREADS) as pool:
        list(pool.map(create, range(count)))
    return errors


def run_size(count: int, idle_seconds: float, deadline: float, work: Path, log: Callable) -> dict:
    directory = work / f"n{count}"
    api = SandboxApi(directory / "sandbox")
    api.start()
    cluster = Cluster(api, with_node=False)
    operator: OperatorProcess | None = None
    result: dict[str, Any] = {"n": count}
    try:
        cluster.start()
        env = Env(api, cluster, None, directory / "sandbox")  # type: ignore[arg-type]
        env.kubectl("apply", "-f", str(Path(__file__).resolve().parents[1] / "crds"))
        env.kubectl("create", "namespace", NAMESPACE)
        env.apply(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "models", "namespace": NAMESPACE},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }
        )
        operator = start_operator(env.api.kubeconfig, directory / "operator.log")
        pid = operator.process.pid
        lister = Lister(api.url, api.ssl_context)
        while True:  # the operator's metrics endpoint answers once it has started
            try:
                start_counters = operator_counters(operator)
                break
            except OSError:
                if operator.process.poll() is not None:
                    raise RuntimeError("operator exited at start") from None
                time.sleep(0.2)  # polling a starting process
        time.sleep(2.0)  # let its watches start before the load
        rss_start = proc_status(pid)
        log(f"N={count}: operator up (RSS {rss_start['VmRSS']:.0f} MB), creating")

        started = time.monotonic()
        errors = create_all(api.kubeconfig, count)
        created_s = time.monotonic() - started
        log(f"N={count}: created in {created_s:.1f}s ({len(errors)} errors)")
        state: dict[str, int] = {}
        rss_samples: list[float] = []
        converged_s = None
        while time.monotonic() - started < deadline:
            state = progress(lister)
            rss_samples.append(proc_status(pid)["VmRSS"])
            if state["converged"] == count:
                converged_s = time.monotonic() - started
                break
            if operator.process.poll() is not None:
                break
            time.sleep(POLL_SECONDS)  # polling interval of the convergence check
        log(f"N={count}: converged={converged_s} state={state}")
        result.update(
            create_seconds=round(created_s, 2),
            create_errors=errors[:20],
            converged=converged_s is not None,
            converge_seconds=None if converged_s is None else round(converged_s, 2),
            last_state=state,
            operator_exit_code=operator.process.poll(),
        )
        at_convergence = operator_counters(operator)
        writes = _delta(at_convergence["writes"], start_counters["writes"])
        reconciles = _delta(at_convergence["reconciles"], start_counters["reconciles"])
        result.update(
            api_writes=sum(writes.values()),
            api_writes_per_resource=round(sum(writes.values()) / count, 3),
            api_writes_by_kind_verb=writes,
            reconciles=sum(reconciles.values()),
            reconciles_per_resource=round(sum(reconciles.values()) / count, 3),
            reconciles_by_result=reconciles,
            api_errors=_delta(at_convergence["errors"], start_counters["errors"]),
        )
        if converged_s is not None:
            result["idle"] = idle_window(operator, lister, idle_seconds, log)
        memory = proc_status(pid)
        result.update(
            rss_start_mb=round(rss_start["VmRSS"], 1),
            rss_peak_sampled_mb=round(max(rss_samples, default=0.0), 1),
            rss_peak_mb=round(memory["VmHWM"], 1),
            rss_end_mb=round(memory["VmRSS"], 1),
        )
        log(f"N={count}: RSS peak {memory['VmHWM']:.0f} MB, end {memory['VmRSS']:.0f} MB")
    except Exception as error:
        result["error"] = repr(error)
        log(f"N={count}: failed: {error!r}")
    finally:
        if operator is not None:
            operator.process.send_signal(signal.SIGTERM)
            try:
                result["operator_stop_code"] = operator.process.wait(timeout=60)
            except Exception:
                operator.process.kill()
            log_text = operator.log.read_text(errors="replace")
            result["operator_log_lines"] = log_text.count("\n")
            result["operator_log_errors"] = [
                line[:300]
                for line in log_text.splitlines()
                if "Traceback" in line or " ERROR " in line or '"error"' in line
            ][:10]
            result["operator_log_tail"] = log_text.splitlines()[-15:]
        cluster.stop()
        api.stop()
    return result


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    keys = set(after) | set(before)
    changed = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in sorted(keys)}
    return {key: value for key, value in changed.items() if value}


def idle_window(
    operator: OperatorProcess, lister: Lister, seconds: float, log: Callable
) -> dict[str, Any]:
    """Wait until the namespace stops changing (bounded), then watch it for `seconds`."""
    settle_started = time.monotonic()
    settle_writes = operator_counters(operator)["writes"]
    previous = lister.versions()
    while time.monotonic() - settle_started < SETTLE_LIMIT_SECONDS:
        time.sleep(2.0)  # interval between two snapshots of a settling namespace
        current = lister.versions()
        if current == previous:
            break
        previous = current
    settled_s = time.monotonic() - settle_started
    before_writes = operator_counters(operator)["writes"]
    before = lister.versions()
    log(f"idle window: settled in {settled_s:.1f}s, watching {len(before)} objects {seconds}s")
    samples = []
    window_started = time.monotonic()
    while time.monotonic() - window_started < seconds:
        time.sleep(1.0)  # sampling interval of the idle window
        samples.append(sum(_delta(operator_counters(operator)["writes"], before_writes).values()))
    after_writes = operator_counters(operator)["writes"]
    after = lister.versions()
    changed = sorted(k for k, v in after.items() if before.get(k) != v)
    gone = sorted(set(before) - set(after))
    writes = _delta(after_writes, before_writes)
    return {
        "settle_seconds": round(settled_s, 1),
        "writes_while_settling": _delta(before_writes, settle_writes),
        "window_seconds": seconds,
        "objects_watched": len(before),
        "operator_writes": sum(writes.values()),
        "operator_writes_by_kind_verb": writes,
        "operator_writes_max_sampled": max(samples, default=0.0),
        "objects_changed": len(changed) + len(gone),
        "objects_changed_by_kind": dict(Counter(k.split("/")[0] for k in changed + gone)),
        "objects_changed_examples": (changed + gone)[:10],
    }


def goals(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals: 1000 resources converge, RSS <= 300 MB, 0 idle writes."""
    at_1000 = [s for s in sizes if s["n"] >= 1000]
    peaks = [s.get("rss_peak_mb") for s in sizes]
    idle = [s.get("idle") or {} for s in sizes]
    found = {
        "1000_converge": {
            "converge_seconds": [s.get("converge_seconds") for s in at_1000],
            "met": bool(at_1000) and all(s.get("converged") for s in at_1000),
        },
        f"rss_peak_le_{GOAL_RSS_MB:.0f}_mb": {
            "peak_mb_per_n": dict(zip([str(s["n"]) for s in sizes], peaks, strict=True)),
            "met": all(p is not None and p <= GOAL_RSS_MB for p in peaks),
        },
        "zero_idle_writes": {
            "operator_writes_per_n": [i.get("operator_writes") for i in idle],
            "met": all(i.get("operator_writes") == 0 for i in idle),
        },
    }
    # Not a goal of the operator: whether anything else in the namespace still changed in the
    # window (the sandbox's own controllers: Deployment status, ReplicaSets, Pods, Events).
    found["namespace_quiet"] = {
        "objects_changed_per_n": [i.get("objects_changed") for i in idle],
        "operator_owned_changed_per_n": [
            sum(
                count
                for kind, count in (i.get("objects_changed_by_kind") or {}).items()
                if kind in ("ModelDeployment", "Service", "Job")
            )
            for i in idle
        ],
        "all_quiet": all(i.get("objects_changed") == 0 for i in idle),
    }
    found["all_met"] = all(goal["met"] for goal in found.values() if "met" in goal)
    return found


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    ns = [s["n"] for s in sizes]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    seconds = [s.get("converge_seconds") or 0 for s in sizes]
    left.plot(ns, seconds, "o-", label="first create -> all converged")
    left.plot(ns, [s.get("create_seconds") or 0 for s in sizes], "s--", label="creating N")
    for s, value in zip(sizes, seconds, strict=True):
        idle = s.get("idle", {})
        note = (
            f"{s.get('api_writes_per_resource')} writes/res\n"
            f"idle {idle.get('window_seconds', '-')}s: {idle.get('operator_writes', '-')} operator"
            f" writes\n({idle.get('objects_changed', '-')} objects changed by the sandbox)"
            if s.get("converged")
            else "NOT converged"
        )
        left.annotate(
            note, (s["n"], value), textcoords="offset points", fontsize=8,
            xytext=(-150, -45) if s["n"] == max(ns) else (5, 8),
        )  # fmt: skip
    left.set_xlabel("ModelDeployments (N)")
    left.set_ylabel("seconds")
    left.set_title("time to converge\n(Deployment + Service + RollingOut/Progressing=True)")
    left.set_ylim(0, max(seconds, default=1) * 1.15)
    left.legend(fontsize=8, loc="upper left")
    right.plot(ns, [s.get("rss_peak_mb") or 0 for s in sizes], "o-", label="peak (VmHWM)")
    right.plot(ns, [s.get("rss_end_mb") or 0 for s in sizes], "s--", label="end (VmRSS)")
    right.axhline(GOAL_RSS_MB, color="red", linestyle=":", label=f"goal {GOAL_RSS_MB:.0f} MB")
    right.set_xlabel("ModelDeployments (N)")
    right.set_ylabel("MB")
    right.set_ylim(bottom=0)
    right.set_title("operator RSS\n")
    right.legend(fontsize=8)
    figure.suptitle(
        "modeldeploy operator on the sandbox (no node agent: pods stay Pending), "
        f"{results['machine']['cpus']} CPUs"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="e.g. 20,50")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--deadline", type=float, default=900.0, help="per N, seconds")
    parser.add_argument(
        "--replot", action="store_true", help="only recompute the goals and redraw the PNG"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    if args.replot:
        results = json.loads((RESULTS / "operator_scale.json").read_text())
        results["goals"] = goals(results["sizes"])
        (RESULTS / "operator_scale.json").write_text(json.dumps(results, indent=2) + "\n")
        plot(results, RESULTS / "operator_scale.png")
        return 0
    machine = Machine()
    log = machine.log

    work = Path(tempfile.mkdtemp(prefix="operator-scale-"))
    sizes = []
    try:
        for count in (int(n) for n in args.sizes.split(",")):
            sizes.append(run_size(count, args.idle_seconds, args.deadline, work, log))
    finally:
        if args.keep:
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    import kubernetes

    results = {
        "machine": machine.describe(kubernetes_client=kubernetes.__version__),
        "method": {
            "cluster": "sandbox API server + controllers + scheduler in the benchmark process, "
            "no node agent: serving pods stay Pending (1000 serving processes cannot run "
            "on 2 cores)",
            "operator": "python -m modeldeploy operator --standalone --all-namespaces "
            "(its own process)",
            "resource": resource("m-0000")["spec"],
            "create": f"kubernetes client, {CREATE_THREADS} threads",
            "converged": "every resource has its Deployment and Service, status phase "
            "RollingOut, condition Progressing=True, observedGeneration == generation "
            f"(listed every {POLL_SECONDS} s); time from the first create",
            "writes": "modeldeploy_operator_api_writes_total summed (create to convergence)",
            "reconciles": "modeldeploy_operator_reconciles_total summed",
            "rss": "/proc/<pid>/status VmHWM (peak) and VmRSS (end) of the operator",
            "idle": "after the namespace's resourceVersions stop changing (2 s apart, waited "
            f"for at most {SETTLE_LIMIT_SECONDS:.0f} s): the operator's write counter "
            "sampled every 1 s and every object's resourceVersion compared before/after",
            "deadline_s": args.deadline,
        },
        "sizes": sizes,
    }
    results["goals"] = goals(sizes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "operator_scale.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / "operator_scale.png")
    print(json.dumps(results["goals"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
