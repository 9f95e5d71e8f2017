"""`modeldeploy demo`: a local cluster (the sandbox), Prometheus, the operator and three rollouts.

Everything runs as the user would run it: `modeldeploy sandbox up` and `prometheus` as separate
processes, the operator installed by `helm install` of its chart (a pod with the chart's RBAC),
every step through a real `kubectl` or `helm`, printed before it runs, and inference over HTTP
through the Service's ClusterIP. The digits model is trained here from scikit-learn's bundled
data (nothing is downloaded) and put on the claims the resource names. Version 1 is compressed
in a Job on the GPU pool and served; then live traffic runs to the end while version 2 goes
through the canary steps, judged by the `prometheus` provider, and is promoted, and version 3,
which fails half its requests, is rolled back. Each change of the resource's status is printed
as the watch reports it, with a live line of each version's share, error rate and p99; the end
is a summary table and a PNG plot.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib.util
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from modeldeploy.demo_cluster import (
    STEP_DEADLINE,
    Demo,
    DemoError,
    ResourceWatch,
    poll,
    sandbox_ready,
)
from modeldeploy.demo_live import LIVE_WINDOW, Display, Figures, live_line
from modeldeploy.demo_model import DigitsModel, digits_mlp
from modeldeploy.demo_prometheus import (
    SCRAPE_INTERVAL,
    PodDiscovery,
    Prometheus,
    PrometheusError,
    prometheus_binary,
    running_prometheus,
)
from modeldeploy.demo_report import plot, summary_table
from modeldeploy.demo_traffic import TRAFFIC_PAUSE, Traffic, infer

__all__ = ["infer", "main", "run"]

CLAIMS_DIR = "pvc"  # a claim's files: <sandbox>/pvc/<namespace>/<claim>/
NAMESPACE = "ml"
OPERATOR_NAMESPACE = "modeldeploy-system"
NAME = "digits"
REPLICAS = 4
CANARY_STEPS = [{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}]
# The live analysis judges each step on the demo's own traffic, through Prometheus: short
# intervals, few requests, thresholds a contended 2-core machine meets.
ANALYSIS: dict[str, Any] = {
    "provider": "prometheus",
    "interval": "3s",
    "minRequests": 5,
    "failureLimit": 2,
    "metrics": [{"name": "error-rate", "max": 0.05}, {"name": "latency-p99-ms", "max": 1000}],
}
FAULT_ERROR_RATE = 0.5  # version 3's share of failed answers
VERSIONS = ("1", "2", "3")
COMPRESSION: dict[str, Any] = {
    "steps": [{"type": "quantize", "mode": "dynamic", "weightType": "int8", "perChannel": True}],
    "evaluation": {
        "datasetUri": "pvc://data/digits/val.npz",
        "metric": "accuracy",
        "maxDrop": 0.01,
    },
    "resources": {"limits": {"nvidia.com/gpu": 1}},
    "nodeSelector": {"pool": "gpu"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}
SAMPLES = 8  # held-out digits sent in one inference request
CONDITIONS_JSONPATH = (
    "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{'\\n'}{end}"
)
HISTORY_JSONPATH = (
    "jsonpath={range .status.history[*]}version {.version}: {.outcome} ({.reason}){'\\n'}{end}"
)
PROMETHEUS_DIR = "prometheus"  # its configuration, data and log, in the demo's directory
PLOT_FILE = "rollout.png"
PLOT_STEP = 1.0  # seconds between two points of the plot
PLOT_WINDOW = "3s"
AFTERMATH = 6.0  # seconds of traffic after the rollback, before the summary
SETTLE = 1.0  # seconds for Prometheus to scrape the last answers before the summary
FINAL_PHASES = ("Failed", "RolledBack")


def _files_root() -> Path:
    """The chart: in a source checkout, next to the `operator/` source root."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "charts" / "modeldeploy").is_dir():
        raise DemoError(f"run the demo from a source checkout: no charts/modeldeploy in {root}")
    return root


