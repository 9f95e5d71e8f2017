"""`modeldeploy demo`: a local cluster (the sandbox), the CRD, the operator and an example.

Everything runs as the user would run it: `modeldeploy sandbox up` and `modeldeploy operator`
as separate processes, and every step through a real `kubectl`, printed before it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import yaml

# The sandbox writes these into its directory (modeldeploy.sandbox is not imported: the demo
# drives it the way a user does, through its command line and the files it leaves).
KUBECONFIG_FILE = "kubeconfig"
PID_FILE = "sandbox.pid"
NAMESPACE = "ml"
EXAMPLE = "digits-quantized-canary.yaml"
CONDITIONS_JSONPATH = (
    "jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{'\\n'}{end}"
)
STEP_DEADLINE = 120.0
STOP_DEADLINE = 30.0


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
    """`crds/` and `examples/`: in a source checkout, next to the `operator/` source root."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "crds").is_dir() or not (root / "examples" / EXAMPLE).is_file():
        raise DemoError(f"run the demo from a source checkout: no crds/ and examples/ in {root}")
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

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, show: bool = True
    ) -> subprocess.CompletedProcess[str]:
        if show:
            print(f"\n$ kubectl {' '.join(args)}", flush=True)
        result = subprocess.run(
            [self.kubectl_binary, "--kubeconfig", str(self.kubeconfig), *args],
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


def _accepted(demo: Demo, name: str) -> dict[str, Any] | None:
    resource = demo.read("get", "modeldeployment", name, "-n", NAMESPACE)
    conditions = ((resource or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Accepted"), None)


def _invalid_variant(example: dict[str, Any]) -> dict[str, Any]:
    """The example with canary weights that go down: the API server must refuse it."""
    bad = {**example, "metadata": {**example["metadata"], "name": "digits-bad-steps"}}
    bad["spec"] = {**example["spec"], "rollout": {"steps": [{"weight": 50}, {"weight": 20}]}}
    return bad


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
        example_path = root / "examples" / EXAMPLE
        demo.kubectl("apply", "-f", str(example_path))
        example = yaml.safe_load(example_path.read_text())
        name = example["metadata"]["name"]
        accepted = _poll(lambda: _accepted(demo, name), f"the Accepted condition of {name}")
        if accepted["status"] != "True":
            raise DemoError(f"{name} was not accepted: {accepted.get('message')}")
        demo.kubectl("get", "modeldeployments", "-n", NAMESPACE)
        demo.kubectl(
            "get",
            "modeldeployment",
            name,
            "-n",
            NAMESPACE,
            "-o",
            CONDITIONS_JSONPATH,
        )

        print("\na resource with canary weights that go down is refused, naming the field:")
        refused = demo.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump(_invalid_variant(example)), check=False
        )
        if refused.returncode == 0 or "spec.rollout.steps" not in refused.stderr:
            raise DemoError("the API server accepted a resource with decreasing canary weights")

        print(f"\nthe cluster is up: export KUBECONFIG={demo.kubeconfig}", flush=True)
        wait()
    finally:
        demo.stop_all()


def _wait_for_ctrl_c() -> None:
    print("Ctrl-C stops the operator and the cluster.", flush=True)
    stopped = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            while not stopped:
                signal.pause()
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="modeldeploy demo",
        description="Start a local cluster with the operator and apply an example resource.",
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
