"""One container's state as the kubelet reports it (`containerStatuses[]`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.sandbox.apiserver.logs import plain_text
from modeldeploy.sandbox.controllers.clock import format_time
from modeldeploy.sandbox.node.runtime import ContainerFiles, ContainerProcess, Exit

Obj = Mapping[str, Any]
MESSAGE_LIMIT = 4096


@dataclass
class ContainerState:
    spec: Obj
    pod_uid: str
    restart_count: int = 0
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    process: ContainerProcess | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    def status(self) -> dict[str, Any]:
        image = str(self.spec.get("image", ""))
        status: dict[str, Any] = {
            "name": self.name,
            "image": image,
            "imageID": "",
            "ready": self.ready,
            "started": self.started,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.process is not None or "terminated" in self.state:
            status["containerID"] = f"sandbox://{self.pod_uid}/{self.name}/{self.restart_count}"
            status["imageID"] = f"docker.io/{image.removeprefix('docker.io/')}"
        return status

    def wait(self, reason: str, message: str = "") -> None:
        self.state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}


def terminated_state(state: ContainerState, files: ContainerFiles, result: Exit) -> dict[str, Any]:
    """`state.terminated`: exit code, reason and the termination message (file, else log tail)."""
    message = ""
    with contextlib.suppress(OSError):
        message = files.termination_log.read_text(errors="replace")[:MESSAGE_LIMIT]
    reason = "Completed" if result.code == 0 else "Error"
    if result.start_error:
        reason, message = "StartError", result.start_error
    elif (
        not message
        and result.code != 0
        and state.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
    ):
        message = _log_tail(files.log(state.restart_count))
    terminated: dict[str, Any] = {
        "exitCode": result.code,
        "reason": reason,
        "startedAt": format_time(result.started_at),
        "finishedAt": format_time(result.finished_at),
        "containerID": f"sandbox://{state.pod_uid}/{state.name}/{state.restart_count}",
    }
    if message:
        terminated["message"] = message
    return terminated


def _log_tail(path: Path, lines: int = 80, limit: int = 2048) -> str:
    try:
        text = plain_text(path.read_bytes()).splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(text)[-limit:]
