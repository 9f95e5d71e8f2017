"""Container logs, as a cluster serves them: the node's kubelet endpoint
`/containerLogs/{namespace}/{pod}/{container}` reads the files the node agent writes
(`ContainerLogs`), and the API server's `pods/{name}/log` proxies to the pod's node at its
`InternalIP` and `daemonEndpoints.kubeletEndpoint.Port`, over TLS (`PodLogs`), as
kube-apiserver does (pkg/registry/core/pod/strategy.go LogLocation), so `kubectl logs` works
with any node agent and the node agent with any API server. For a pod on no node, or on one
that reports no kubelet endpoint, the sandbox directory's files are read (where the sandbox's
own node agent writes them), so such a pod still says why it has no log yet (kube-apiserver
would answer an unscheduled pod with an empty log).

Layout (as the kubelet's /var/log/pods): `<log dir>/<namespace>_<pod>_<uid>/<container>/<N>.log`
where N is the container's restart count; the highest N is the current run, the one before
it is `previous=true`. Each line is in the CRI log format a container runtime writes
(`<RFC3339Nano time> <stdout|stderr> <F|P> <content>`; P: a part of a longer line), so the
kubelet's `timestamps` and `sinceSeconds`/`sinceTime` work (pkg/kubelet/kuberuntime/logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from modeldeploy.sandbox.apiserver import errors

# How often a `follow=true` stream looks for new output.
_FOLLOW_POLL_SECONDS = 0.2
# kube-apiserver's default --kubelet-preferred-address-types.
_ADDRESS_PREFERENCE = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
# The PodLogOptions the kubelet is given (the rest: the API server's own business).
_PASSED_ON = (
    "follow",
    "previous",
    "tailLines",
    "limitBytes",
    "timestamps",
    "sinceSeconds",
    "sinceTime",
)
_KUBELET_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
_ERROR_BODY_LIMIT = 4096


def pod_log_dir(log_root: Path, namespace: str, name: str, uid: str) -> Path:
    return log_root / f"{namespace}_{name}_{uid}"


def _runs(directory: Path) -> list[Path]:
    files = [p for p in directory.glob("*.log") if p.stem.isdigit()]
    return sorted(files, key=lambda p: int(p.stem))


_CRI_LINE = re.compile(rb"^(\S+) (stdout|stderr) ([PF]) (.*)$", re.DOTALL)
# containerd splits a line longer than this into P parts (and a final F).
MAX_ENTRY_BYTES = 16 * 1024


def timestamp_now() -> str:
    """RFC3339Nano in UTC with nine digits, as CRI log lines and `kubectl logs --timestamps`."""
    nanos = time.time_ns()
    seconds = datetime.datetime.fromtimestamp(nanos // 10**9, datetime.UTC)
    return f"{seconds:%Y-%m-%dT%H:%M:%S}.{nanos % 10**9:09d}Z"


def cri_lines(stream: str, content: bytes, final: bool, now: str) -> tuple[bytes, bytes]:
    """The CRI log lines for what a stream produced, and what stays buffered (an unfinished
    line, unless `final` or too long)."""
    out = []
    while True:
        end = content.find(b"\n")
        if end == -1 or end > MAX_ENTRY_BYTES:
            if len(content) > MAX_ENTRY_BYTES:
                part, content = content[:MAX_ENTRY_BYTES], content[MAX_ENTRY_BYTES:]
                out.append(b"%s %s P %s\n" % (now.encode(), stream.encode(), part))
                continue
            break
        line, content = content[:end], content[end + 1 :]
        out.append(b"%s %s F %s\n" % (now.encode(), stream.encode(), line))
    if final and content:
        out.append(b"%s %s F %s\n" % (now.encode(), stream.encode(), content))
        content = b""
    return b"".join(out), content


@dataclass(frozen=True)
class LogEntry:
    time: str  # "" for a line not in the CRI format (written by hand)
    content: bytes  # with its newline unless a P part


def entries(data: bytes) -> Iterator[LogEntry]:
    """The entries of a log file's complete lines."""
    for line in data.splitlines(keepends=True):
        match = _CRI_LINE.match(line.rstrip(b"\n"))
        if match is None:
            yield LogEntry("", line)
        else:
            yield LogEntry(match[1].decode(), match[4] + (b"\n" if match[3] == b"F" else b""))


def plain_text(data: bytes) -> str:
    """What the container wrote, from a log file's bytes."""
    return b"".join(e.content for e in entries(data)).decode(errors="replace")


