"""Running a container's startup, readiness and liveness probes and acting on their verdicts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from modeldeploy.sandbox.node.container import ContainerState
from modeldeploy.sandbox.node.probes import ExecRunner, ProbeState, probe_once
from modeldeploy.sandbox.node.runtime import ContainerProcess

ChangeHandler = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True)
class ProbeHooks:
    """What probing needs from the pod: where to probe and how to report."""

    pod_ip: str
    run_in_container: ExecRunner
    event: Callable[[str, str, str], Awaitable[None]]  # (type, reason, message)
    changed: Callable[[], None]  # the container's status changed
    grace_seconds: Callable[[], float]


async def _watch(
    probe: ProbeState, kind: str, state: ContainerState, hooks: ProbeHooks, on_change: ChangeHandler
) -> None:
    await asyncio.sleep(probe.initial_delay)
    while True:
        result = await probe_once(probe.probe, hooks.pod_ip, state.spec, hooks.run_in_container)
        if not result.success:
            await hooks.event("Warning", "Unhealthy", f"{kind} probe failed: {result.message}")
        if probe.record(result):
            await on_change(probe.healthy)
        await asyncio.sleep(probe.period)


async def supervise_probes(
    state: ContainerState, process: ContainerProcess, hooks: ProbeHooks
) -> None:
    """Until cancelled (when the container ends): startup gates the others; readiness sets
    `ready`; a failed startup or liveness probe stops the process so that it is restarted."""
    spec = state.spec

    async def restart(kind: str) -> None:
        message = f"Container {state.name} failed {kind} probe, will be restarted"
        await hooks.event("Normal", "Killing", message)
        await process.stop(hooks.grace_seconds())

    if spec.get("startupProbe"):
        started = asyncio.Event()

        async def startup_changed(healthy: bool) -> None:
            if healthy:
                state.started = True
                hooks.changed()
                started.set()
            else:
                await restart("startup")

        startup = ProbeState(spec["startupProbe"], healthy=False)
        task = asyncio.create_task(_watch(startup, "Startup", state, hooks, startup_changed))
        await started.wait()
        task.cancel()
    checks = []
    if spec.get("readinessProbe"):

        async def readiness_changed(healthy: bool) -> None:
            state.ready = healthy
            hooks.changed()

        readiness = ProbeState(spec["readinessProbe"], healthy=False)
        checks.append(_watch(readiness, "Readiness", state, hooks, readiness_changed))
    else:
        state.ready = True
        hooks.changed()
    if spec.get("livenessProbe"):

        async def liveness_changed(healthy: bool) -> None:
            if not healthy:
                await restart("liveness")

        liveness = ProbeState(spec["livenessProbe"], healthy=True)
        checks.append(_watch(liveness, "Liveness", state, hooks, liveness_changed))
    await asyncio.gather(*checks)
