"""A client that closes its watch is not an error: kube-apiserver logs nothing for it, and
neither does the sandbox (no traceback when the next event finds the connection gone)."""

from __future__ import annotations

import logging
import socket
import urllib.request

import pytest
from tests.sandbox.conftest import SandboxApi, eventually


def _create_configmap(api: SandboxApi, name: str) -> None:
    body = f'{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}'
    request = urllib.request.Request(
        f"{api.url}/api/v1/namespaces/default/configmaps",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10, context=api.ssl_context) as response:
        assert response.status == 201


def test_a_closed_watch_logs_nothing(
    sandbox_api: SandboxApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for attempt in range(3):
        raw = socket.create_connection(("127.0.0.1", sandbox_api.port), timeout=10)
        with sandbox_api.ssl_context.wrap_socket(raw, server_hostname="127.0.0.1") as client:
            client.sendall(
                b"GET /api/v1/namespaces/default/configmaps?watch=1 HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\n\r\n"
            )
            assert client.recv(4096).startswith(b"HTTP/1.1 200")
            eventually(lambda: sandbox_api.open_watches == 1, "the watch being served")
        # The connection is gone; the next changes are sent to it and fail, which ends it.
        for index in range(5):
            _create_configmap(sandbox_api, f"cm-{attempt}-{index}")
        eventually(lambda: sandbox_api.open_watches == 0, "the closed watch to end")
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not problems, [r.getMessage() for r in problems]
