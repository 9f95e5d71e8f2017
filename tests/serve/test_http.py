"""The HTTP/1.1 layer with raw sockets: keep-alive, pipelining, bodies, limits, errors."""

from __future__ import annotations

import gzip
import json
import socket

import pytest

from tests.serve.conftest import FEATURES, RunningServer

INFER = "/v2/models/digits/infer"
BODY = json.dumps(
    {
        "inputs": [
            {"name": "input", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.5] * FEATURES}
        ]
    }
).encode()


def _request(path: str, body: bytes = b"", method: str = "POST", extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class RawClient:
    def __init__(self, server: RunningServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.server.port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        length = int(headers.get("content-length", 0))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "server closed the connection"
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client(linear_server: RunningServer) -> RawClient:
    raw = RawClient(linear_server)
    yield raw  # type: ignore[misc]
    raw.close()


def test_pipelined_requests_are_answered_in_order_on_one_connection(client: RawClient) -> None:
    client.send(
        _request(INFER, BODY)
        + _request("/v2/health/live", method="GET")
        + _request("/nowhere", method="GET")
        + _request(INFER, BODY)
    )
    statuses = [client.response()[0] for _ in range(4)]
    assert statuses == [200, 200, 404, 200]


def test_chunked_gzip_and_expect_continue_bodies(client: RawClient) -> None:
    half = len(BODY) // 2
    chunked = (
        f"POST {INFER} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        f"{half:x}\r\n".encode()
        + BODY[:half]
        + f"\r\n{len(BODY) - half:x}\r\n".encode()
        + BODY[half:]
        + b"\r\n0\r\n\r\n"
    )
    client.send(chunked)
    assert client.response()[0] == 200
    client.send(_request(INFER, gzip.compress(BODY), extra="Content-Encoding: gzip\r\n"))
    status, _, body = client.response()
    assert status == 200, body
    head = f"POST {INFER} HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
    client.send(f"{head}Content-Length: {len(BODY)}\r\n\r\n".encode())
    assert client.response()[0] == 100
    client.send(BODY)
    assert client.response()[0] == 200


def test_oversized_bodies_get_413_and_the_connection_closes(
    linear_server: RunningServer,
) -> None:
    limit = linear_server.server.config.max_body_bytes
    declared = RawClient(linear_server)
    declared.send(
        f"POST {INFER} HTTP/1.1\r\nHost: t\r\nContent-Length: {limit + 1}\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    status, headers, body = declared.response()
    assert (status, headers["connection"]) == (413, "close")
    assert f"{limit}-byte limit" in json.loads(body)["error"]
    assert declared.closed_by_server()
    declared.close()
    chunked = RawClient(linear_server)
    chunk = b"x" * (limit // 2)
    chunked.send(
        f"POST {INFER} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 3
        + b"0\r\n\r\n"
    )
    assert chunked.response()[0] == 413
    chunked.close()
    bomb = RawClient(linear_server)
    bomb.send(
        _request(INFER, gzip.compress(b" " * (limit * 4)), extra="Content-Encoding: gzip\r\n")
    )
    assert bomb.response()[0] == 413
    bomb.close()


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /v2 HTTP/1.1\r\nContent-Length: nope\r\n\r\n", 400),
        (_request(INFER, b"abc", extra="Content-Encoding: br\r\n"), 415),
        (_request(INFER, b"abc", extra="Content-Encoding: gzip\r\n"), 400),
        (_request("/v2/health/live", method="DELETE"), 405),
    ],
)
def test_malformed_http_gets_a_4xx(client: RawClient, raw: bytes, status: int) -> None:
    client.send(raw)
    assert client.response()[0] == status


def test_head_has_headers_only_and_http10_closes(linear_server: RunningServer) -> None:
    head = RawClient(linear_server)
    head.send(b"HEAD /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\nGET /v2 HTTP/1.0\r\n\r\n")
    head.sock.settimeout(10)
    while b"HTTP/1.1 200 OK" not in head.buffer.split(b"\r\n\r\n", 1)[-1]:
        head._fill()
    first, rest = head.buffer.split(b"\r\n\r\n", 1)
    live_body = b'{"live":true}'
    assert f"Content-Length: {len(live_body)}".encode() in first  # no body follows
    assert rest.startswith(b"HTTP/1.1 200 OK")
    head.buffer = rest
    status, headers, _ = head.response()
    assert (status, headers["connection"]) == (200, "close")
    head.close()


def test_pipelined_requests_before_a_malformed_one_are_answered_then_400(
    client: RawClient,
) -> None:
    client.send(
        _request(INFER, BODY)
        + _request("/v2/health/live", method="GET")
        + _request(INFER, BODY)
        + b"GARBAGE / HTTP/1.1\r\n\r\n"
    )
    answers = [client.response() for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 400]
    assert json.loads(answers[1][2]) == {"live": True}
    assert "malformed HTTP request" in json.loads(answers[3][2])["error"]
    assert answers[3][1]["connection"] == "close"
    assert client.closed_by_server()


def test_http10_keep_alive_keeps_the_connection_and_says_so(
    linear_server: RunningServer,
) -> None:
    kept = RawClient(linear_server)
    for _ in range(2):  # the second request proves the connection stayed open
        kept.send(b"GET /v2/health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, headers, _ = kept.response()
        assert (status, headers["connection"]) == (200, "keep-alive")
    kept.send(b"POST " + INFER.encode() + b" HTTP/1.0\r\nConnection: Keep-Alive\r\n")
    kept.send(f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
    status, headers, _ = kept.response()
    assert (status, headers["connection"]) == (200, "keep-alive")
    kept.send(b"GET /v2/health/live HTTP/1.0\r\n\r\n")  # no keep-alive: closed after it
    status, headers, _ = kept.response()
    assert (status, headers["connection"]) == (200, "close")
    assert kept.closed_by_server()
    kept.close()


def test_kserve_v1_liveness_at_the_root(client: RawClient) -> None:
    client.send(_request("/", method="GET"))
    status, _, body = client.response()
    assert (status, json.loads(body)) == (200, {"status": "alive"})
