"""Live inference traffic through a Service, as users' clients send it, for the analysis
tests: one request per new connection, counted by the version that answered."""

from __future__ import annotations

import threading
import urllib.error
from collections import Counter
from collections.abc import Callable

import numpy as np

from modeldeploy.demo import infer


class Traffic:
    def __init__(self, url: Callable[[], str], name: str, rows: np.ndarray) -> None:
        self.url, self.name, self.rows = url, name, rows
        self.answers: Counter[str] = Counter()
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version, _ = infer(self.url(), self.name, self.rows)
                self.answers[version] += 1
            except (urllib.error.URLError, OSError):
                self.failures += 1  # injected 500s and connections reset by a draining pod
            self._stop.wait(0.02)  # about 40 requests/s: enough for minRequests per interval

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
