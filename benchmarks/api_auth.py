"""What HTTPS, authentication and RBAC cost the sandbox API server per request.

Two API servers in their own processes, on the same kind of state: one with
`--insecure-http` (plain HTTP, every request the admin: the sandbox before it had security),
one as it runs now (HTTPS). Against the secure one, two clients: the admin (a client
certificate in system:masters, allowed before RBAC is asked) and a service account bound to
`view` in the namespace (a JWT verified and RBAC evaluated on every request). Each does, on a
kept-alive connection, a GET of one ConfigMap and a LIST of 100; and a GET on a new connection
each time (TCP, plus the TLS handshake where there is one). Rounds are interleaved (every
client in turn, in a new order each round); per round the median of the requests; reported:
the median over rounds, the interquartile range, and the ratio to plain HTTP.
Writes benchmarks/results/api_auth.json and api_auth.png.

    python -m benchmarks.api_auth [--rounds 15] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from benchmarks.machine import Machine

from modeldeploy.sandbox.apiserver.auth.pki import PKI_DIR, Pki
from modeldeploy.sandbox.apiserver.server import ApiServer

RESULTS = Path(__file__).resolve().parent / "results"
NAMESPACE = "bench"
CONFIG_MAPS = 100
OPERATIONS = ("get", "list", "get on a new connection")


def _serve(directory: Path, insecure: bool) -> None:
    """The server process: an ApiServer until killed."""

    async def run() -> None:
        server = ApiServer(directory, insecure_http=insecure)
        await server.start()
        (directory / "ready").write_text(str(server.port))
        await asyncio.Event().wait()

    asyncio.run(run())


class Client:
    """Requests to one server as one identity, on a kept-alive connection."""

    def __init__(self, port: int, tls: ssl.SSLContext | None, token: str | None) -> None:
        self.port = port
        self.tls = tls
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        if self.tls is None:
            return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.tls)

    def _get(self, connection: http.client.HTTPConnection, path: str) -> bytes:
        connection.request("GET", path, headers=self.headers)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return body

    def get(self) -> None:
        self._get(self.connection, f"/api/v1/namespaces/{NAMESPACE}/configmaps/cm-0")

    def list(self) -> None:
        self._get(self.connection, f"/api/v1/namespaces/{NAMESPACE}/configmaps")

    def get_new_connection(self) -> None:
        connection = self._connect()
        try:
            self._get(connection, f"/api/v1/namespaces/{NAMESPACE}/configmaps/cm-0")
        finally:
            connection.close()


def _admin(port: int, kubeconfig: Path) -> Callable[[str, str, Any], Any]:
    """A JSON call as the admin of `kubeconfig` (for setting up)."""
    config = yaml.safe_load(kubeconfig.read_text())
    secure = config["clusters"][0]["cluster"]["server"].startswith("https")
    tls = Pki(kubeconfig.parent / PKI_DIR).client_context() if secure else None
    client = Client(port, tls, None)

    def call(method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body)
        client.connection.request(
            method, path, body=data, headers={**client.headers, "Content-Type": "application/json"}
        )
        response = client.connection.getresponse()
        answer = json.loads(response.read() or b"null")
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {answer}")
        return answer

    return call


def _prepare(port: int, kubeconfig: Path) -> str | None:
    """The namespace with its ConfigMaps, a `reader` service account bound to view; its token."""
    call = _admin(port, kubeconfig)
    call("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    for index in range(CONFIG_MAPS):
        body = {"metadata": {"name": f"cm-{index}"}, "data": {"k": "v" * 100}}
        call("POST", f"/api/v1/namespaces/{NAMESPACE}/configmaps", body)
    if not (kubeconfig.parent / PKI_DIR).exists():
        return None
    call(
        "POST", f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts", {"metadata": {"name": "reader"}}
    )
    binding = {
        "metadata": {"name": "reader-view"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": NAMESPACE}],
    }
    call("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NAMESPACE}/rolebindings", binding)
    path = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/reader/token"
    token: str = call("POST", path, {"spec": {"expirationSeconds": 3600}})["status"]["token"]
    return token


def _start(directory: Path, insecure: bool) -> tuple[subprocess.Popen[bytes], int]:
    flags = ["--insecure"] if insecure else []
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.api_auth", "--serve", str(directory), *flags],
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    deadline = time.monotonic() + 60
    while not (directory / "ready").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the API server in {directory} did not start")
        time.sleep(0.05)
    return process, int((directory / "ready").read_text())


def _time(operation: Callable[[], None], count: int) -> float:
    """Median seconds of `count` calls."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        operation()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _summary(rounds: list[float], baseline: list[float]) -> dict[str, float]:
    quartiles = statistics.quantiles(rounds, n=4)
    ratios = [a / b for a, b in zip(rounds, baseline, strict=True)]
    return {
        "median_ms": statistics.median(rounds) * 1000,
        "iqr_ms": (quartiles[2] - quartiles[0]) * 1000,
        "ratio_to_plain_http": statistics.median(ratios),
    }


