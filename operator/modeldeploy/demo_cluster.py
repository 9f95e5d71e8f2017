"""The demo's processes and the tools that drive them: `modeldeploy sandbox up` started as a
user starts it, every step through a real `kubectl` or `helm` (printed before it runs), and the
resource's changes as `kubectl get --watch` reports them."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

# The sandbox writes these into its directory (modeldeploy.sandbox is not imported: the demo
# drives it the way a user does, through its command line and the files it leaves).
KUBECONFIG_FILE = "kubeconfig"
PID_FILE = "sandbox.pid"
STEP_DEADLINE = 120.0
STOP_DEADLINE = 30.0


class DemoError(Exception):
    """A step that did not happen in time or failed; the message says which."""


def poll(condition: Callable[[], Any], what: str, deadline: float = STEP_DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise DemoError(f"timed out after {deadline:.0f}s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(url: str) -> bool:
    """Whether a GET of `url` is answered 200 (within 2 s)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Demo:
    """The processes of one demo run and the kubectl that talks to them."""

    def __init__(self, directory: Path, kubectl: str, helm: str, log: IO[str]) -> None:
        self.directory = directory.resolve()
        self.kubeconfig = self.directory / KUBECONFIG_FILE
        self.kubectl_binary = kubectl
        self.helm_binary = helm
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
        return self._run("kubectl", self.kubectl_command(), args, input, check, show)

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [self.helm_binary, "--kubeconfig", str(self.kubeconfig)]
        return self._run("helm", command, args, None, True, True)

    def _run(
        self,
        name: str,
        command: list[str],
        args: tuple[str, ...],
        input: str | None,
        check: bool,
        show: bool,
    ) -> subprocess.CompletedProcess[str]:
        if show:
            print(f"\n$ {name} {' '.join(args)}", flush=True)
        result = subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=STEP_DEADLINE,
            check=False,
        )
        if show:
            print((result.stdout + result.stderr).rstrip(), flush=True)
        if check and result.returncode != 0:
            raise DemoError(f"{name} {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def read(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed; None when kubectl fails (e.g. not there yet)."""
        result = self.kubectl(*args, "-o", "json", check=False, show=False)
        return json.loads(result.stdout) if result.returncode == 0 else None


def sandbox_ready(demo: Demo, sandbox: subprocess.Popen[bytes]) -> bool:
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


class ResourceWatch:
    """`kubectl get modeldeployments --watch -o json`: each object kubectl prints, in order.

    kubectl prints every object as indented JSON, so one ends at a `}` line of its own. A
    reader thread hands them over; a watch the server closes is started again.
    """

    def __init__(self, demo: Demo, namespace: str) -> None:
        self.demo = demo
        self.args = ("get", "modeldeployments", "-n", namespace, "--watch", "-o", "json")
        self.objects: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.process: subprocess.Popen[str] | None = None
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [*self.demo.kubectl_command(), *self.args],
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
                raise DemoError(f"`kubectl {' '.join(self.args)}` failed")
            self._start()
        return found

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=STOP_DEADLINE)
