"""A real Prometheus server (Debian package `prometheus`) on loopback that scrapes the serving
pods with the usual relabelling of namespace, pod and `modeldeploy.dev/*` labels.

Debian's build (2.42.0+ds) leaves kubernetes_sd out ("field kubernetes_sd_configs not found in
type config.ScrapeConfig"), so the pods are listed for it by `PodDiscovery`: an http_sd
endpoint that reads the pods from the sandbox API and labels them with the `__meta_kubernetes_*`
names kubernetes_sd (role pod) uses, so the relabelling is the one a cluster's
configuration has (there: `kubernetes_sd_configs: [{role: pod, kubeconfig_file: ...}]`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.controller.conftest import NAMESPACE, free_port
from tests.sandbox.cluster.conftest import wait_for

SCRAPE_INTERVAL = "500ms"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None
    )


def _label_name(key: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in key)


class PodDiscovery:
    """http_sd targets of the pods' named container ports, as kubernetes_sd role pod gives."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sd"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def targets(self) -> list[dict[str, Any]]:
        groups = []
        for pod in self.core.list_namespaced_pod(NAMESPACE).items:
            if not pod.status.pod_ip:
                continue
            labels = {
                "__meta_kubernetes_namespace": pod.metadata.namespace,
                "__meta_kubernetes_pod_name": pod.metadata.name,
                **{
                    f"__meta_kubernetes_pod_label_{_label_name(k)}": v
                    for k, v in (pod.metadata.labels or {}).items()
                },
            }
            for container in pod.spec.containers:
                for port in container.ports or []:
                    groups.append(
                        {
                            "targets": [f"{pod.status.pod_ip}:{port.container_port}"],
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


def scrape_config(discovery_url: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
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
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list[Any]:
        address = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(address, timeout=5) as response:
            body = json.loads(response.read())
        result: list[Any] = body["data"]["result"]
        return result

    def targets(self) -> list[Any]:
        with urllib.request.urlopen(f"{self.url}/api/v1/targets", timeout=5) as response:
            found: list[Any] = json.loads(response.read())["data"]["activeTargets"]
            return found


@contextmanager
def running_prometheus(binary: str, discovery_url: str, directory: Path) -> Iterator[Prometheus]:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(discovery_url)))
    port = free_port()
    log = (directory / "prometheus.log").open("w")
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

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return process.poll() is not None  # exited: fail below with its log

        wait_for(ready, "Prometheus ready", 60)
        assert process.poll() is None, (directory / "prometheus.log").read_text()[-3000:]
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        finally:
            process.kill()
            log.close()