def _plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clients = list(results["clients"])
    figure, axes = plt.subplots(1, len(OPERATIONS), figsize=(13, 4.2))
    for axis, operation in zip(axes, OPERATIONS, strict=True):
        figures = [results["clients"][c][operation] for c in clients]
        axis.bar(
            range(len(clients)),
            [f["median_ms"] for f in figures],
            yerr=[f["iqr_ms"] / 2 for f in figures],
            color=["#999999", "#4c72b0", "#dd8452"],
        )
        axis.set_xticks(range(len(clients)), [c.replace(", ", "\n") for c in clients], fontsize=8)
        axis.set_title(operation)
        axis.set_ylabel("ms per request (median of rounds)")
        for index, item in enumerate(figures):
            axis.annotate(f"{item['ratio_to_plain_http']:.2f}x", (index, item["median_ms"]),
                          ha="center", va="bottom", fontsize=8)  # fmt: skip
    figure.suptitle("Sandbox API server: cost of HTTPS, authentication and RBAC per request")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_auth")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200, help="per client and round")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--insecure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve, args.insecure)
        return 0
    machine = Machine()
    with tempfile.TemporaryDirectory() as scratch:
        plain_dir, secure_dir = Path(scratch) / "plain", Path(scratch) / "secure"
        plain_dir.mkdir()
        secure_dir.mkdir()
        servers = [_start(plain_dir, insecure=True), _start(secure_dir, insecure=False)]
        try:
            (_, plain_port), (_, secure_port) = servers
            _prepare(plain_port, plain_dir / "kubeconfig")
            token = _prepare(secure_port, secure_dir / "kubeconfig")
            pki = Pki(secure_dir / PKI_DIR)
            clients = {
                "plain HTTP, no authentication": Client(plain_port, None, None),
                "HTTPS, admin certificate": Client(secure_port, pki.client_context(), None),
                "HTTPS, service-account token, RBAC": Client(
                    secure_port, pki.client_context(with_admin=False), token
                ),
            }
            operations = {
                "get": lambda c: c.get,
                "list": lambda c: c.list,
                "get on a new connection": lambda c: c.get_new_connection,
            }
            rounds: dict[str, dict[str, list[float]]] = {
                name: {operation: [] for operation in OPERATIONS} for name in clients
            }
            for client in clients.values():  # warm-up: caches, first handshakes
                for operation in operations.values():
                    _time(operation(client), 20)
            order = list(clients)
            for _ in range(args.rounds):
                random.shuffle(order)
                for name in order:
                    for operation, method in operations.items():
                        count = args.requests if operation != "list" else args.requests // 4
                        rounds[name][operation].append(_time(method(clients[name]), count))
        finally:
            for process, _ in servers:
                process.kill()
                process.wait()
    baseline = rounds["plain HTTP, no authentication"]
    results = {
        "machine": machine.describe(),
        "method": {
            "servers": "two ApiServer processes: --insecure-http, and HTTPS",
            "rounds": args.rounds,
            "requests_per_round": {"get": args.requests, "list": args.requests // 4},
            "list_items": CONFIG_MAPS,
            "statistic": "per round the median request; the median and IQR over rounds; "
            "ratio: the median of per-round ratios to plain HTTP",
        },
        "clients": {
            name: {op: _summary(rounds[name][op], baseline[op]) for op in OPERATIONS}
            for name in rounds
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api_auth.json").write_text(json.dumps(results, indent=2) + "\n")
    _plot(results, RESULTS / "api_auth.png")
    print(json.dumps(results["clients"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
