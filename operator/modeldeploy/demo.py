"""`modeldeploy demo`: a local cluster (the sandbox), the CRD, the operator and a rollout.

Everything runs as the user would run it: `modeldeploy sandbox up` and `modeldeploy operator`
as separate processes, every step through a real `kubectl`, printed before it runs, and
inference over HTTP through the Service's ClusterIP. The digits model is trained here from
scikit-learn's bundled data (nothing is downloaded) and put on the claims the resource names.
Version 1 is compressed in a Job on the GPU pool and served; version 2 goes through the canary
steps; each change of the resource's status is printed as the watch reports it.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import yaml

from modeldeploy.demo_model import DigitsModel, digits_mlp

# The sandbox writes these into its directory (modeldeploy.sandbox is not imported: the demo
# drives it the way a user does, through its command line and the files it leaves).
KUBECONFIG_FILE = "kubeconfig"
PID_FILE = "sandbox.pid"
CLAIMS_DIR = "pvc"  # a claim's files: <sandbox>/pvc/<namespace>/<claim>/
NAMESPACE = "ml"
NAME = "digits"
REPLICAS = 4
CANARY_STEPS = [{"weight": 25, "pause": "3s"}, {"weight": 50, "pause": "3s"}]
# The live analysis judges each step on the demo's own traffic: short intervals, few requests.
ANALYSIS = {"interval": "3s", "minRequests": 5}
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
STEP_DEADLINE = 120.0
STOP_DEADLINE = 30.0
# While a rollout runs, a request goes through the Service whenever the watch is quiet this long.
TRAFFIC_INTERVAL = 0.05
TALLY_MINIMUM = 10  # answers it takes to print a share
FINAL_PHASES = ("Failed", "RolledBack")
WATCH_ARGS = ("get", "modeldeployments", "-n", NAMESPACE, "--watch", "-o", "json")


class DemoError(Exception):
    """A step that did not happen in time or failed; the message says which."""


def _poll(condition: Callable[[], Any], what: str, deadline: float = STEP_DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise DemoError(f"timed out after {deadline:.0f}s waiting for {what}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _files_root() -> Path:
    """`crds/`: in a source checkout, next to the `operator/` source root."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "crds").is_dir():
        raise DemoError(f"run the demo from a source checkout: no crds/ in {root}")
    return root


class Demo:
    """The processes of one demo run and the kubectl that talks to them."""

    def __init__(self, directory: Path, kubectl: str, log: IO[str]) -> None:
        self.directory = directory.resolve()
        self.kubeconfig = self.directory / KUBECONFIG_FILE
        self.kubectl_binary = kubectl
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *command: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig)}
        process = subprocess.Popen(
            [sys.executable, "-m", "modeldeploy", *command],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        """SIGTERM in reverse start order (operator before the cluster), SIGKILL past the
        deadline: nothing the demo started outlives it."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def kubectl_command(self) -> list[str]:
        return [self.kubectl_binary, "--kubeconfig", str(self.kubeconfig)]

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, show: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if show:
            print(f"\n$ kubectl {' '.join(args)}", flush=True)
        result = subprocess.run(
            [*self.kubectl_command(), *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=STEP_DEADLINE,
            check=False,
        )
        if show:
            print((result.stdout + result.stderr).rstrip(), flush=True)
        if check and result.returncode != 0:
            raise DemoError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def read(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed; None when kubectl fails (e.g. not there yet)."""
        result = self.kubectl(*args, "-o", "json", check=False, show=False)
        return json.loads(result.stdout) if result.returncode == 0 else None


def _sandbox_ready(demo: Demo, sandbox: subprocess.Popen[bytes]) -> bool:
    if sandbox.poll() is not None:
        raise DemoError(f"`modeldeploy sandbox up` exited with code {sandbox.returncode}")
    try:
        # The pid file is written after the kubeconfig, so this one is the new server's.
        if int((demo.directory / PID_FILE).read_text()) != sandbox.pid:
            return False
    except (OSError, ValueError):
        return False
    nodes = demo.read("get", "nodes")
    ready = [
        node
        for node in (nodes or {}).get("items", [])
        for condition in node.get("status", {}).get("conditions", [])
        if condition["type"] == "Ready" and condition["status"] == "True"
    ]
    return len(ready) >= 2


def _operator_ready(operator: subprocess.Popen[bytes], health: str) -> bool:
    if operator.poll() is not None:
        raise DemoError(f"`modeldeploy operator` exited with code {operator.returncode}")
    return _answers(health)


def _claim(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "1Gi"}}},
    }


def _model_deployment(version: str) -> dict[str, Any]:
    """The demo's resource: compressed on the GPU pool, 4 replicas, two short canary steps."""
    return {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "model": {"version": version, "uri": f"pvc://models/digits/{version}/model.onnx"},
            "compression": COMPRESSION,
            "serving": {"replicas": REPLICAS},
            "rollout": {"steps": CANARY_STEPS, "analysis": ANALYSIS},
        },
    }