def claim_manifest(name: str) -> dict[str, Any]:
    """A claim of the demo's namespace (its data is `<dir>/pvc/<namespace>/<name>`)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _model_deployment(version: str, prometheus: str, faulty: bool = False) -> dict[str, Any]:
    """The demo's resource: compressed on the GPU pool, 4 replicas, two short canary steps
    judged through the Prometheus at `prometheus`; `faulty`: its pods fail some answers."""
    serving: dict[str, Any] = {"replicas": REPLICAS}
    if faulty:
        fault = {"name": "MODELDEPLOY_FAULT_ERROR_RATE", "value": str(FAULT_ERROR_RATE)}
        serving["podOverrides"] = {"containers": [{"name": "server", "env": [fault]}]}
    return {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "model": {"version": version, "uri": f"pvc://models/digits/{version}/model.onnx"},
            "compression": COMPRESSION,
            "serving": serving,
            "rollout": {
                "steps": CANARY_STEPS,
                "analysis": {**ANALYSIS, "address": prometheus},
            },
        },
    }


def _invalid_variant(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with canary weights that go down: the API server must refuse it."""
    bad = {**resource, "metadata": {**resource["metadata"], "name": f"{NAME}-bad-steps"}}
    bad["spec"] = {**resource["spec"], "rollout": {"steps": [{"weight": 50}, {"weight": 20}]}}
    return bad


class Live:
    """The live line's figures: the demo's traffic, and each version's from Prometheus."""

    def __init__(self, traffic: Traffic, figures: Figures) -> None:
        self.traffic = traffic
        self.figures = figures

    def line(self, status: dict[str, Any]) -> str:
        phase, where, _ = _progress(status)
        try:
            shown = self.figures.live()
        except (OSError, ValueError, KeyError) as error:
            return f"   live  {phase:<11} {where:<26} | Prometheus: {error}"
        return live_line(phase, where, shown, self.traffic.sent, self.traffic.failed)


def _condition(status: dict[str, Any], kind: str) -> str:
    """`reason: message` of the condition of type `kind`, empty when there is none."""
    found: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == kind), {}
    )
    return f"{found.get('reason', '')}: {found.get('message', '')}".strip(": ")


def _progress(status: dict[str, Any]) -> tuple[str, str, str]:
    """What a line shows: phase, versions, and the Progressing condition's reason and message."""
    where = f"stable {status.get('stableVersion', '-')}"
    if status.get("canaryVersion"):
        where += f", canary {status['canaryVersion']} at {status.get('canaryWeight', 0)}%"
    return (str(status.get("phase", "")), where, _condition(status, "Progressing"))


def _outcome(status: dict[str, Any], version: str, expected: str) -> bool:
    """Whether `version` reached `expected` (Ready: stable and Ready; RolledBack: rolled
    back); a DemoError when it ended otherwise."""
    phase = status.get("phase")
    promoted = phase == "Ready" and status.get("stableVersion") == version
    if expected == "Ready" and promoted:
        return True
    if expected == "RolledBack" and phase == "RolledBack":
        return True
    if promoted or phase in FINAL_PHASES:
        ended = f"{phase}: {_condition(status, 'Degraded') or _progress(status)[2]}"
        raise DemoError(f"version {version} should have ended {expected}, it ended {ended}")
    return False


def _follow(
    watch: ResourceWatch, version: str, expected: str, display: Display, live: Live | None
) -> dict[str, Any]:
    """Print each change of the resource's progress until `version` is `expected` (Ready or
    RolledBack), with the live line (phase, weight, figures per version) meanwhile; the
    status it ended with."""
    started = time.monotonic()
    end = started + STEP_DEADLINE
    shown: tuple[str, ...] = ()
    status: dict[str, Any] = {}
    try:
        while time.monotonic() < end:
            wait = end - time.monotonic()
            # The live line starts with the first status (the phase and weight it shows).
            resource = watch.next(min(wait, display.live_due()) if live and status else wait)
            if live is not None and status and not display.live_due():
                display.live(live.line(status))
            if resource is None or resource["metadata"]["name"] != NAME:
                continue
            status = resource.get("status") or {}
            line = _progress(status)
            if line != shown and status.get("phase"):
                phase, where, detail = line
                elapsed = time.monotonic() - started
                display.event(f"{elapsed:7.1f}s  {phase:<11}  {where:<26}  {detail}")
                shown = line
            if _outcome(status, version, expected):
                if live is not None:
                    display.live(live.line(status))
                return status
    finally:
        display.close()
    raise DemoError(
        f"timed out after {STEP_DEADLINE:.0f}s waiting for version {version} {expected}"
    )


def _service_url(demo: Demo) -> str:
    service = demo.read("get", "service", NAME, "-n", NAMESPACE)
    if not service or not service["spec"].get("clusterIP"):
        raise DemoError(f"the Service {NAME} has no ClusterIP")
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


