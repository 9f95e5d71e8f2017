"""One pod on the node: images, volumes, init containers, containers, probes and status."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import shutil
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.sandbox.apiserver.logs import pod_log_dir
from modeldeploy.sandbox.controllers.client import API_ERRORS, PODS, ApiError, KubeClient, Obj
from modeldeploy.sandbox.controllers.clock import format_time, utc_now
from modeldeploy.sandbox.node.container import ContainerState, terminated_state
from modeldeploy.sandbox.node.env import (
    ConfigError,
    Lookup,
    api_server_env,
    container_env,
    expand,
)
from modeldeploy.sandbox.node.events import EventRecorder, container_field_path
from modeldeploy.sandbox.node.images import (
    ImageNotFoundError,
    command_line,
    entrypoint,
    installation_paths,
)
from modeldeploy.sandbox.node.probes import run_exec
from modeldeploy.sandbox.node.probing import ProbeHooks, supervise_probes
from modeldeploy.sandbox.node.qos import qos_class
from modeldeploy.sandbox.node.runtime import (
    ContainerFiles,
    ContainerProcess,
    Exit,
    start_container,
    translate,
)
from modeldeploy.sandbox.node.status import pod_conditions, pod_phase
from modeldeploy.sandbox.node.volumes import (
    Fetch,
    Mount,
    TokenSource,
    VolumeError,
    container_mounts,
    prepare_volumes,
    read_only_volumes,
    refresh_tokens,
    token_lifetime,
)

log = logging.getLogger(__name__)

PUBLISH_ON_SHUTDOWN_SECONDS = 5.0
# pkg/kubelet/token/token_manager.go: a token is renewed once 80% of its lifetime has passed.
TOKEN_REFRESH_FRACTION = 0.8
_VOLUME_RETRIES: tuple[type[Exception], ...] = (VolumeError, *API_ERRORS)
_CONFIG_RETRIES: tuple[type[Exception], ...] = (ConfigError, VolumeError, *API_ERRORS)
COMPONENT = "kubelet"


@dataclass(frozen=True)
class NodeRuntime:
    """What every pod worker of an agent shares."""

    client: KubeClient
    node_name: str
    host_ip: str
    claims_root: Path
    pods_root: Path
    log_root: Path
    isolate: bool
    fetch: Fetch
    lookup: Lookup
    tokens: TokenSource
    crash_backoff: float = 10.0
    max_backoff: float = 300.0


def _backoff(base: float, cap: float, attempt: int) -> float:
    return float(min(base * 2 ** max(attempt - 1, 0), cap))


class PodWorker:
    """Drives one pod from bound to deleted. `update()` feeds it the newest pod object."""

    def __init__(self, runtime: NodeRuntime, pod: Obj, pod_ip: str) -> None:
        self.runtime = runtime
        self.pod = pod
        self.pod_ip = pod_ip
        metadata = pod["metadata"]
        self.uid = str(metadata["uid"])
        self.folder = runtime.pods_root / f"{metadata['namespace']}_{metadata['name']}_{self.uid}"
        spec = pod.get("spec") or {}
        self.init_states = [ContainerState(c, self.uid) for c in spec.get("initContainers") or []]
        self.states = [ContainerState(c, self.uid) for c in spec.get("containers") or []]
        if self.init_states:
            for state in self.states:
                state.wait("PodInitializing")
        self.sandbox_ready = False
        self.init_done = not self.init_states
        self.start_time = str((pod.get("status") or {}).get("startTime") or format_time(utc_now()))
        self._mounts: dict[str, list[Mount]] = {}
        self._changed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._published: dict[str, Any] | None = None
        self.deletion = asyncio.Event()
        self.recorder = EventRecorder(runtime.client, COMPONENT, runtime.node_name)
        self.removed = False
        self.stopping = False  # the agent is shutting down: nothing is ready any more
        # A pod that ended before the agent restarted keeps its final status untouched.
        self.finished_before = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        self._adopt_previous_run(pod.get("status") or {})
        self.update(pod)

    def _adopt_previous_run(self, status: Mapping[str, Any]) -> None:
        """A pod this node ran before the agent restarted: its processes are gone."""
        previous = {s.get("name"): s for s in status.get("containerStatuses") or []}
        for state in self.states:
            before = previous.get(state.name)
            if not before:
                continue
            ran = "running" in (before.get("state") or {}) or "terminated" in (
                before.get("state") or {}
            )
            state.restart_count = int(before.get("restartCount") or 0) + (1 if ran else 0)
            recorded = (before.get("state") or {}).get("terminated")
            if recorded:  # stopped by the agent's shutdown, which recorded how it ended
                state.last_state = {"terminated": recorded}
            elif ran:
                state.last_state = {
                    "terminated": {
                        "exitCode": 137,
                        "reason": "ContainerStatusUnknown",
                        "message": "The container could not be located when the node restarted",
                    }
                }

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def restart_policy(self) -> str:
        return str((self.pod.get("spec") or {}).get("restartPolicy") or "Always")

    def container(self, name: str) -> ContainerState | None:
        return next((s for s in [*self.init_states, *self.states] if s.name == name), None)

    def update(self, pod: Obj) -> None:
        """The newest pod object; waits are cut short only by spec changes (new images), not by
        the status updates this worker itself writes."""
        if pod.get("spec") != self.pod.get("spec"):
            self._changed.set()
        self.pod = pod
        if pod["metadata"].get("deletionTimestamp"):
            self.deletion.set()

    def gone(self) -> None:
        """The pod object was removed from the API (forced deletion): stop at once."""
        self.removed = True
        self.deletion.set()

    def mark_dirty(self) -> None:
        self._dirty.set()

    async def _sleep_or_change(self, seconds: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._changed.wait()

    async def event(self, kind: str, reason: str, message: str, container: str = "") -> None:
        """Records an event on the pod (about one of its containers when named); repeats are
        counted on the same object, as the kubelet's recorder does."""
        field_path = container_field_path(self.pod, container) if container else ""
        await self.recorder.record(
            {"apiVersion": "v1", "kind": "Pod", **self.pod}, kind, reason, message, field_path
        )

    # ---- status -------------------------------------------------------------------------------

    def current_status(self) -> dict[str, Any]:
        init_statuses = [s.status() for s in self.init_states]
        statuses = [s.status() for s in self.states]
        if self.stopping:
            for container_status in statuses:
                container_status["ready"] = False
        phase = pod_phase(self.restart_policy, init_statuses, statuses, self.init_done)
        previous = (self.pod.get("status") or {}).get("conditions") or []
        conditions = pod_conditions(
            previous, utc_now(), self.sandbox_ready, init_statuses, self.init_done, statuses, phase
        )
        status: dict[str, Any] = {
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.runtime.host_ip,
            "hostIPs": [{"ip": self.runtime.host_ip}],
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": self.start_time,
            "containerStatuses": statuses,
            "qosClass": qos_class(self.pod),
        }
        if init_statuses:
            status["initContainerStatuses"] = init_statuses
        return status

    async def publish_loop(self) -> None:
        """Writes pods/status whenever something changed (coalescing bursts); an API server
        that does not answer gets the newest status once it is back."""
        while True:
            await self._dirty.wait()
            await asyncio.sleep(0.02)
            self._dirty.clear()
            try:
                await self.publish()
            except Exception as error:  # any error: this writer must keep running
                log.warning(
                    "pod %s/%s: status not written yet: %r", self.namespace, self.name, error
                )
                self._dirty.set()
                await asyncio.sleep(1.0)

    async def publish(self) -> None:
        if self.finished_before:
            return
        status = self.current_status()
        comparable = _without_times(status)
        if comparable == self._published:
            return
        try:
            updated = await self.runtime.client.merge_patch(
                PODS.path(self.namespace, self.name, "status"), {"status": status}
            )
        except ApiError as error:
            if error.status == 404:
                return
            raise
        self._published = comparable
        self.pod = {**self.pod, "status": updated.get("status", status)}

    # ---- lifecycle ----------------------------------------------------------------------------

    async def main(self, shutdown_grace: float) -> None:
        """The pod's whole life on this node; cancelled when the agent stops."""
        publisher = asyncio.create_task(self.publish_loop())
        lifecycle = asyncio.create_task(self.run())
        lifecycle.add_done_callback(self._report_failure)
        try:
            await self.deletion.wait()
            lifecycle.cancel()
            await asyncio.gather(lifecycle, return_exceptions=True)
            if not self.removed:
                # "On deletion, the Pod automatically puts itself into an unready state ...
                # while it waits for the containers in the Pod to stop" (the Pod lifecycle
                # docs): its servers may go on answering for a while (quiescing), not ready.
                await self.mark_not_ready()
                for state in self._running():
                    message = f"Stopping container {state.name}"
                    await self.event("Normal", "Killing", message, state.name)
            await self.stop_containers(0 if self.removed else self.grace_seconds())
            await self._record_stopped()
            if not self.removed:
                await self._delete_from_api()
            self.remove_files()
        finally:
            lifecycle.cancel()
            await asyncio.gather(lifecycle, return_exceptions=True)
            await self.stop_containers(shutdown_grace)
            if not self.deletion.is_set():  # the agent stops: say how its containers ended
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PUBLISH_ON_SHUTDOWN_SECONDS):
                        await self._record_stopped()
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)

    async def mark_not_ready(self) -> None:
        """Before the agent stops the containers: Ready=False and no container ready in the
        API, so that no Service sends traffic to a pod about to lose its processes (the
        kubelet's way on a graceful node shutdown). Bounded: an absent API server does not
        hold up the shutdown."""
        self.stopping = True
        for state in [*self.init_states, *self.states]:
            state.ready = False
        with contextlib.suppress(TimeoutError, *API_ERRORS):
            async with asyncio.timeout(PUBLISH_ON_SHUTDOWN_SECONDS):
                await self.publish()

    def _running(self) -> list[ContainerState]:
        return [s for s in [*self.init_states, *self.states] if "running" in s.state]

    def _report_failure(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("pod %s/%s stopped progressing: %r", self.namespace, self.name, error)

    async def _record_stopped(self) -> None:
        for state in self._running():
            if state.process is not None:
                result = await state.process.wait()
                state.ready = False
                state.state = {"terminated": terminated_state(state, state.process.files, result)}
        if not self.removed:
            with contextlib.suppress(*API_ERRORS):
                await self.publish()

    async def _delete_from_api(self) -> None:
        """The final DELETE (grace 0), retried until the API server takes it."""
        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
        for attempt in itertools.count():
            try:
                await self.runtime.client.delete(PODS.path(self.namespace, self.name), body)
                return
            except ApiError as error:
                if error.status in (404, 409):
                    return  # gone already, or a new pod of the same name
            except API_ERRORS:
                pass
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))

    async def run(self) -> None:
        """Until the pod ends (or forever for pods that keep running); deletion cancels it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mark_dirty()
        if self.finished_before:
            return  # finished before the agent restarted: nothing runs again
        if self.restart_policy == "Never" and any(s.last_state for s in self.states):
            for state in self.states:
                state.state, state.last_state = state.last_state or state.state, {}
            self.sandbox_ready = self.init_done = True
            return
        if not await self._images_available():
            return
        volumes = await self._volumes()
        refresher = asyncio.create_task(self._refresh_tokens(volumes))
        try:
            self.sandbox_ready = True
            self.mark_dirty()
            for state in self.init_states:
                if not await self._run_init(state, volumes):
                    self.mark_dirty()
                    return
            self.init_done = True
            self.mark_dirty()
            await asyncio.gather(*(self._supervise(state, volumes) for state in self.states))
            self.mark_dirty()
        finally:
            refresher.cancel()

    async def _refresh_tokens(self, volumes: Mapping[str, Path]) -> None:
        """Renew projected tokens at 80% of their lifetime, as the kubelet's token manager."""
        lifetime = token_lifetime(self.pod)
        while lifetime is not None:
            wait = lifetime * TOKEN_REFRESH_FRACTION
            await asyncio.sleep(wait)
            try:
                lifetime = await refresh_tokens(self.pod, volumes, self.runtime.tokens)
            except API_ERRORS as error:
                await self.event("Warning", "FailedMount", f"token refresh failed: {error}")
                lifetime = max(int(wait * (1 - TOKEN_REFRESH_FRACTION)), 1)

    async def _images_available(self) -> bool:
        attempt = 0
        while True:
            missing: list[tuple[ContainerState, str]] = []
            for state in [*self.init_states, *self.states]:
                try:
                    entrypoint(str(state.spec.get("image", "")))
                except ImageNotFoundError as error:
                    missing.append((state, str(error)))
            if not missing:
                return True
            attempt += 1
            for state, message in missing:
                state.wait("ErrImagePull", message)
                await self.event(
                    "Warning",
                    "Failed",
                    f'Failed to pull image "{state.spec.get("image")}": {message}',
                    state.name,
                )
            self.mark_dirty()
            await self._sleep_or_change(1.0)
            for state, _ in missing:
                back_off = f'Back-off pulling image "{state.spec.get("image")}"'
                state.wait("ImagePullBackOff", back_off)
                await self.event("Normal", "BackOff", back_off, state.name)
            self.mark_dirty()
            await self._sleep_or_change(
                _backoff(self.runtime.crash_backoff, self.runtime.max_backoff, attempt)
            )
            self._refresh_specs()

    def _refresh_specs(self) -> None:
        """Container images may be changed on a live pod; take the newest spec."""
        spec = self.pod.get("spec") or {}
        for states, key in ((self.init_states, "initContainers"), (self.states, "containers")):
            by_name = {c["name"]: c for c in spec.get(key) or []}
            for state in states:
                state.spec = by_name.get(state.name, state.spec)

    async def _volumes(self) -> dict[str, Path]:
        attempt = 0
        while True:
            try:
                return await prepare_volumes(
                    self.pod,
                    self.folder,
                    self.runtime.claims_root,
                    self.runtime.fetch,
                    self.runtime.tokens,
                    self.pod_ip,
                    self.runtime.host_ip,
                )
            except _VOLUME_RETRIES as error:
                attempt += 1
                await self.event("Warning", "FailedMount", f"MountVolume.SetUp failed: {error}")
                await self._sleep_or_change(min(0.5 * attempt, 5.0))

    async def _run_init(self, state: ContainerState, volumes: Mapping[str, Path]) -> bool:
        attempt = 0
        while True:
            result = await self._run_once(state, volumes, probes=False)
            if result is not None and result.code == 0:
                return True
            if self.restart_policy == "Never" and result is not None:
                return False
            attempt += 1
            await self._crash_backoff(state, attempt)

    async def _supervise(self, state: ContainerState, volumes: Mapping[str, Path]) -> None:
        attempt = 0
        while True:
            result = await self._run_once(state, volumes, probes=True)
            if result is not None:
                if self.restart_policy == "Never" or (
                    self.restart_policy == "OnFailure" and result.code == 0
                ):
                    return
                ran = (result.finished_at - result.started_at).total_seconds()
                attempt = 1 if ran > 600 else attempt + 1
            else:
                attempt += 1
            await self._crash_backoff(state, attempt)

    async def _crash_backoff(self, state: ContainerState, attempt: int) -> None:
        delay = _backoff(self.runtime.crash_backoff, self.runtime.max_backoff, attempt)
        if "terminated" in state.state:  # else it keeps its reason (CreateContainerConfigError)
            state.last_state = state.state
            state.restart_count += 1
            state.wait(
                "CrashLoopBackOff",
                f"back-off {delay:g}s restarting failed container={state.name} "
                f"pod={self.name}_{self.namespace}({self.uid})",
            )
            self.mark_dirty()
            message = (
                f"Back-off restarting failed container {state.name} in pod "
                f"{self.name}_{self.namespace}({self.uid})"
            )
            await self.event("Warning", "BackOff", message, state.name)
        else:  # a configuration error is retried at the base pace: it may be fixed any time
            delay = self.runtime.crash_backoff
        await asyncio.sleep(delay)

    async def _prepare(
        self, state: ContainerState, volumes: Mapping[str, Path]
    ) -> tuple[list[str], dict[str, str]] | None:
        spec = state.spec
        try:
            env = await container_env(
                self.pod,
                spec,
                self.runtime.lookup,
                self.pod_ip,
                self.runtime.host_ip,
                api_server_env(self.runtime.client.server),
            )
            mounts = container_mounts(spec, volumes, read_only_volumes(self.pod))
        except _CONFIG_RETRIES as error:
            state.wait("CreateContainerConfigError", str(error))
            await self.event("Warning", "Failed", f"Error: {error}", state.name)
            self.mark_dirty()
            return None
        argv = command_line(str(spec.get("image", "")), spec.get("command"), spec.get("args"))
        argv = [expand(str(arg), env) for arg in argv]
        self._mounts[state.name] = mounts
        return argv, env

    async def _run_once(
        self, state: ContainerState, volumes: Mapping[str, Path], probes: bool
    ) -> Exit | None:
        """One run of a container; None when it could not even start. Events as the kubelet's
        startContainer (pkg/kubelet/kuberuntime/kuberuntime_container.go): Pulled, Created,
        Started."""
        image = state.spec.get("image")
        present = (
            f'Container image "{image}" already present on machine and can be accessed by the pod'
        )
        await self.event("Normal", "Pulled", present, state.name)
        prepared = await self._prepare(state, volumes)
        if prepared is None:
            return None
        argv, env = prepared
        spec = state.spec
        logs = pod_log_dir(self.runtime.log_root, self.namespace, self.name, self.uid)
        files = ContainerFiles(self.folder / "containers" / state.name, logs / state.name)
        await self.event("Normal", "Created", "Container created", state.name)
        process = await start_container(
            files,
            state.restart_count,
            argv,
            env,
            str(spec.get("workingDir") or ""),
            self._mounts[state.name],
            str(spec.get("terminationMessagePath") or "/dev/termination-log"),
            self.runtime.isolate,
            self.name,
        )
        state.process = process
        state.state = {"running": {"startedAt": format_time(process.started_at)}}
        state.started = not spec.get("startupProbe")
        state.ready = probes and state.started and not spec.get("readinessProbe")
        self.mark_dirty()
        await self.event("Normal", "Started", "Container started", state.name)
        result = await self._wait_probing(state, process, env) if probes else await process.wait()
        state.ready = False
        state.state = {"terminated": terminated_state(state, files, result)}
        self.mark_dirty()
        if result.start_error:
            await self.event("Warning", "Failed", f"Error: {result.start_error}", state.name)
        return result

    async def _wait_probing(
        self, state: ContainerState, process: ContainerProcess, env: Mapping[str, str]
    ) -> Exit:
        """Waits for the run to end while its probes run; a failed liveness or startup verdict
        stops it (then restartPolicy decides, as after any exit)."""
        exited = asyncio.ensure_future(process.wait())
        probing = asyncio.create_task(supervise_probes(state, self._probe_hooks(state, env)))
        try:
            await asyncio.wait({exited, probing}, return_when=asyncio.FIRST_COMPLETED)
            if probing.done() and not exited.done():
                if probing.exception() is not None:
                    log.error(
                        "pod %s/%s: probes failed: %r",
                        self.namespace,
                        self.name,
                        probing.exception(),
                    )
                else:
                    message = (
                        f"Container {state.name} failed {probing.result()} probe, will be restarted"
                    )
                    await self.event("Normal", "Killing", message, state.name)
                    await process.stop(self.grace_seconds())
            return await exited
        finally:
            probing.cancel()
            exited.cancel()
            await asyncio.gather(probing, exited, return_exceptions=True)

    async def exec_in(
        self, state: ContainerState, env: Mapping[str, str], argv: Sequence[str], timeout: float
    ) -> tuple[int, str]:
        """Runs a command inside the container's namespaces (exec probes)."""
        process = state.process
        init_pid = process.init_pid() if process is not None else None
        if self.runtime.isolate and init_pid:
            command = ["nsenter", "-t", str(init_pid), "-m", "-u", "-p", "-r", "-w", "--", *argv]
            return await run_exec(command, env, None, timeout)
        mounts = self._mounts.get(state.name, [])
        keep = installation_paths()
        command = [translate(arg, mounts, keep) for arg in argv]  # as the container saw them
        working_dir = translate(str(state.spec.get("workingDir") or ""), mounts, keep)
        return await run_exec(command, env, working_dir or None, timeout)

    def _probe_hooks(self, state: ContainerState, env: Mapping[str, str]) -> ProbeHooks:
        def run_in_container(argv: Sequence[str], timeout: float) -> Awaitable[tuple[int, str]]:
            return self.exec_in(state, env, argv, timeout)

        def event(kind: str, reason: str, message: str) -> Awaitable[None]:
            return self.event(kind, reason, message, state.name)

        return ProbeHooks(self.pod_ip, run_in_container, event, self.mark_dirty)

    def grace_seconds(self) -> float:
        metadata = self.pod["metadata"]
        grace = metadata.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
        return float(grace)

    async def stop_containers(self, grace: float) -> None:
        running = [s.process for s in [*self.init_states, *self.states] if s.process is not None]
        await asyncio.gather(*(process.stop(grace) for process in running))

    def remove_files(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        logs = pod_log_dir(self.runtime.log_root, self.namespace, self.name, self.uid)
        shutil.rmtree(logs, ignore_errors=True)


def _without_times(status: Mapping[str, Any]) -> dict[str, Any]:
    """The status minus probe/heartbeat stamps, to skip writes that change nothing."""
    copy = dict(status)
    copy["conditions"] = [
        {k: v for k, v in c.items() if k not in ("lastProbeTime",)}
        for c in status.get("conditions") or []
    ]
    return copy