def _invalid_variant(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with canary weights that go down: the API server must refuse it."""
    bad = {**resource, "metadata": {**resource["metadata"], "name": f"{NAME}-bad-steps"}}
    bad["spec"] = {**resource["spec"], "rollout": {"steps": [{"weight": 50}, {"weight": 20}]}}
    return bad


class ResourceWatch:
    """`kubectl get modeldeployments --watch -o json`: each object kubectl prints, in order.

    kubectl prints every object as indented JSON, so one ends at a `}` line of its own. A
    reader thread hands them over; a watch the server closes is started again.
    """

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.objects: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [*self.demo.kubectl_command(), *WATCH_ARGS],
            stdout=subprocess.PIPE,
            stderr=self.demo.log,
            text=True,
        )
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            if line.rstrip("\n") == "}":
                self.objects.put(json.loads("".join(lines)))
                lines.clear()
        self.objects.put(None)  # the watch ended

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next object within `timeout` seconds, else None."""
        try:
            found = self.objects.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None
        if found is None:
            assert self.process is not None
            if self.process.wait() != 0:
                raise DemoError(f"`kubectl {' '.join(WATCH_ARGS)}` failed")
            self._start()
        return found

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_DEADLINE)


class Traffic:
    """Requests through the Service while a rollout runs, counted by the version that answered."""

    def __init__(self, url: str, rows: np.ndarray) -> None:
        self.url = url
        self.rows = rows
        self.answers: Counter[str] = Counter()
        self.failed = 0

    def send(self) -> None:
        try:
            version, _ = infer(self.url, NAME, self.rows)
        except OSError:
            self.failed += 1
        else:
            self.answers[version] += 1

    def tally(self) -> str:
        """The answers since the last tally, e.g. `30 by version 1, 10 by version 2`; empty
        when too few went out to show a share (and none failed)."""
        parts = [f"{count} by version {version}" for version, count in sorted(self.answers.items())]
        if self.failed:
            parts.append(f"{self.failed} failed")
        shown = self.failed > 0 or self.answers.total() >= TALLY_MINIMUM
        self.answers.clear()
        self.failed = 0
        return ", ".join(parts) if shown else ""


def _progress(status: dict[str, Any]) -> tuple[str, ...]:
    """What a line shows: phase, versions, and the Progressing condition's reason and message."""
    where = f"stable {status.get('stableVersion', '-')}"
    if status.get("canaryVersion"):
        where += f", canary {status['canaryVersion']} at {status.get('canaryWeight', 0)}%"
    progressing: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    detail = f"{progressing.get('reason', '')}: {progressing.get('message', '')}".strip(": ")
    return (str(status.get("phase", "")), where, detail)


def _follow(watch: ResourceWatch, version: str, traffic: Traffic | None = None) -> None:
    """Print each change of the resource's progress until `version` is stable and Ready; with
    `traffic`, send requests through the Service meanwhile and print who answered."""
    started = time.monotonic()
    end = started + STEP_DEADLINE
    shown: tuple[str, ...] = ()
    while time.monotonic() < end:
        wait = end - time.monotonic()
        resource = watch.next(TRAFFIC_INTERVAL if traffic is not None else wait)
        if resource is None or resource["metadata"]["name"] != NAME:
            if traffic is not None:
                traffic.send()
            continue
        status = resource.get("status") or {}
        line = _progress(status)
        if line != shown and status.get("phase"):
            if traffic is not None and (answers := traffic.tally()):
                print(f"{'':10}meanwhile the Service answered: {answers}", flush=True)
            phase, where, detail = line
            print(f"{time.monotonic() - started:7.1f}s  {phase:<11}  {where:<26}  {detail}")
            shown = line
        if status.get("phase") == "Ready" and status.get("stableVersion") == version:
            return
        if status.get("phase") in FINAL_PHASES:
            raise DemoError(f"version {version} ended {status['phase']}: {line[2]}")
    raise DemoError(f"timed out after {STEP_DEADLINE:.0f}s waiting for version {version} Ready")


