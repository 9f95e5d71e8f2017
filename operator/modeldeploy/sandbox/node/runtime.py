"""Container processes: started through launcher.py, logged in CRI format, stopped by group."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from modeldeploy.sandbox.apiserver.logs import cri_lines, timestamp_now
from modeldeploy.sandbox.controllers.clock import utc_now
from modeldeploy.sandbox.node.images import covered_installation, installation_paths
from modeldeploy.sandbox.node.volumes import Mount

LAUNCHER = Path(__file__).with_name("launcher.py")
START_TIMEOUT = 30.0


@dataclass
class ContainerFiles:
    """Per-container files: state under the pod's directory, logs where the API server reads
    them (`<log dir>/<namespace>_<pod>_<uid>/<container>/<restartCount>.log`)."""

    folder: Path
    log_folder: Path

    @property
    def termination_log(self) -> Path:
        return self.folder / "termination-log"

    @property
    def start_error(self) -> Path:
        return self.folder / "start-error"

    def log(self, restart: int) -> Path:
        return self.log_folder / f"{restart}.log"


@dataclass
class Exit:
    code: int
    started_at: datetime
    finished_at: datetime
    start_error: str = ""
    signal_name: str = ""


def translate(text: str, mounts: Sequence[Mount], keep: Sequence[str] = ()) -> str:
    """Fallback without mount namespaces: container paths become their host directories,
    except paths inside `keep` (the local installation, which no volume hides)."""

    def replace(match: re.Match[str], mount: Mount) -> str:
        path = re.match(r"[^\s:;,'\"=]*", text[match.start() :])
        whole = path[0] if path else match[0]
        if any(whole == k or whole.startswith(k.rstrip("/") + "/") for k in keep):
            return match[0]
        return mount.source

    for mount in sorted(mounts, key=lambda m: len(m.target), reverse=True):
        pattern = rf"(?<![\w./-]){re.escape(mount.target)}(?=/|$|[^\w.-])"
        text = re.sub(pattern, lambda match, m=mount: replace(match, m), text)  # type: ignore[misc]
    return text


@dataclass
class ContainerProcess:
    """One run of a container; `wait()` gives its Exit, `stop(grace)` ends it."""

    files: ContainerFiles
    restart: int
    process: asyncio.subprocess.Process
    started_at: datetime
    pumps: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def init_pid(self) -> int | None:
        """The container's PID 1 (isolated runs) for entering its namespaces."""
        try:
            return int((self.files.folder / "init.pid").read_text())
        except (OSError, ValueError):
            return None

    def _signal_group(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, number)

    async def wait(self) -> Exit:
        code = await self.process.wait()
        self._signal_group(signal.SIGKILL)  # nothing the container started survives it
        await asyncio.gather(*self.pumps, return_exceptions=True)
        start_error = ""
        with contextlib.suppress(OSError):
            start_error = self.files.start_error.read_text().strip()
        signal_name = ""
        if code < 0:
            signal_name = signal.Signals(-code).name
            code = 128 - code
        return Exit(code, self.started_at, utc_now(), start_error, signal_name)

    async def stop(self, grace: float) -> None:
        """SIGTERM to the whole group, then SIGKILL after `grace` seconds."""
        if self.process.returncode is not None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            async with asyncio.timeout(max(grace, 0)):
                await asyncio.shield(self.process.wait())
        except TimeoutError:
            self._signal_group(signal.SIGKILL)
            await self.process.wait()


async def _pump(stream: asyncio.StreamReader, log: Path, name: str) -> None:
    """Copy a stream into the container's log file as it comes, in the CRI log format (stdout
    and stderr interleave, line by line)."""
    pending = b""
    with log.open("ab", buffering=0) as out:
        while chunk := await stream.read(65536):
            lines, pending = cri_lines(name, pending + chunk, False, timestamp_now())
            if lines:
                out.write(lines)
        lines, _ = cri_lines(name, pending, True, timestamp_now())
        if lines:
            out.write(lines)


async def _until_closed(fd: int) -> None:
    """Waits for EOF on a pipe (every writer gone), giving up after START_TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    pipe = os.fdopen(fd, "rb", buffering=0)
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    try:
        async with asyncio.timeout(START_TIMEOUT):
            await reader.read()
    except TimeoutError:
        pass
    finally:
        transport.close()


async def start_container(
    files: ContainerFiles,
    restart: int,
    argv: Sequence[str],
    env: Mapping[str, str],
    working_dir: str,
    mounts: Sequence[Mount],
    termination_path: str,
    isolate: bool,
    hostname: str,
) -> ContainerProcess:
    files.folder.mkdir(parents=True, exist_ok=True)
    files.log(restart).parent.mkdir(parents=True, exist_ok=True)
    layer = files.folder / "layer"
    if layer.exists():  # a restarted container starts from a fresh writable layer
        shutil.rmtree(layer, ignore_errors=True)
    files.termination_log.write_text("")
    files.start_error.unlink(missing_ok=True)
    (files.folder / "init.pid").unlink(missing_ok=True)
    all_mounts = [*mounts, Mount(str(files.termination_log), termination_path, False)]
    keep = installation_paths()
    if not isolate:
        argv = [translate(arg, all_mounts, keep) for arg in argv]
        env = {name: translate(value, all_mounts, keep) for name, value in env.items()}
        working_dir = translate(working_dir, all_mounts, keep) if working_dir else ""
    spec = {
        "isolate": isolate,
        "layer": str(layer),
        "startErrorFile": str(files.start_error),
        "initPidFile": str(files.folder / "init.pid"),
        "hostname": hostname,
        "mounts": [
            {"source": m.source, "target": m.target, "readOnly": m.read_only} for m in all_mounts
        ],
        "keepVisible": covered_installation([m.target for m in all_mounts]),
        "workingDir": working_dir,
        "argv": list(argv),
        "env": dict(env),
    }
    started_r, started_w = os.pipe()
    spec["startedFd"] = started_w
    spec_file = files.folder / "launch.json"
    spec_file.write_text(json.dumps(spec))
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            str(LAUNCHER),
            str(spec_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            pass_fds=(started_w,),
        )
    finally:
        os.close(started_w)
    await _until_closed(started_r)
    running = ContainerProcess(files, restart, process, utc_now())
    assert process.stdout is not None
    assert process.stderr is not None
    log = files.log(restart)
    running.pumps = [
        asyncio.create_task(_pump(process.stdout, log, "stdout")),
        asyncio.create_task(_pump(process.stderr, log, "stderr")),
    ]
    return running
