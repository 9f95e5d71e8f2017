"""`pods/{name}/log`: container logs from the files the node agent writes.

Layout (as the kubelet's /var/log/pods): `<log dir>/<namespace>_<pod>_<uid>/<container>/<N>.log`
where N is the container's restart count; the highest N is the current run, the one before
it is `previous=true`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from modeldeploy.sandbox.apiserver import errors

# How often a `follow=true` stream looks for new output.
_FOLLOW_POLL_SECONDS = 0.2


def pod_log_dir(log_root: Path, namespace: str, name: str, uid: str) -> Path:
    return log_root / f"{namespace}_{name}_{uid}"


def _runs(directory: Path) -> list[Path]:
    files = [p for p in directory.glob("*.log") if p.stem.isdigit()]
    return sorted(files, key=lambda p: int(p.stem))


def _tail(data: bytes, lines: int) -> bytes:
    if lines <= 0:
        return b""
    parts = data.splitlines(keepends=True)
    return b"".join(parts[-lines:])


class PodLogs:
    def __init__(self, log_root: Path, pod_alive: Callable[[str, str, str], bool]) -> None:
        self.log_root = log_root
        # (namespace, name, uid) -> whether the pod is still there and not finished
        self._pod_alive = pod_alive

    def _log_file(self, pod: dict[str, Any], container: str, previous: bool) -> Path:
        meta = pod["metadata"]
        name = meta["name"]
        directory = pod_log_dir(self.log_root, meta["namespace"], name, meta["uid"]) / container
        runs = _runs(directory) if directory.is_dir() else []
        if previous:
            if len(runs) < 2:
                raise errors.bad_request(
                    f'previous terminated container "{container}" in pod "{name}" not found'
                )
            return runs[-2]
        if not runs:
            reason = _waiting_reason(pod, container)
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        return runs[-1]

    def _container(self, pod: dict[str, Any], query: dict[str, str]) -> str:
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        init_names = [c.get("name") for c in spec.get("initContainers") or []]
        container = query.get("container")
        name = pod["metadata"]["name"]
        if container:
            if container not in names + init_names:
                raise errors.bad_request(f"container {container} is not valid for pod {name}")
            return container
        if len(names) == 1:
            return str(names[0])
        raise errors.bad_request(
            f"a container name must be specified for pod {name}, choose one of: "
            f"[{' '.join(str(n) for n in names)}]"
        )

    async def respond(
        self, request: web.Request, pod: dict[str, Any], query: dict[str, str]
    ) -> web.StreamResponse:
        container = self._container(pod, query)
        path = self._log_file(pod, container, query.get("previous") in ("1", "true"))
        data = path.read_bytes()
        sent_up_to = len(data)  # follow from here, whatever part of it was sent
        tail = query.get("tailLines")
        if tail is not None:
            if not tail.isdigit():
                raise errors.bad_request(f'tailLines: Invalid value: "{tail}"')
            data = _tail(data, int(tail))
        limit = query.get("limitBytes")
        if limit is not None:
            if not limit.isdigit() or int(limit) == 0:
                raise errors.bad_request(f'limitBytes: Invalid value: "{limit}"')
            data = data[: int(limit)]
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(data)
        if query.get("follow") in ("1", "true") and limit is None:
            await self._follow(request, response, pod, path, sent_up_to)
        await response.write_eof()
        return response

    async def _follow(
        self,
        request: web.Request,
        response: web.StreamResponse,
        pod: dict[str, Any],
        path: Path,
        offset: int,
    ) -> None:
        """Stream what is appended after `offset` until the pod goes away or its client does."""
        meta = pod["metadata"]
        while request.transport is not None and not request.transport.is_closing():
            alive = self._pod_alive(meta["namespace"], meta["name"], meta["uid"])
            # Read after checking: what was written before the pod finished is still sent.
            size = path.stat().st_size if path.exists() else offset
            if size > offset:
                with path.open("rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read(size - offset)
                offset = size
                await response.write(chunk)
            if not alive:
                return
            await asyncio.sleep(_FOLLOW_POLL_SECONDS)


def _waiting_reason(pod: dict[str, Any], container: str) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            waiting = (status.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                return str(waiting["reason"])
    return "ContainerCreating"
