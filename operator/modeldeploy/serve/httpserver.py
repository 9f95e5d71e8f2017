"""A small HTTP/1.1 server on asyncio + httptools, built for request rate.

Why not aiohttp: on this model server's hot path (a small JSON body in, a small JSON
body out) aiohttp's per-request machinery cost more than the inference itself; measured
with wrk on a 64-feature MLP, this server answers about 2x the requests per second (see
docs/serve.md). It implements what inference clients use: keep-alive and pipelining
(answered in order), Content-Length and chunked bodies, `Expect: 100-continue`, gzip or
deflate request bodies, a body size limit (413), HEAD, 404/405, and 400 for malformed
HTTP. Handlers are `async (Request) -> Response`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 30.0
_DISCARD_LIMIT = 64 * 1024 * 1024  # an oversized body is read and dropped up to this, so
# the client sees the 413 instead of a reset; past it the connection is closed
_MAX_PIPELINED = 32  # requests queued on one connection before we stop reading it


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)  # from the route pattern


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False  # close the connection after this response

    def encode(self, head_only: bool = False) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {_reason(self.status)}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        if self.close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


Handler = Callable[[Request], Awaitable[Response]]
ErrorResponder = Callable[[int, str], Response]


class Router:
    """Routes by method and path; `{name}` in a pattern matches one path segment."""

    def __init__(self, error: ErrorResponder) -> None:
        self._static: dict[str, dict[str, Handler]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        self._error = error

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if "{" not in pattern:
            self._static.setdefault(pattern, {})[method] = handler
            return
        regex = re.compile(
            "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+?)", re.escape(pattern)) + "$"
        )
        for existing, methods in self._dynamic:
            if existing.pattern == regex.pattern:
                methods[method] = handler
                return
        self._dynamic.append((regex, {method: handler}))

    async def dispatch(self, request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        allowed: set[str] = set()
        methods = self._static.get(request.path)
        if methods is not None:
            allowed.update(methods)
            handler = methods.get(method)
            if handler is not None:
                return await handler(request)
        for regex, candidates in self._dynamic:
            match = regex.match(request.path)
            if match:
                allowed.update(candidates)
                handler = candidates.get(method)
                if handler is not None:
                    request.params = match.groupdict()
                    return await handler(request)
        if not allowed:
            return self._error(404, f"no such endpoint: {request.path}")
        names = ", ".join(sorted(allowed))
        response = self._error(405, f"{request.method} is not allowed here (use {names})")
        response.headers.append(("Allow", names))
        return response


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, answers them one at a time, in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[tuple[Request, bool] | Response] = deque()
        self._busy = False  # a handler is running for this connection
        self._closing = False
        self._paused = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._reset_message()

    def _reset_message(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._too_large = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._server.connections.add(self)
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        self._cancel_idle_timer()

    def data_received(self, data: bytes) -> None:
        self._cancel_idle_timer()
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reply_and_close(self._server.error(400, "protocol upgrades are not supported"))
        except httptools.HttpParserError as err:
            self._reply_and_close(self._server.error(400, f"malformed HTTP request: {err}"))
        if not self.busy and not self._closing:
            self._arm_idle_timer()  # a client that stalls mid-request is dropped too

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset_message()

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        length = self._headers.get("content-length", "")
        if length.isdigit() and int(length) > self._server.max_body_bytes:
            self._too_large = True
            if self._headers.get("expect", "").lower() == "100-continue":
                # The client waits for our go-ahead: refuse before it sends the body.
                self._enqueue(self._too_large_response())
        elif (
            self._headers.get("expect", "").lower() == "100-continue"
            and self._transport is not None
            and not self.busy  # an interim answer must not overtake pipelined ones
        ):
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._server.max_body_bytes:
            self._too_large = True
            self._body.clear()
            if self._body_size > _DISCARD_LIMIT:
                self.close()
        if not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        if self._too_large:
            self._enqueue(self._too_large_response())
            return
        try:
            url = httptools.parse_url(self._url)
            body = self._decoded_body()
        except httptools.HttpParserInvalidURLError:
            self._enqueue(self._server.error(400, "malformed URL"))
            return
        except _BodyError as err:
            self._enqueue(self._server.error(err.status, str(err)))
            return
        method = self._parser.get_method().decode("latin-1")
        path = unquote(url.path.decode("latin-1"))
        self._enqueue((Request(method, path, self._headers, body), keep_alive))

    # Answering

    def _too_large_response(self) -> Response:
        limit = self._server.max_body_bytes
        return self._server.error(413, f"request body over the {limit}-byte limit")

    def _decoded_body(self) -> bytes:
        body = b"".join(self._body)
        encoding = self._headers.get("content-encoding", "identity").lower()
        if encoding == "identity":
            return body
        if encoding not in ("gzip", "deflate"):
            raise _BodyError(415, f"unsupported Content-Encoding {encoding!r} (gzip, deflate)")
        limit = self._server.max_body_bytes
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            plain = inflater.decompress(body, limit + 1)
        except zlib.error as err:
            raise _BodyError(400, f"body is not valid {encoding}: {err}") from None
        if len(plain) > limit:
            raise _BodyError(413, f"decompressed request body over the {limit}-byte limit")
        return plain

    def _enqueue(self, item: tuple[Request, bool] | Response) -> None:
        self._queue.append(item)
        if len(self._queue) >= _MAX_PIPELINED and self._transport and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        if not self._busy:
            self._next()

    def _next(self) -> None:
        while self._queue and not self._closing:
            item = self._queue.popleft()
            if isinstance(item, Response):  # an error found while parsing: answer, close
                self._reply_and_close(item)
                return
            self._busy = True
            task = asyncio.get_running_loop().create_task(self._server.router.dispatch(item[0]))
            task.add_done_callback(partial(self._answered, request=item[0], keep_alive=item[1]))
            return
        if self._paused and self._transport and not self._closing:
            self._transport.resume_reading()
            self._paused = False
        if not self._closing:
            self._arm_idle_timer()

    def _answered(
        self, task: asyncio.Task[Response], *, request: Request, keep_alive: bool
    ) -> None:
        self._busy = False
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("handler failed for %s %s", request.method, request.path, exc_info=error)
            response = self._server.error(500, "internal error (logged by the server)")
        else:
            response = task.result()
        if self._closing or self._transport is None:
            return
        close = response.close or not keep_alive or self._server.draining
        response.close = close
        self._transport.write(response.encode(head_only=request.method == "HEAD"))
        if close:
            self.close()
        else:
            self._next()

    def _reply_and_close(self, response: Response) -> None:
        if self._transport is not None and not self._closing:
            response.close = True
            self._transport.write(response.encode())
        self.close()

    def close(self) -> None:
        self._closing = True
        self._cancel_idle_timer()
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue:
            self.close()

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(KEEP_ALIVE_S, self.close_if_idle)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    @property
    def busy(self) -> bool:
        return self._busy or bool(self._queue)


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """Listens on one address and serves `router`; `draining` closes connections after
    each response."""

    def __init__(self, router: Router, error: ErrorResponder, max_body_bytes: int) -> None:
        self.router = router
        self.error = error
        self.max_body_bytes = max_body_bytes
        self.draining = False
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def listen(self, host: str, port: int) -> int:
        """Start accepting; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), host, port, backlog=1024, reuse_address=True
        )
        sockets: Iterable[object] = self._server.sockets
        return int(next(iter(sockets)).getsockname()[1])  # type: ignore[attr-defined]

    async def close(self, timeout: float) -> None:
        """Stop accepting, close idle connections, give busy ones `timeout` seconds."""
        self.draining = True
        if self._server is not None:
            self._server.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for connection in list(self.connections):
                connection.close_if_idle()
            if not any(connection.busy for connection in self.connections):
                break
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.01)  # poll the connections' state until the deadline
        for connection in list(self.connections):
            connection.close()