def _since(query: Mapping[str, str]) -> str:
    """The earliest time to show (RFC3339, comparable as text with the entries'), or ""."""
    seconds = query.get("sinceSeconds")
    if seconds is not None:
        moment = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=int(seconds))
        return f"{moment:%Y-%m-%dT%H:%M:%S.%f}000Z"
    since = query.get("sinceTime")
    if since:
        try:
            moment = datetime.datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise errors.bad_request(f'sinceTime: Invalid value: "{since}"') from None
        return f"{moment.astimezone(datetime.UTC):%Y-%m-%dT%H:%M:%S.%f}000Z"
    return ""


def _render(selected: Iterable[LogEntry], timestamps: bool) -> bytes:
    if timestamps:
        return b"".join((f"{e.time} ".encode() if e.time else b"") + e.content for e in selected)
    return b"".join(e.content for e in selected)


class LogError(Exception):
    """No log to serve: the HTTP status and the kubelet's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _true(query: Mapping[str, str], name: str) -> bool:
    return query.get(name) in ("1", "true")


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions from a query, validated as kube-apiserver validates them."""

    follow: bool = False
    previous: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    timestamps: bool = False
    since: str = ""  # RFC3339Nano

    @staticmethod
    def parse(query: Mapping[str, str]) -> LogOptions:
        tail = query.get("tailLines")
        if tail is not None and not tail.isdigit():
            raise errors.bad_request(f'tailLines: Invalid value: "{tail}"')
        limit = query.get("limitBytes")
        if limit is not None and (not limit.isdigit() or int(limit) == 0):
            raise errors.bad_request(f'limitBytes: Invalid value: "{limit}"')
        since = query.get("sinceSeconds")
        if since is not None and (not since.isdigit() or int(since) == 0):
            raise errors.bad_request(f'sinceSeconds: Invalid value: "{since}"')
        if since is not None and query.get("sinceTime"):
            raise errors.bad_request("at most one of sinceTime or sinceSeconds may be specified")
        return LogOptions(
            follow=_true(query, "follow"),
            previous=_true(query, "previous"),
            tail_lines=int(tail) if tail is not None else None,
            limit_bytes=int(limit) if limit is not None else None,
            timestamps=_true(query, "timestamps"),
            since=_since(query),
        )


class ContainerLogs:
    """The kubelet's side: one container's log file, streamed (and followed) as it grows."""

    def __init__(self, log_root: Path) -> None:
        self.log_root = log_root

    def _log_file(self, pod: Mapping[str, Any], container: str, previous: bool) -> Path:
        """The run to read; the kubelet's messages (pkg/kubelet/kubelet_pods.go
        validateContainerLogStatus) when there is none, as 400 answers (LogError)."""
        meta = pod["metadata"]
        name = meta["name"]
        directory = pod_log_dir(self.log_root, meta["namespace"], name, meta["uid"]) / container
        runs = _runs(directory) if directory.is_dir() else []
        if previous:
            if len(runs) < 2:
                raise LogError(
                    400, f'previous terminated container "{container}" in pod "{name}" not found'
                )
            return runs[-2]
        if not runs:
            reason = _waiting_reason(pod, container)
            raise LogError(
                400, f'container "{container}" in pod "{name}" is waiting to start: {reason}'
            )
        return runs[-1]

    async def respond(
        self,
        request: web.Request,
        pod: Mapping[str, Any],
        container: str,
        running: Callable[[], bool],
    ) -> web.StreamResponse:
        """`running()`: whether the pod may still write (a follow ends once it is not); LogError
        before anything is sent when there is no such log."""
        spec = pod.get("spec") or {}
        names = [
            c.get("name") for c in [*spec.get("containers", []), *spec.get("initContainers", [])]
        ]
        if container not in names:
            name = pod["metadata"]["name"]
            raise LogError(404, f'container "{container}" not found in pod "{name}"')
        try:
            options = LogOptions.parse(request.query)
        except errors.ApiError as error:
            raise LogError(400, error.message) from None
        path = self._log_file(pod, container, options.previous)
        raw = path.read_bytes()
        sent_up_to = raw.rfind(b"\n") + 1  # complete lines only; follow from there
        selected = [e for e in entries(raw[:sent_up_to]) if e.time >= options.since]
        if options.tail_lines is not None:
            selected = selected[-options.tail_lines :] if options.tail_lines else []
        data = _render(selected, options.timestamps)
        if options.limit_bytes is not None:
            data = data[: options.limit_bytes]
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # the client went away
            await response.write(data)
            if options.follow and options.limit_bytes is None and not options.previous:
                await _follow(request, response, path, sent_up_to, running, options.timestamps)
            await response.write_eof()
        return response


