"""Clients that misbehave, with raw sockets: heads over the limit (431), heads that
never end (408), and every such refusal counted in `modeldeploy_requests_total`."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.conftest import RunningServer, config_for, linear_model
from tests.serve.test_dataplane import metric
from tests.serve.test_http import BODY, INFER, RawClient, _request

HEAD_LIMIT = 4096
HEAD_TIMEOUT_S = 1.0


@pytest.fixture
def strict_server(tmp_path: Path) -> Iterator[RunningServer]:
    config = config_for(
        linear_model(tmp_path / "m.onnx"),
        max_body_bytes=64 * 1024,
        max_header_bytes=HEAD_LIMIT,
        header_timeout_s=HEAD_TIMEOUT_S,
    )
    running = RunningServer(config).load()
    yield running
    running.close()


def _head_of_size(size: int, path: str = "/v2/health/live") -> bytes:
    """A GET head of exactly `size` bytes, padded by one header."""
    start = f"GET {path} HTTP/1.1\r\nX-Pad: ".encode()
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


def test_a_head_at_the_limit_is_served_and_one_byte_more_gets_431(
    strict_server: RunningServer,
) -> None:
    at_limit = RawClient(strict_server)
    at_limit.send(_head_of_size(HEAD_LIMIT) + _request("/v2/health/live", method="GET"))
    assert [at_limit.response()[0] for _ in range(2)] == [200, 200]
    at_limit.close()
    over = RawClient(strict_server)
    over.send(_request(INFER, BODY) + _head_of_size(HEAD_LIMIT + 1))
    assert over.response()[0] == 200  # the request before it is still answered
    status, headers, body = over.response()
    assert (status, headers["connection"]) == (431, "close")
    assert f"{HEAD_LIMIT}-byte limit" in json.loads(body)["error"]
    assert over.closed_by_server()
    over.close()


def test_a_head_trickling_in_gets_408_after_the_header_timeout(
    strict_server: RunningServer,
) -> None:
    """One byte every 0.2 s keeps the keep-alive timer (30 s) from ever firing; the
    header timeout counts from the head's first byte, so it ends the trickle anyway."""
    slow = RawClient(strict_server)
    slow.sock.settimeout(0.2)
    slow.send(b"GET /v2/health/live HTTP/1.1\r\nX-Slow: ")
    sent = 0
    while sent < 100:  # 20 s of trickling if the server never cut it short
        try:
            if slow.sock.recv(65536, 0x2):  # MSG_PEEK: an answer is there
                break
        except TimeoutError:
            pass
        try:
            slow.send(b"s")
        except OSError:  # closed by the server after its answer
            break
        sent += 1
    slow.sock.settimeout(10)
    status, headers, body = slow.response()
    assert (status, headers["connection"]) == (408, "close")
    assert "not complete within 1 s" in json.loads(body)["error"]
    assert sent < 100
    assert slow.closed_by_server()
    slow.close()


def test_every_refusal_is_counted_in_requests_total(strict_server: RunningServer) -> None:
    labels = {"model": "digits", "version": "3"}
    refusals = [
        (b"GARBAGE\r\n\r\n", 400, "http"),
        (_request(INFER, b"{}", extra="Content-Encoding: br\r\n"), 415, "v2"),
        (_request(INFER, b"x" * (64 * 1024 + 1)), 413, "v2"),
        (
            _request(INFER, gzip.compress(b" " * 200_000), extra="Content-Encoding: gzip\r\n"),
            413,
            "v2",
        ),
        (_head_of_size(HEAD_LIMIT + 1, "/v1/models/digits:predict"), 431, "v1"),
        (b"GET /v2/health/live HTTP/1.1\r\nX-Never: ending", 408, "v2"),
    ]
    for raw, status, _ in refusals:
        refused = RawClient(strict_server)
        refused.send(raw)
        assert refused.response()[0] == status, raw[:40]
        refused.close()
    url = strict_server.url
    expected = {(protocol, status): 0 for _, status, protocol in refusals}
    for _, status, protocol in refusals:
        expected[protocol, status] += 1
    for (protocol, status), count in expected.items():
        found = metric(
            url, "modeldeploy_requests_total", protocol=protocol, code=str(status), **labels
        )
        assert found == count, (protocol, status)
    # Not timed: the latency histogram counts only requests that reached a handler.
    assert metric(url, "modeldeploy_request_duration_seconds_count", protocol="v2") == 0
