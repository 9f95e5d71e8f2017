"""A whole sandbox cluster per test: API server + controllers, scheduler and node agent.

The components run on their own event loop in a background thread with short
back-offs (Job retries 0.2 s, crash loops 0.5 s) so failure paths finish quickly, and
containers get 1 s after SIGTERM when the cluster stops.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.controllers.jobplan import Backoff
from modeldeploy.sandbox.node.agent import isolation_available
from modeldeploy.sandbox.node.components import run_components
from modeldeploy.sandbox.node.config import NodeConfig

T = TypeVar("T")
_STOP_TIMEOUT = 30.0


class Cluster:
    """The running cluster: `api` (kubernetes ApiClient), `core`, `apps`, `batch`, `directory`."""

    def __init__(
        self,
        sandbox: SandboxApi,
        isolate: bool | None = None,
        with_node: bool = True,
        node_grace_seconds: float = 40.0,
        nodes: tuple[NodeConfig, ...] = (),
    ) -> None:
        self.sandbox = sandbox
        self.nodes = nodes
        self.isolate = isolate
        self.with_node = with_node
        self.node_grace_seconds = node_grace_seconds
        self.directory = sandbox.directory
        self.api = k8s_config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        self.core = k8s.CoreV1Api(self.api)
        self.apps = k8s.AppsV1Api(self.api)
        self.batch = k8s.BatchV1Api(self.api)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="sandbox-components", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        try:
            self._loop.run_until_complete(
                run_components(
                    self.sandbox.kubeconfig,
                    self.directory,
                    self._stop,
                    job_backoff=Backoff(base_seconds=0.2, max_seconds=1.0),
                    crash_backoff=0.5,
                    isolate=self.isolate,
                    node_grace_seconds=self.node_grace_seconds,
                    with_node=self.with_node,
                    nodes=self.nodes,
                    # Nothing is sent to the pods once a test is over: no need to let model
                    # servers quiesce for their quiet period before they are killed.
                    shutdown_grace=1.0,
                )
            )
        except BaseException as error:  # surfaced by the tests through `self.error`
            self.error = error
        finally:
            self._loop.close()

    @property
    def isolated(self) -> bool:
        """Whether pods run in their own namespaces here (decided per machine when auto)."""
        if self.isolate is None:
            return isolation_available(self.directory / "isolation-probe")
        return self.isolate

    def start(self) -> None:
        self._thread.start()
        if self.with_node:
            wait_for(lambda: len(self.core.list_node().items) == 2 or None, "2 nodes registered")

    def stop(self) -> None:
        if self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(_STOP_TIMEOUT)
        self.api.close()
        assert self.error is None, f"cluster components failed: {self.error!r}"


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """Poll `check` until it returns something other than None/False, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and last is not False:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def pods_by_label(cluster: Cluster, selector: str, namespace: str = "default") -> list[Any]:
    return list(cluster.core.list_namespaced_pod(namespace, label_selector=selector).items)


def is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = next(
                line
                for line in (entry / "status").read_text().splitlines()
                if line.startswith("State:")
            )
        except (OSError, StopIteration):
            continue
        if marker in command and "zombie" not in state:
            found.append(int(entry.name))
    return found


@pytest.fixture(params=[None], ids=["auto"])
def cluster(sandbox_api: SandboxApi, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """Parametrize indirectly with False to run without mount/PID namespaces."""
    running = Cluster(sandbox_api, isolate=request.param)
    running.start()
    try:
        yield running
    finally:
        running.stop()