def infer(url: str, name: str, rows: np.ndarray) -> tuple[str, np.ndarray]:
    """One Open Inference Protocol request to model `name` at `url` (e.g. a Service's
    `http://<clusterIP>:<port>`) on a new connection: (model_version, first output)."""
    body = {
        "inputs": [
            {
                "name": "input",
                "shape": list(rows.shape),
                "datatype": "FP32",
                "data": rows.ravel().tolist(),
            }
        ]
    }
    request = urllib.request.Request(
        f"{url}/v2/models/{name}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    output = answer["outputs"][0]
    return str(answer["model_version"]), np.array(output["data"]).reshape(output["shape"])


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
    for version in ("1", "2"):
        folder = claims / "models" / "digits" / version
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(model.model, folder / "model.onnx")
    (claims / "data" / "digits").mkdir(parents=True, exist_ok=True)
    shutil.copy(model.val, claims / "data" / "digits" / "val.npz")
    print(
        f"copied it to pvc://models/digits/{{1,2}}/model.onnx and its validation set to "
        f"pvc://data/digits/val.npz (the sandbox keeps claims in {claims}/<claim>/)",
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

    _poll(gone, "the earlier demo's children to be deleted")


def _write(demo: Demo, resource: dict[str, Any]) -> Path:
    path = demo.directory / f"{NAME}-v{resource['spec']['model']['version']}.yaml"
    path.write_text(yaml.safe_dump(resource, sort_keys=False))
    return path


def _apply(demo: Demo, path: Path, version: str, traffic: Traffic | None = None) -> None:
    """Apply `path` and follow the rollout it starts until `version` is Ready."""
    watch = ResourceWatch(demo)
    try:
        demo.kubectl("apply", "-f", str(path))
        _follow(watch, version, traffic)
    finally:
        watch.close()


def run(directory: Path, kubectl: str, log: IO[str], wait: Callable[[], None]) -> None:
    root = _files_root()
    demo = Demo(directory, kubectl, log)
    try:
        print(f"starting the sandbox cluster in {demo.directory} ...", flush=True)
        sandbox = demo.start("sandbox", "up", "--dir", str(demo.directory), "--port", "0")
        _poll(lambda: _sandbox_ready(demo, sandbox), "the sandbox and its two Ready nodes")
        demo.kubectl("get", "nodes", "-L", "pool", "-o", "wide")

        demo.kubectl("apply", "-f", str(root / "crds"))
        demo.kubectl("wait", "--for=condition=Established", "crd/modeldeployments.modeldeploy.dev")

        health = f"http://127.0.0.1:{_free_port()}/healthz"
        print("\nstarting the operator (modeldeploy operator) ...", flush=True)
        operator = demo.start(
            "operator",
            "--standalone",
            "--all-namespaces",
            f"--metrics-port={_free_port()}",
            f"--liveness={health}",
        )
        _poll(lambda: _operator_ready(operator, health), "the operator's liveness endpoint")

        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        demo.kubectl("apply", "-f", "-", input=yaml.safe_dump(namespace))
        _remove_previous(demo)
        claims = [_claim("models"), _claim("data")]
        demo.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(claims))
        model = _train(demo)
        _put_model(demo, model)

        first = _model_deployment("1")
        first_path = _write(demo, first)
        print(f"\nversion 1, compressed on the GPU pool ({first_path}):\n", flush=True)
        print(first_path.read_text().rstrip())
        _apply(demo, first_path, "1")
        demo.kubectl("get", "modeldeployments", "-n", NAMESPACE)
        demo.kubectl("get", "modeldeployment", NAME, "-n", NAMESPACE, "-o", CONDITIONS_JSONPATH)
        demo.kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide")
        url = _service_url(demo)
        _show_inference(url, model)

        second = _model_deployment("2")
        second_path = _write(demo, second)
        print(f"\nversion 2, through the canary steps ({second_path}):\n")
        diff = difflib.unified_diff(
            first_path.read_text().splitlines(),
            second_path.read_text().splitlines(),
            str(first_path.name),
            str(second_path.name),
            lineterm="",
            n=0,
        )
        print("\n".join(diff), flush=True)
        with np.load(model.val) as data:
            rows = np.asarray(data["inputs"][:1], dtype=np.float32)
        _apply(demo, second_path, "2", Traffic(url, rows))
        demo.kubectl("get", "modeldeployments", "-n", NAMESPACE)
        demo.kubectl(
            "get",
            "deployments",
            "-n",
            NAMESPACE,
            "-L",
            "modeldeploy.dev/version,modeldeploy.dev/role",
        )
        demo.kubectl("get", "modeldeployment", NAME, "-n", NAMESPACE, "-o", HISTORY_JSONPATH)
        if _show_inference(url, model) != "2":
            raise DemoError("version 2 is Ready but another version answered")

        print("\na resource with canary weights that go down is refused, naming the field:")
        refused = demo.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump(_invalid_variant(second)), check=False
        )
        if refused.returncode == 0 or "spec.rollout.steps" not in refused.stderr:
            raise DemoError("the API server accepted a resource with decreasing canary weights")

        print(f"\nthe cluster is up: export KUBECONFIG={demo.kubeconfig}", flush=True)
        wait()
    finally:
        demo.stop_all()


def _wait_for_ctrl_c() -> None:
    stopped = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        # The line is printed inside: a Ctrl-C right after it is still a clean stop.
        with contextlib.suppress(KeyboardInterrupt):
            print("Ctrl-C stops the operator and the cluster.", flush=True)
            while not stopped:
                signal.pause()
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modeldeploy demo",
        description="Start a local cluster with the operator and roll a model out in it.",
    )
    parser.add_argument("--dir", type=Path, default=Path(".sandbox"), help="sandbox directory")
    parser.add_argument(
        "--exit", action="store_true", help="stop everything at the end instead of waiting"
    )
    args = parser.parse_args(argv)
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        print("error: kubectl is not on PATH (`make demo` installs it)", file=sys.stderr)
        return 1
    args.dir.mkdir(parents=True, exist_ok=True)
    log_path = args.dir / "demo.log"
    with log_path.open("a") as log:
        try:
            run(args.dir, kubectl, log, (lambda: None) if args.exit else _wait_for_ctrl_c)
        except DemoError as error:
            print(f"error: {error} (the processes' output is in {log_path})", file=sys.stderr)
            return 1
    return 0
