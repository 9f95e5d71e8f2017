"""A small HTTP/1.1 server on asyncio + httptools, built for request rate.

Why not aiohttp: on this model server's hot path (a small JSON body in, a small JSON
body out) aiohttp's per-request machinery cost more than the inference itself; measured
with wrk on a 64-feature MLP, this server answers about 2x the requests per second (see
docs/serve.md). It implements what inference clients use: keep-alive (HTTP/1.1, and
HTTP/1.0 with `Connection: keep-alive`) and pipelining (answered in order, also when a
later request is refused), Content-Length and chunked bodies, `Expect: 100-continue`,
gzip or deflate request bodies, HEAD, 404/405, and the answers of a production server to
clients that misbehave: 400 for malformed HTTP, 408 for a head not complete in time, 413
for a body and 431 for a head over its limit. Handlers are `async (Request) -> Response`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
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
_LINGER_S = 2.0  # after a refusal, how long what the client still sends is read and dropped


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = 16 * 1024 * 1024  # 413 above
    max_header_bytes: int = 64 * 1024  # request line and headers; 431 above
    header_timeout_s: float = 10.0  # from a head's first byte to its end; 408 after


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


@dataclass
class _Parsed:
    """A complete request waiting for its handler."""

    request: Request
    keep_alive: bool
    http_1_0: bool  # a kept-alive HTTP/1.0 connection must be told so in each answer


@dataclass
class _Refusal:
    """An answer the HTTP layer gives itself (malformed, too large, too slow); the
    connection closes after it."""

    response: Response
    path: str  # of the refused request, where it could be read; else ""


_HEAD_END = b"\r\n\r\n"  # llhttp insists on CRLF, so this ends every head and chunked body


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, answers them one at a time, in order.

    httptools is fed one request head at a time, and only once the whole head is here:
    its parser joins a header's pieces by bytes concatenation, so feeding it a large head
    read by read costs quadratic time (an 80 MB header stalled the loop for seconds). The
    head is collected here instead (appended, and scanned once for its end), capped at
    `max_header_bytes` (431) and `header_timeout_s` (408). Bodies are fed exactly up to
    their end (Content-Length, or the CRLF CRLF that ends a chunked body), so that the
    next head again starts a read of its own.
    """

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[_Parsed | _Refusal] = deque()
        self._busy = False  # a handler is running for this connection
        self._closing = False
        self._refused = False  # a refusal is queued: nothing more is read
        self._paused = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_since = 0.0  # loop time of the last read or answer
        self._head_timer: asyncio.TimerHandle | None = None
        self._head = bytearray()  # an incomplete request head, not yet fed to the parser
        self._in_head = True  # the next bytes belong to a request head
        self._body_left = 0  # Content-Length bytes still to come (0: chunked, or none)
        self._chunk_tail = b""  # last bytes of a chunked body (its end may span two reads)
        self._dropped: int | None = None  # bytes dropped since a refusal (lingering close)
        self._reset_message()

    def _reset_message(self) -> None:
        self._url: list[bytes] = []
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
        self._cancel_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._dropped is not None:
            self._dropped += len(data)
            if self._dropped > _DISCARD_LIMIT:
                self.close()
            return
        if self._closing or self._refused:
            return
        view = memoryview(data)
        offset = 0
        try:
            while offset < len(data) and not (self._closing or self._refused):
                if self._in_head:
                    offset = self._read_head(data, view, offset)
                else:
                    offset = self._read_body(data, view, offset)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported", self._path())
        except httptools.HttpParserError as err:
            self._refuse(400, f"malformed HTTP request: {err}", self._path())
        if not self.busy and not self._closing:
            self._arm_idle_timer()

    def _read_head(self, data: bytes, view: memoryview, offset: int) -> int:
        """Collect head bytes from `data[offset:]`; feed the head once it is complete.
        Returns the offset past what was used."""
        limit = self._limits.max_header_bytes
        before = len(self._head)
        if before == 0:  # the usual case: the whole head is in this read
            end = data.find(_HEAD_END, offset)
            if end >= 0 and end + len(_HEAD_END) - offset <= limit:
                self._parser.feed_data(view[offset : end + len(_HEAD_END)])
                return end + len(_HEAD_END)
        # Never keep more than the limit (and the end marker): past it the answer is 431.
        take = min(len(data) - offset, limit + len(_HEAD_END) - before)
        self._head += view[offset : offset + take]
        end = self._head.find(_HEAD_END, max(0, before - len(_HEAD_END) + 1))
        size = end + len(_HEAD_END)
        if end < 0 and len(self._head) <= limit:
            self._start_head_timer()
            return offset + take
        if end < 0 or size > limit:
            path = _request_path(bytes(self._head[:limit]))
            self._refuse(431, f"request head over the {limit}-byte limit", path)
            return len(data)
        head = bytes(self._head[:size])
        self._head.clear()
        self._parser.feed_data(head)
        return offset + size - before

    def _read_body(self, data: bytes, view: memoryview, offset: int) -> int:
        if self._body_left:
            count = min(self._body_left, len(data) - offset)
            self._body_left -= count
            self._parser.feed_data(view[offset : offset + count])
            return offset + count
        # Chunked: the body ends with the CRLF CRLF of its last chunk (or trailers); feed
        # up to each one until the parser says the message is complete.
        position = offset
        for end in self._chunked_ends(data, offset):
            self._parser.feed_data(view[position:end])
            position = end
            if self._in_head or self._closing or self._refused:
                return position
        self._parser.feed_data(view[position:])
        joined = self._chunk_tail + data[max(offset, len(data) - len(_HEAD_END)) :]
        self._chunk_tail = joined[-(len(_HEAD_END) - 1) :]
        return len(data)

    def _chunked_ends(self, data: bytes, offset: int) -> Iterator[int]:
        """Offsets in `data` just past each CRLF CRLF, one spanning from the last read first."""
        if self._chunk_tail:
            probe = self._chunk_tail + data[offset : offset + len(_HEAD_END) - 1]
            found = probe.find(_HEAD_END)
            if found >= 0:
                yield offset + found + len(_HEAD_END) - len(self._chunk_tail)
        found = data.find(_HEAD_END, offset)
        while found >= 0:
            yield found + len(_HEAD_END)
            found = data.find(_HEAD_END, found + 1)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._reset_message()

    def on_url(self, url: bytes) -> None:
        self._url.append(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._in_head = False
        self._chunk_tail = b""
        length = self._headers.get("content-length", "")
        self._body_left = int(length) if length.isdigit() else 0
        expects_continue = self._headers.get("expect", "").lower() == "100-continue"
        if length.isdigit() and int(length) > self._limits.max_body_bytes:
            self._too_large = True
            if expects_continue:
                # The client waits for our go-ahead: refuse before it sends the body.
                self._refuse_too_large()
        elif expects_continue and self._transport is not None and not self.busy:
            # (an interim answer must not overtake pipelined ones)
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._limits.max_body_bytes:
            self._too_large = True
            self._body.clear()
            if self._body_size > _DISCARD_LIMIT:
                self.close()
        if not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_head = True
        if self._refused:  # refused at its headers already (413 before 100-continue)
            return
        if self._too_large:
            self._refuse_too_large()
            return
        try:
            url = httptools.parse_url(b"".join(self._url))
            body = self._decoded_body()
        except httptools.HttpParserInvalidURLError:
            self._refuse(400, "malformed URL", self._path())
            return
        except _BodyError as err:
            self._refuse(err.status, str(err), self._path())
            return
        method = self._parser.get_method().decode("latin-1")
        path = unquote(url.path.decode("latin-1"))
        keep_alive = self._parser.should_keep_alive()
        http_1_0 = keep_alive and self._parser.get_http_version() == "1.0"
        self._enqueue(_Parsed(Request(method, path, self._headers, body), keep_alive, http_1_0))

    # Answering

    def _path(self) -> str:
        return _target_path(b"".join(self._url))

    def _refuse_too_large(self) -> None:
        limit = self._limits.max_body_bytes
        self._refuse(413, f"request body over the {limit}-byte limit", self._path())

    def _refuse(self, status: int, message: str, path: str) -> None:
        """Answer `status` once the requests before this one are answered, then close;
        read nothing more from this connection."""
        self._refused = True
        self._cancel_head_timer()
        if self._transport is not None and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        self._enqueue(_Refusal(self._server.error(status, message), path))

    def _decoded_body(self) -> bytes:
        body = b"".join(self._body)
        encoding = self._headers.get("content-encoding", "identity").lower()
        if encoding == "identity":
            return body
        if encoding not in ("gzip", "deflate"):
            raise _BodyError(415, f"unsupported Content-Encoding {encoding!r} (gzip, deflate)")
        limit = self._limits.max_body_bytes
        inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
        try:
            plain = inflater.decompress(body, limit + 1)
        except zlib.error as err:
            raise _BodyError(400, f"body is not valid {encoding}: {err}") from None
        if len(plain) > limit:
            raise _BodyError(413, f"decompressed request body over the {limit}-byte limit")
        return plain

    def _enqueue(self, item: _Parsed | _Refusal) -> None:
        self._queue.append(item)
        if len(self._queue) >= _MAX_PIPELINED and self._transport and not self._paused:
            self._transport.pause_reading()
            self._paused = True
        if not self._busy:
            self._next()

    def _next(self) -> None:
        while self._queue and not self._closing:
            item = self._queue.popleft()
            if isinstance(item, _Refusal):
                self._server.on_refusal(item.path, item.response.status)
                self._reply_and_close(item.response)
                return
            self._busy = True
            task = asyncio.get_running_loop().create_task(
                self._server.router.dispatch(item.request)
            )
            task.add_done_callback(partial(self._answered, parsed=item))
            return
        if self._paused and self._transport and not self._closing and not self._refused:
            self._transport.resume_reading()
            self._paused = False
        if not self._closing:
            self._arm_idle_timer()

    def _answered(self, task: asyncio.Task[Response], *, parsed: _Parsed) -> None:
        self._busy = False
        if task.cancelled():
            return
        request = parsed.request
        error = task.exception()
        if error is not None:
            log.error("handler failed for %s %s", request.method, request.path, exc_info=error)
            response = self._server.error(500, "internal error (logged by the server)")
        else:
            response = task.result()
        if self._closing or self._transport is None:
            return
        close = response.close or not parsed.keep_alive or self._server.draining
        response.close = close
        if parsed.http_1_0 and not close:
            response.headers.append(("Connection", "keep-alive"))
        self._transport.write(response.encode(head_only=request.method == "HEAD"))
        if close:
            self.close()
        else:
            self._next()

    def _reply_and_close(self, response: Response) -> None:
        transport = self._transport
        if transport is None or self._closing:
            self.close()
            return
        response.close = True
        transport.write(response.encode())
        if not transport.can_write_eof():
            self.close()
            return
        # A lingering close, as RFC 9112 section 9.6 asks: closing now, with bytes of the
        # client's still unread, would reset the connection, and a reset can discard our
        # answer before the client reads it. So: half-close, drop what still comes (up to
        # a limit, for a short while), then close.
        self._closing = True
        self._dropped = 0
        self._cancel_idle_timer()
        self._cancel_head_timer()
        transport.write_eof()
        if self._paused:
            transport.resume_reading()
            self._paused = False
        self._idle_timer = asyncio.get_running_loop().call_later(_LINGER_S, self.close)

    def close(self) -> None:
        self._closing = True
        self._cancel_idle_timer()
        self._cancel_head_timer()
        if self._transport is not None:
            self._transport.close()

    def close_if_idle(self) -> None:
        if not self._busy and not self._queue:
            self.close()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self._refused and not self._closing:
            limit = self._limits.header_timeout_s
            path = _request_path(bytes(self._head))
            self._refuse(408, f"request head not complete within {limit:g} s", path)

    def _start_head_timer(self) -> None:
        """From the first byte of a head that did not come in one read."""
        if self._head_timer is None:
            loop = asyncio.get_running_loop()
            self._head_timer = loop.call_later(self._limits.header_timeout_s, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _arm_idle_timer(self) -> None:
        """Idle from now: closed after KEEP_ALIVE_S with no read and no answer. One timer,
        pushed back only when it fires: a new timer for every read would cost a timer
        (and a heap push) per read, however small the read."""
        loop = asyncio.get_running_loop()
        self._idle_since = loop.time()
        if self._idle_timer is None:
            self._idle_timer = loop.call_later(KEEP_ALIVE_S, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._closing:
            return
        loop = asyncio.get_running_loop()
        left = self._idle_since + KEEP_ALIVE_S - loop.time()
        if self.busy or left > 0:
            self._idle_timer = loop.call_later(left if left > 0 else KEEP_ALIVE_S, self._idle_check)
        else:
            self.close()

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    @property
    def busy(self) -> bool:
        return self._busy or bool(self._queue)


def _request_path(head: bytes) -> str:
    """The path of a head's request line (`GET /v2/x?y HTTP/1.1`), or ""."""
    line = head.split(b"\r\n", 1)[0].split(b" ")
    return _target_path(line[1]) if len(line) > 1 else ""


def _target_path(target: bytes) -> str:
    if not target.startswith(b"/"):
        return ""
    return unquote(target.split(b"?", 1)[0].decode("latin-1"))


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """Listens on one address and serves `router`; `draining` closes connections after
    each response. `on_refusal(path, status)` is told of each answer the HTTP layer gives
    itself (400, 408, 413, 415, 431), which no handler sees; `path` is "" where the
    request line could not be read."""

    def __init__(
        self,
        router: Router,
        error: ErrorResponder,
        limits: HttpLimits,
        on_refusal: Callable[[str, int], None] = lambda path, status: None,
    ) -> None:
        self.router = router
        self.error = error
        self.limits = limits
        self.on_refusal = on_refusal
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