def _show_inference(url: str, model: DigitsModel) -> str:
    with np.load(model.val) as data:
        rows = np.asarray(data["inputs"][:SAMPLES], dtype=np.float32)
        labels = data["labels"][:SAMPLES]
    print(f"\nPOST {url}/v2/models/{NAME}/infer  ({SAMPLES} held-out digits, through the Service)")
    version, logits = infer(url, NAME, rows)
    predicted = logits.argmax(axis=1)
    print(f'"model_version": "{version}"')
    print(f"predicted: {' '.join(map(str, predicted))}")
    print(f"labels:    {' '.join(map(str, labels))}", flush=True)
    return version


def _put_model(demo: Demo, model: DigitsModel) -> None:
    """The model file of both versions and the validation set, where the claims keep them."""
    claims = demo.directory / CLAIMS_DIR / NAMESPACE
    for version in VERSIONS:
        folder = claims / "models" / "digits" / version
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(model.model, folder / "model.onnx")
    (claims / "data" / "digits").mkdir(parents=True, exist_ok=True)
    shutil.copy(model.val, claims / "data" / "digits" / "val.npz")
    print(
        f"copied it to pvc://models/digits/{{{','.join(VERSIONS)}}}/model.onnx and its validation "
        f"set to pvc://data/digits/val.npz (the sandbox keeps claims in {claims}/<claim>/)",
        flush=True,
    )


def _train(demo: Demo) -> DigitsModel:
    print("\ntraining the digits classifier on scikit-learn's bundled digits ...", flush=True)
    try:
        return digits_mlp(demo.directory / "demo-model")
    except ModuleNotFoundError as error:
        raise DemoError(
            f"the demo trains its model with torch and scikit-learn ({error}): "
            "pip install 'modeldeploy[demo]'"
        ) from error


def _remove_previous(demo: Demo) -> None:
    """A resource left by an earlier demo in this directory goes first, with its children."""
    if demo.read("get", "modeldeployment", NAME, "-n", NAMESPACE) is None:
        return
    demo.kubectl("delete", "modeldeployment", NAME, "-n", NAMESPACE)
    selector = f"modeldeploy.dev/name={NAME}"

    def gone() -> bool:
        kinds = "deployments,jobs,pods,services"
        found = demo.read("get", kinds, "-n", NAMESPACE, "-l", selector)
        return found is not None and not found["items"]

    poll(gone, "the earlier demo's children to be deleted")


def _write(demo: Demo, resource: dict[str, Any]) -> Path:
    path = demo.directory / f"{NAME}-v{resource['spec']['model']['version']}.yaml"
    path.write_text(yaml.safe_dump(resource, sort_keys=False))
    return path


def _apply(
    demo: Demo,
    path: Path,
    version: str,
    expected: str,
    display: Display,
    live: Live | None = None,
) -> dict[str, Any]:
    """Apply `path` and follow the rollout it starts until `version` is `expected`."""
    watch = ResourceWatch(demo, NAMESPACE)
    try:
        demo.kubectl("apply", "-f", str(path))
        return _follow(watch, version, expected, display, live)
    finally:
        watch.close()


def _diff(before: Path, after: Path) -> str:
    lines = difflib.unified_diff(
        before.read_text().splitlines(),
        after.read_text().splitlines(),
        before.name,
        after.name,
        lineterm="",
        n=0,
    )
    return "\n".join(lines)


def _start_prometheus(demo: Demo, stack: contextlib.ExitStack) -> Prometheus:
    """Prometheus on 127.0.0.1, scraping the serving pods it finds through the API server."""
    binary = prometheus_binary()
    if binary is None:
        raise DemoError("prometheus is not installed (`make tools` installs Debian's package)")
    directory = demo.directory / PROMETHEUS_DIR
    shutil.rmtree(directory / "data", ignore_errors=True)  # no series from an earlier demo
    api: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(demo.kubeconfig)
    )
    stack.callback(api.close)
    discovery = stack.enter_context(PodDiscovery(k8s.CoreV1Api(api), NAMESPACE))
    print(f"\nstarting Prometheus ({binary}) ...", flush=True)
    try:
        server = stack.enter_context(running_prometheus(binary, discovery.url, directory))
    except PrometheusError as error:
        raise DemoError(str(error)) from error
    print(
        f"Prometheus {server.version()} on {server.url}: it scrapes the serving pods every "
        f"{SCRAPE_INTERVAL}, found through the API server\n(configuration: "
        f"{directory / 'prometheus.yml'}; this Debian build has no kubernetes_sd, so the pods are "
        "listed for it over http_sd\nwith kubernetes_sd's __meta_kubernetes_* labels and "
        "relabelled as in a cluster)",
        flush=True,
    )
    return server


