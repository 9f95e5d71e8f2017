"""An 80 MB request header against `modeldeploy serve` as a process (as in a pod): refused
with 431 while health probes alongside keep being answered within 100 ms each.

Before the head limit, such a header stalled the event loop for 7.75 s (issue 15): a
kubelet probe with a 1 s timeout would have restarted the pod. The 100 ms bound is the
issue's demand, so it is asserted here, per probe, on a monotonic clock; the server runs
in its own process so the test's threads cannot hold its GIL.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tests.serve.conftest import linear_model
from tests.serve.test_process import ServeProcess

pytestmark = pytest.mark.slow

FLOOD_BYTES = 80 * 1024 * 1024
PROBE_BOUND_S = 0.1


def _probe(port: int) -> tuple[float, bytes]:
    """One kubelet-style probe on a new connection; its duration and the answer."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
        probe.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := probe.recv(65536):
            answer += chunk
    return time.monotonic() - started, answer


def test_an_80_mb_header_gets_431_while_probes_are_answered_within_100_ms(
    tmp_path: Path,
) -> None:
    server = ServeProcess({"MODELDEPLOY_MODEL_PATH": str(linear_model(tmp_path / "m.onnx"))})
    try:
        server.wait_ready()
        flood = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        answer: list[bytes] = []

        def read_answer() -> None:  # alongside the sending: the answer comes mid-flood
            received = b""
            try:
                while chunk := flood.recv(65536):
                    received += chunk
            except OSError:
                pass
            answer.append(received)

        probes: list[tuple[float, bytes]] = []
        flooding = threading.Event()
        flooding.set()

        def probe_while_flooding() -> None:
            while flooding.is_set():
                probes.append(_probe(server.port))

        reader = threading.Thread(target=read_answer)
        prober = threading.Thread(target=probe_while_flooding)
        reader.start()
        prober.start()
        sent = 0
        try:
            flood.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: flood\r\nX-Flood: ")
            piece = b"f" * (1024 * 1024)
            while sent < FLOOD_BYTES:
                flood.sendall(piece)
                sent += len(piece)
        except OSError:  # the server closed after its answer and what it would drop
            pass
        finally:
            flooding.clear()
            prober.join(30)
            reader.join(30)
            flood.close()
    finally:
        server.stop()
    assert len(answer) == 1
    assert answer[0].startswith(b"HTTP/1.1 431 "), answer[0][:200]
    assert b"65536-byte limit" in answer[0]
    # The server read and dropped the flood (up to 64 MiB) while the probes ran.
    assert sent >= 32 * 1024 * 1024, sent
    assert len(probes) >= 3, probes
    for _, reply in probes:
        assert reply.startswith(b"HTTP/1.1 200 "), reply
    slowest = max(seconds for seconds, _ in probes)
    assert slowest < PROBE_BOUND_S, f"{len(probes)} probes, slowest {slowest * 1000:.1f} ms"
