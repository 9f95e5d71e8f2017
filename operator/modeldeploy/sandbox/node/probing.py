"""Running a container's startup, readiness and liveness probes and acting on their verdicts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.node.container import ContainerState
from modeldeploy.sandbox.node.probes import ExecRunner, ProbeState, probe_once

ChangeHandler = Callable[[bool], Awaitable[None]]


@dataclass(frozen=True)
class ProbeHooks:
    """What probing needs from the pod: where to probe and how to report."""

    pod_ip: str
    run_in_container: ExecRunner
    event: Callable[[str, str, str], Awaitable[None]]  # (type, reason, message)
    changed: Callable[[], None]  # the container's status changed


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


async def _watch_all(
    state: ContainerState, hooks: ProbeHooks, restart: Callable[[str], None]
) -> None:
    """Startup gates the others; readiness sets `ready`; a failed startup or liveness verdict
    calls `restart` with the probe's kind."""
    spec = state.spec
    if spec.get("startupProbe"):
        started = asyncio.Event()

        async def startup_changed(healthy: bool) -> None:
            if healthy:
                state.started = True
                hooks.changed()
                started.set()
            else:
                restart("startup")

        startup = ProbeState(spec["startupProbe"], healthy=False)
        task = asyncio.create_task(_watch(startup, "Startup", state, hooks, startup_changed))
        try:
            await started.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
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
                restart("liveness")

        liveness = ProbeState(spec["livenessProbe"], healthy=True)
        checks.append(_watch(liveness, "Liveness", state, hooks, liveness_changed))
    await asyncio.gather(*checks)


async def supervise_probes(state: ContainerState, hooks: ProbeHooks) -> str:
    """Probes one run of a container until a startup or liveness verdict fails, and returns
    which one ("startup"/"liveness"): the caller, which owns the process, restarts it. The
    probes never stop the process themselves, so the caller's cancellation (the container
    ended) cannot meet a probe that is still waiting for the same process to exit."""
    verdict: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def restart(kind: str) -> None:
        if not verdict.done():
            verdict.set_result(kind)

    watching = asyncio.create_task(_watch_all(state, hooks, restart))
    try:
        pending: set[asyncio.Future[Any]] = {verdict, watching}
        await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        if watching.done() and not verdict.done():
            watching.result()  # raises what stopped the probes
            await asyncio.Future()  # every probe ended (none left): wait to be cancelled
        return verdict.result()
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
