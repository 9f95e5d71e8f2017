"""Inference through a Service as users' clients send it: one Open Inference Protocol request
per new connection; `Traffic` keeps sending from a thread and counts who answered."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter

import numpy as np

# About 25 requests/s: enough for the analysis's minRequests per interval at the first step.
TRAFFIC_PAUSE = 0.04


def infer(url: str, name: str, rows: np.ndarray) -> tuple[str, np.ndarray]:
    """One Open Inference Protocol request to model `name` at `url` (e.g. a Service's
    `http://<clusterIP>:<port>`) on a new connection: (model_version, first output)."""
    body = {
        "inputs": [
            {
                "name": "input",
                "shape": list(rows.shape),
                "datatype": "FP32",
                "data": rows.ravel().tolist(),
            }
        ]
    }
    request = urllib.request.Request(
        f"{url}/v2/models/{name}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    output = answer["outputs"][0]
    return str(answer["model_version"]), np.array(output["data"]).reshape(output["shape"])


class Traffic:
    """Requests to `url` from `start()` to `stop()`, counted by the version that answered; a
    failure (an error status, a connection reset) names no version."""

    def __init__(self, url: str, name: str, rows: np.ndarray, pause: float = TRAFFIC_PAUSE):
        self.url, self.name, self.rows, self.pause = url, name, rows, pause
        self.answered: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()  # by what went wrong
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    @property
    def failed(self) -> int:
        return self.failures.total()

    @property
    def sent(self) -> int:
        return self.answered.total() + self.failed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version, _ = infer(self.url, self.name, self.rows)
            except (OSError, ValueError, KeyError) as error:  # HTTPError, URLError, a cut-off body
                self.failures[str(error)] += 1
            else:
                self.answered[version] += 1
            self._stop.wait(self.pause)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(15)