def _install_operator(demo: Demo, root: Path) -> None:
    """The operator as a user installs it on a cluster: the chart, in its own namespace, in a
    pod that reaches the API with its service account and the chart's RBAC."""
    print("\ninstalling the operator with its Helm chart ...", flush=True)
    demo.helm(
        "upgrade", "--install", "modeldeploy", str(root / "charts" / "modeldeploy"),
        "--namespace", OPERATOR_NAMESPACE, "--create-namespace", "--wait", "--timeout=3m",
    )  # fmt: skip
    demo.kubectl("wait", "--for=condition=Established", "crd/modeldeployments.modeldeploy.dev")
    demo.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "wide")


def _version_one(demo: Demo, address: str, display: Display) -> Path:
    path = _write(demo, _model_deployment("1", address))
    print(f"\nversion 1, compressed on the GPU pool ({path}):\n", flush=True)
    print(path.read_text().rstrip())
    _apply(demo, path, "1", "Ready", display)
    demo.kubectl("get", "modeldeployments", "-n", NAMESPACE)
    demo.kubectl("get", "modeldeployment", NAME, "-n", NAMESPACE, "-o", CONDITIONS_JSONPATH)
    demo.kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide")
    return path


def _summary(
    demo: Demo, traffic: Traffic, figures: Figures, events: list[tuple[float, str]]
) -> None:
    """The table of the versions, the demo's own count, and the plot."""
    traffic.stop()
    time.sleep(SETTLE)  # one more scrape of the last answers
    started, ended = events[0][0], time.time()
    totals = figures.totals(ended - started + SETTLE)
    status = (demo.read("get", "modeldeployment", NAME, "-n", NAMESPACE) or {}).get("status", {})
    print(
        f"\nsummary ({ended - started:.0f} s of live traffic; requests, errors and p99 "
        "from Prometheus, as the pods counted them):\n"
    )
    print("\n".join(summary_table(totals, status.get("history") or [])))
    answered = ", ".join(f"{n} by version {v}" for v, n in sorted(traffic.answered.items()))
    print(
        f"\nthe demo sent {traffic.sent} requests through the Service: answered {answered}; "
        f"{traffic.failed} failed"
        + "".join(f"; {count} x {why}" for why, count in traffic.failures.most_common(3))
    )
    times, requests, errors = figures.series(started, ended, PLOT_STEP, PLOT_WINDOW)
    title = f"{NAME}: traffic share and error rate per version (Prometheus, {PLOT_WINDOW} rates)"
    path = plot(demo.directory / PLOT_FILE, times, requests, errors, events[1:], title)
    print(f"plot of traffic share and error rate per version over time: {path}", flush=True)


