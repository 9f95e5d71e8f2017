"""The real Prometheus of the analysis tests: the one `modeldeploy demo` runs
(modeldeploy/demo_prometheus.py), discovering the pods of the tests' namespace."""

from __future__ import annotations

from kubernetes import client

from modeldeploy import demo_prometheus
from modeldeploy.demo_prometheus import (
    Prometheus,
    prometheus_binary,
    running_prometheus,
    scrape_config,
)
from tests.controller.conftest import NAMESPACE

__all__ = ["PodDiscovery", "Prometheus", "prometheus_binary", "running_prometheus", "scrape_config"]


class PodDiscovery(demo_prometheus.PodDiscovery):
    """http_sd targets of the pods in the tests' namespace."""

    def __init__(self, core: client.CoreV1Api) -> None:
        super().__init__(core, NAMESPACE)