async def _follow(
    request: web.Request,
    response: web.StreamResponse,
    path: Path,
    offset: int,
    running: Callable[[], bool],
    timestamps: bool,
) -> None:
    """Stream the lines appended after `offset` until the pod stops or its client goes away."""
    while request.transport is not None and not request.transport.is_closing():
        alive = running()
        # Read after checking: what was written before the pod finished is still sent.
        size = path.stat().st_size if path.exists() else offset
        if size > offset:
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(size - offset)
            complete = chunk.rfind(b"\n") + 1
            offset += complete
            if complete:
                await response.write(_render(entries(chunk[:complete]), timestamps))
        if not alive:
            return
        await asyncio.sleep(_FOLLOW_POLL_SECONDS)


def _waiting_reason(pod: Mapping[str, Any], container: str) -> str:
    status = pod.get("status") or {}
    for entry in [*status.get("containerStatuses", []), *status.get("initContainerStatuses", [])]:
        if entry.get("name") == container:
            waiting = (entry.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                return str(waiting["reason"])
    return "ContainerCreating"


def kubelet_address(node: Mapping[str, Any]) -> tuple[str, int] | None:
    """Where a node's kubelet listens: the preferred address and the kubelet port."""
    status = node.get("status") or {}
    port = int(
        ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    )
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    address = next((addresses[t] for t in _ADDRESS_PREFERENCE if addresses.get(t)), None)
    return (str(address), port) if address and port else None


class PodLogs:
    """The API server's side of `pods/{name}/log`."""

    def __init__(
        self,
        node: Callable[[str], Mapping[str, Any] | None],
        local: ContainerLogs,
        pod_alive: Callable[[str, str, str], bool],
    ) -> None:
        self._node = node  # a Node object by name, None when there is none
        self._local = local  # the files of the sandbox's own node agent
        # (namespace, name, uid) -> whether the pod is still there and not finished
        self._pod_alive = pod_alive

    def _container(self, pod: Mapping[str, Any], query: Mapping[str, str]) -> str:
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
        self, request: web.Request, pod: Mapping[str, Any], query: Mapping[str, str]
    ) -> web.StreamResponse:
        container = self._container(pod, query)
        LogOptions.parse(query)
        node_name = (pod.get("spec") or {}).get("nodeName")
        node = self._node(str(node_name)) if node_name else None
        where = kubelet_address(node) if node is not None else None
        meta = pod["metadata"]
        if where is None:
            ids = (meta["namespace"], meta["name"], meta["uid"])
            try:
                return await self._local.respond(
                    request, pod, container, lambda: self._pod_alive(*ids)
                )
            except LogError as error:
                raise _kubelet_error(error.status, error.message, str(meta["name"])) from None
        host, port = where
        path = "/".join(
            quote(part, safe="") for part in (meta["namespace"], meta["name"], container)
        )
        url = f"https://{host}:{port}/containerLogs/{path}"
        params = {k: query[k] for k in _PASSED_ON if k in query}
        return await _proxy(request, url, params, str(meta["name"]))


async def _proxy(
    request: web.Request, url: str, params: Mapping[str, str], name: str
) -> web.StreamResponse:
    """Streams the kubelet's answer. Its serving certificate is not verified, as kube-apiserver
    does not without --kubelet-certificate-authority (pkg/kubelet/client/kubelet_client.go:
    no CA file, TLS without verification)."""
    async with aiohttp.ClientSession(timeout=_KUBELET_TIMEOUT) as session:
        try:
            upstream = await session.get(url, params=params, ssl=False)
        except aiohttp.ClientError as error:
            raise errors.ApiError(
                500, "InternalError", f"Internal error occurred: {error}"
            ) from None
        async with upstream:
            if upstream.status != 200:
                text = (await upstream.content.read(_ERROR_BODY_LIMIT)).decode(errors="replace")
                raise _kubelet_error(upstream.status, text, name)
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            with contextlib.suppress(ConnectionResetError):  # the client went away
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            return response


def _kubelet_error(status: int, text: str, name: str) -> errors.ApiError:
    """As kube-apiserver's GenericHttpResponseChecker turns a kubelet's error into a Status."""
    if status == 400:
        return errors.bad_request(text)
    if status == 404:
        return errors.ApiError(404, "NotFound", text, {"name": name, "kind": "pods/log"})
    return errors.ApiError(500, "InternalError", f"Internal error occurred: {text}")