def run(directory: Path, kubectl: str, helm: str, log: IO[str], wait: Callable[[], None]) -> None:
    root = _files_root()
    if importlib.util.find_spec("matplotlib") is None:
        raise DemoError("the demo plots with matplotlib: pip install matplotlib")
    demo = Demo(directory, kubectl, helm, log)
    display = Display()
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        stack.callback(demo.stop_all)
        print(f"starting the sandbox cluster in {demo.directory} ...", flush=True)
        sandbox = demo.start("sandbox", "up", "--dir", str(demo.directory), "--port", "0")
        poll(lambda: sandbox_ready(demo, sandbox), "the sandbox and its two Ready nodes")
        demo.kubectl("get", "nodes", "-L", "pool", "-o", "wide")

        prometheus = _start_prometheus(demo, stack)
        _install_operator(demo, root)

        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        demo.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
        _remove_previous(demo)
        claims = [claim_manifest("models"), claim_manifest("data")]
        demo.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(claims))
        model = _train(demo)
        _put_model(demo, model)

        first_path = _version_one(demo, prometheus.url, display)
        url = _service_url(demo)
        _show_inference(url, model)

        with np.load(model.val) as data:
            rows = np.asarray(data["inputs"][:1], dtype=np.float32)
        traffic = Traffic(url, NAME, rows).start()
        stack.callback(traffic.stop)
        events = [(time.time(), "traffic")]
        live = Live(traffic, Figures(prometheus, NAMESPACE, NAME))
        print(
            f"\nlive traffic from now to the end: one request every {TRAFFIC_PAUSE * 1000:.0f} ms "
            "through the Service.\n`live` lines: phase, canary weight, and per version its share "
            f"of the requests, error rate and p99 over the last {LIVE_WINDOW} (from Prometheus); "
            "sent: the demo's own requests",
            flush=True,
        )

        second = _model_deployment("2", prometheus.url)
        second_path = _write(demo, second)
        print(f"\nversion 2, through the canary steps ({second_path}):\n")
        print(_diff(first_path, second_path), flush=True)
        events.append((time.time(), "version 2 applied"))
        _apply(demo, second_path, "2", "Ready", display, live)
        events.append((time.time(), "version 2 promoted"))
        demo.kubectl("get", "modeldeployments", "-n", NAMESPACE)
        demo.kubectl("get", "modeldeployment", NAME, "-n", NAMESPACE, "-o", HISTORY_JSONPATH)

        third_path = _write(demo, _model_deployment("3", prometheus.url, faulty=True))
        print(
            f"\nversion 3, faulty: {FAULT_ERROR_RATE:.0%} of its answers fail "
            f"(MODELDEPLOY_FAULT_ERROR_RATE in serving.podOverrides) ({third_path}):\n"
        )
        print(_diff(second_path, third_path), flush=True)
        events.append((time.time(), "version 3 applied"))
        _apply(demo, third_path, "3", "RolledBack", display, live)
        events.append((time.time(), "version 3 rolled back"))
        rolled_back = time.monotonic()
        demo.kubectl("get", "modeldeployments", "-n", NAMESPACE)
        demo.kubectl("get", "modeldeployment", NAME, "-n", NAMESPACE, "-o", CONDITIONS_JSONPATH)
        demo.kubectl("get", "modeldeployment", NAME, "-n", NAMESPACE, "-o", HISTORY_JSONPATH)
        demo.kubectl(
            "get",
            "deployments",
            "-n",
            NAMESPACE,
            "-L",
            "modeldeploy.dev/version,modeldeploy.dev/role",
        )
        if _show_inference(url, model) != "2":
            raise DemoError("version 3 was rolled back but another version than 2 answered")

        print("\na resource with canary weights that go down is refused, naming the field:")
        refused = demo.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump(_invalid_variant(second)), check=False
        )
        if refused.returncode == 0 or "spec.rollout.steps" not in refused.stderr:
            raise DemoError("the API server accepted a resource with decreasing canary weights")

        # Traffic goes on a little, so the plot shows version 2 answering alone again.
        time.sleep(max(0.0, rolled_back + AFTERMATH - time.monotonic()))
        _summary(demo, traffic, live.figures, events)
        print(f"\nthe demo took {time.monotonic() - began:.0f} s", flush=True)
        print(f"\nthe cluster is up: export KUBECONFIG={demo.kubeconfig}", flush=True)
        print(f"Prometheus: {prometheus.url}", flush=True)
        wait()


def _wait_for_ctrl_c() -> None:
    stopped = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        # The line is printed inside: a Ctrl-C right after it is still a clean stop.
        with contextlib.suppress(KeyboardInterrupt):
            print("Ctrl-C stops the operator, Prometheus and the cluster.", flush=True)
            while not stopped:
                signal.pause()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo as Ctrl-C does: everything it started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modeldeploy demo",
        description="Start a local cluster with Prometheus and the operator, and roll model "
        "versions out in it: one promoted through its canary steps, a faulty one rolled back.",
    )
    parser.add_argument("--dir", type=Path, default=Path(".sandbox"), help="sandbox directory")
    parser.add_argument(
        "--exit", action="store_true", help="stop everything at the end instead of waiting"
    )
    args = parser.parse_args(argv)
    kubectl, helm = shutil.which("kubectl"), shutil.which("helm")
    if kubectl is None or helm is None:
        missing = "kubectl" if kubectl is None else "helm"
        print(f"error: {missing} is not on PATH (`make demo` installs it)", file=sys.stderr)
        return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    log_path = args.dir / "demo.log"
    previous = signal.signal(signal.SIGTERM, _interrupt)
    with log_path.open("a") as log:
        try:
            run(args.dir, kubectl, helm, log, (lambda: None) if args.exit else _wait_for_ctrl_c)
        except DemoError as error:
            print(f"error: {error} (the processes' output is in {log_path})", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted: everything the demo started is stopped", file=sys.stderr)
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
    return 0
