"""A real Prometheus server (Debian package `prometheus`) on loopback that scrapes the serving
pods with the usual relabelling of namespace, pod and `modeldeploy.dev/*` labels; used by
`modeldeploy demo` and by the analysis tests.

Debian's build (2.42.0+ds) leaves kubernetes_sd out ("field kubernetes_sd_configs not found in
type config.ScrapeConfig"), so the pods are listed for it by `PodDiscovery`: an http_sd
endpoint that reads the pods from the API server and labels them with the `__meta_kubernetes_*`
names kubernetes_sd (role pod) uses, so the relabelling is the one a cluster's
configuration has (there: `kubernetes_sd_configs: [{role: pod, kubeconfig_file: ...}]`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from modeldeploy.demo_cluster import answers, free_port

SCRAPE_INTERVAL = "500ms"
READY_DEADLINE = 60.0
STOP_DEADLINE = 20.0


class PrometheusError(RuntimeError):
    """Prometheus did not start, or exited; the message carries the end of its log."""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )


def _label_name(key: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in key)


class PodDiscovery:
    """http_sd targets of the pods' named container ports in `namespace`, as kubernetes_sd
    role pod gives."""

    def __init__(self, core: client.CoreV1Api, namespace: str) -> None:
        self.core = core
        self.namespace = namespace
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sd"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def targets(self) -> list[dict[str, Any]]:
        groups = []
        for pod in self.core.list_namespaced_pod(self.namespace).items:
            status, metadata, spec = pod.status, pod.metadata, pod.spec
            if not (status and status.pod_ip and metadata and spec):
                continue
            labels = {
                "__meta_kubernetes_namespace": metadata.namespace,
                "__meta_kubernetes_pod_name": metadata.name,
                **{
                    f"__meta_kubernetes_pod_label_{_label_name(k)}": v
                    for k, v in (metadata.labels or {}).items()
                },
            }
            for container in spec.containers:
                for port in container.ports or []:
                    groups.append(
                        {
                            "targets": [f"{status.pod_ip}:{port.container_port}"],
                            "labels": {
                                **labels,
                                "__meta_kubernetes_pod_container_port_name": port.name or "",
                            },
                        }
                    )
        return groups

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        discovery = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(discovery.targets()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        return Handler

    def __enter__(self) -> PodDiscovery:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def scrape_config(discovery_url: str, scrape_interval: str = SCRAPE_INTERVAL) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": "modeldeploy-serving",
                "http_sd_configs": [{"url": discovery_url, "refresh_interval": "1s"}],
                "relabel_configs": [
                    {
                        "source_labels": [
                            "__meta_kubernetes_pod_label_app_kubernetes_io_component"
                        ],
                        "regex": "server",
                        "action": "keep",
                    },
                    {
                        "source_labels": ["__meta_kubernetes_pod_container_port_name"],
                        "regex": "http",
                        "action": "keep",
                    },
                    {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
                    {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
                    {
                        "regex": "__meta_kubernetes_pod_label_modeldeploy_dev_(.+)",
                        "action": "labelmap",
                        "replacement": "modeldeploy_$1",
                    },
                ],
            }
        ],
    }


class Prometheus:
    """The HTTP API of a running server."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _get(self, path: str, **params: str) -> Any:
        address = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        with urllib.request.urlopen(address, timeout=5) as response:
            return json.loads(response.read())["data"]

    def query(self, promql: str) -> list[Any]:
        """An instant query's result (a vector: `[{"metric": {...}, "value": [t, "v"]}]`)."""
        result: list[Any] = self._get("/api/v1/query", query=promql)["result"]
        return result

    def query_range(self, promql: str, start: float, end: float, step: float) -> list[Any]:
        """A range query's result (a matrix: `[{"metric": {...}, "values": [[t, "v"], ...]}]`)."""
        result: list[Any] = self._get(
            "/api/v1/query_range", query=promql, start=str(start), end=str(end), step=str(step)
        )["result"]
        return result

    def targets(self) -> list[Any]:
        found: list[Any] = self._get("/api/v1/targets")["activeTargets"]
        return found

    def version(self) -> str:
        return str(self._get("/api/v1/status/buildinfo").get("version", "?"))


@contextmanager
def running_prometheus(
    binary: str, discovery_url: str, directory: Path, scrape_interval: str = SCRAPE_INTERVAL
) -> Iterator[Prometheus]:
    """Prometheus on 127.0.0.1 with its configuration, data and log in `directory`, until the
    block ends (SIGTERM, SIGKILL past the deadline)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(discovery_url, scrape_interval)))
    log_path = directory / "prometheus.log"
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Prometheus(f"http://127.0.0.1:{port}")
        try:
            end = time.monotonic() + READY_DEADLINE
            while not answers(f"{server.url}/-/ready"):
                if process.poll() is not None or time.monotonic() > end:
                    state = "exited" if process.poll() is not None else "is not ready"
                    raise PrometheusError(
                        f"Prometheus {state}: {log_path.read_text()[-3000:]}".rstrip()
                    )
                time.sleep(0.1)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
