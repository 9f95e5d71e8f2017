"""Container probes (httpGet, tcpSocket, exec) and their threshold bookkeeping."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

Obj = Mapping[str, Any]
# runs a command inside the container: (argv, timeout seconds) -> (exit code, output)
ExecRunner = Callable[[Sequence[str], float], Awaitable[tuple[int, str]]]


@dataclass(frozen=True)
class ProbeResult:
    success: bool
    message: str = ""


def resolve_port(port: int | str, container: Obj) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"port {port!r} is not a named port of container {container.get('name')}")


async def _http_get(action: Obj, pod_ip: str, container: Obj, timeout: float) -> ProbeResult:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port", 80), container)
    path = "/" + str(action.get("path", "/")).lstrip("/")
    url = f"{str(action.get('scheme', 'HTTP')).lower()}://{host}:{port}{path}"
    headers = {h["name"]: h.get("value", "") for h in action.get("httpHeaders") or []}
    headers.setdefault("User-Agent", "kube-probe/1.36")
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, headers=headers, ssl=False, allow_redirects=False) as response,
        ):
            if 200 <= response.status < 400:
                return ProbeResult(True)
            return ProbeResult(False, f"HTTP probe failed with statuscode: {response.status}")
    except TimeoutError:  # Go's net/http wording, as the kubelet's prober reports it
        message = (
            f'Get "{url}": context deadline exceeded '
            "(Client.Timeout exceeded while awaiting headers)"
        )
        return ProbeResult(False, message)
    except (aiohttp.ClientError, OSError) as error:
        return ProbeResult(False, f'Get "{url}": dial tcp {host}:{port}: connect: {_reason(error)}')


def _reason(error: BaseException) -> str:
    """The system error as Go words it (`connection refused`: strerror in lower case)."""
    cause = getattr(error, "os_error", None) or error
    number = getattr(cause, "errno", None)
    if isinstance(number, int) and number > 0:
        text = os.strerror(number)
        return text[:1].lower() + text[1:]
    return str(error)


async def _tcp(action: Obj, pod_ip: str, container: Obj, timeout: float) -> ProbeResult:
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port", 0), container)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeResult(False, f"dial tcp {host}:{port}: i/o timeout")
    except OSError as error:
        return ProbeResult(False, f"dial tcp {host}:{port}: connect: {_reason(error)}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True)


async def run_exec(
    argv: Sequence[str], env: Mapping[str, str], cwd: str | None, timeout: float
) -> tuple[int, str]:
    """A short command with a deadline; its whole process group is killed on timeout."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=dict(env),
        cwd=cwd or None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(timeout):
            output, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        return -1, f"command timed out after {timeout:g}s"
    return int(process.returncode or 0), output.decode("utf-8", "replace")


async def probe_once(
    probe: Obj, pod_ip: str, container: Obj, run_in_container: ExecRunner
) -> ProbeResult:
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        if "httpGet" in probe:
            return await _http_get(probe["httpGet"], pod_ip, container, timeout)
        if "tcpSocket" in probe:
            return await _tcp(probe["tcpSocket"], pod_ip, container, timeout)
        if "exec" in probe:
            code, output = await run_in_container(probe["exec"].get("command") or [], timeout)
            if code == 0:
                return ProbeResult(True)
            return ProbeResult(False, output.strip() or f"command exited with {code}")
    except (ValueError, OSError) as error:
        return ProbeResult(False, str(error))
    return ProbeResult(False, "probe has no supported handler (httpGet, tcpSocket, exec)")


@dataclass
class ProbeState:
    """Consecutive results against success/failure thresholds; `healthy` is the verdict."""

    probe: Obj
    healthy: bool
    successes: int = 0
    failures: int = 0
    last_message: str = ""

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds", 10))

    @property
    def initial_delay(self) -> float:
        return float(self.probe.get("initialDelaySeconds", 0))

    def record(self, result: ProbeResult) -> bool:
        """Adds one result; True when the verdict changed."""
        before = self.healthy
        if result.success:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.probe.get("successThreshold", 1)):
                self.healthy = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            self.last_message = result.message
            if self.failures >= int(self.probe.get("failureThreshold", 3)):
                self.healthy = False
        return before != self.healthy
