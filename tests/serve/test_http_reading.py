"""How a connection reads requests, driven read by read: each head reaches httptools once,
whole, however it was split (the cost of reading stays linear), and a body's end is found
wherever a read boundary falls."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from modeldeploy.serve.httpserver import (
    HttpLimits,
    HttpServer,
    Request,
    Response,
    Router,
    _Connection,
)
from modeldeploy.serve.rest.common import error_response


class FakeTransport:
    """What a connection writes, and whether it closed."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def statuses(self) -> list[int]:
        return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", self.written)]


class CountingParser:
    """httptools' parser, with a record of the size of each feed."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.feeds: list[int] = []

    def feed_data(self, data: memoryview | bytes) -> None:
        self.feeds.append(len(data))
        self.parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


async def _ping(request: Request) -> Response:
    return Response(body=b"pong", content_type="text/plain")


async def _echo(request: Request) -> Response:
    return Response(body=request.body, content_type="text/plain")


async def _read(pieces: list[bytes], limits: HttpLimits) -> tuple[FakeTransport, CountingParser]:
    router = Router(error_response)
    router.add("GET", "/ping", _ping)
    router.add("POST", "/echo", _echo)
    connection = _Connection(HttpServer(router, error_response, limits))
    parser = CountingParser(connection._parser)
    connection._parser = parser  # type: ignore[assignment]
    transport = FakeTransport()
    connection.connection_made(transport)  # type: ignore[arg-type]
    for piece in pieces:
        connection.data_received(piece)
    for _ in range(1000):  # the handlers run as tasks: let them finish
        if not connection.busy:
            break
        await asyncio.sleep(0)
    connection.close()
    return transport, parser


@pytest.mark.parametrize("piece", [1, 7, 1000])
def test_a_head_split_in_many_reads_is_fed_to_the_parser_once(piece: int) -> None:
    head = b"GET /ping HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * 30_000 + b"\r\n\r\n"
    pieces = [head[start : start + piece] for start in range(0, len(head), piece)]
    transport, parser = asyncio.run(_read(pieces, HttpLimits()))
    assert transport.statuses() == [200]
    assert transport.written.endswith(b"pong")
    assert parser.feeds == [len(head)]


def test_a_head_over_the_limit_is_refused_without_reaching_the_parser() -> None:
    head = b"GET /ping HTTP/1.1\r\nX-Long: " + b"a" * 5000 + b"\r\n\r\n"
    pieces = [head[start : start + 100] for start in range(0, len(head), 100)]
    transport, parser = asyncio.run(_read(pieces, HttpLimits(max_header_bytes=4096)))
    assert transport.statuses() == [431]
    assert parser.feeds == []


def test_the_end_of_a_chunked_body_is_found_wherever_the_reads_split_it() -> None:
    body = b"x\r\n\r\ny" * 3  # CRLF CRLF inside the data must not end the body
    chunked = (
        b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        + f"{len(body):x}\r\n".encode()
        + body
        + b"\r\n0\r\n\r\n"
    )
    following = b"GET /ping HTTP/1.1\r\n\r\n"
    for cut in range(1, len(chunked)):
        transport, _ = asyncio.run(_read([chunked[:cut], chunked[cut:] + following], HttpLimits()))
        assert transport.statuses() == [200, 200], cut
        assert body in transport.written, cut
        assert transport.written.endswith(b"pong"), cut
