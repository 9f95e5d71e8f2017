"""A sandbox API server per test, on a free 127.0.0.1 port, with its state in a tmp dir.

Use the `sandbox_api` fixture: it yields a running `SandboxApi` (`.kubeconfig`, `.url`,
`.directory`); `restart()` stops and starts it on the same port and state directory.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from modeldeploy.sandbox.apiserver.auth.pki import PKI_DIR, Pki
from modeldeploy.sandbox.apiserver.server import ApiServer

_START_TIMEOUT = 30.0


def eventually(check: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    """Poll `check` until it returns something true; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(0.05)


class SandboxApi:
    """An `ApiServer` running on its own event loop in a background thread."""

    def __init__(self, directory: Path, history: int = 10_000, bookmark_seconds: float = 30.0):
        self.directory = directory
        self.history = history
        self.bookmark_seconds = bookmark_seconds
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: ApiServer | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """TLS as the admin of the kubeconfig (for raw urllib requests)."""
        return Pki(self.directory / PKI_DIR).client_context()

    @property
    def anonymous_ssl_context(self) -> ssl.SSLContext:
        """TLS trusting the sandbox's CA, with no client certificate."""
        return Pki(self.directory / PKI_DIR).client_context(with_admin=False)

    @property
    def open_watches(self) -> int:
        assert self._server is not None
        return self._server.open_watches

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="sandbox-api", daemon=True)
        self._thread.start()
        server = ApiServer(
            self.directory,
            port=self.port,
            history=self.history,
            bookmark_seconds=self.bookmark_seconds,
        )
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(_START_TIMEOUT)
        self._server = server
        self.port = server.port

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._server is not None:
            done: Future[None] = asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop)
            done.result(_START_TIMEOUT)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_START_TIMEOUT)
        self._loop.close()
        self._loop = None
        self._thread = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def sandbox_api(tmp_path: Path) -> Iterator[SandboxApi]:
    api = SandboxApi(tmp_path / "sandbox")
    api.start()
    try:
        yield api
    finally:
        api.stop()
