"""Prometheus metrics of one served model version, labelled `model` and `version`.

The rollout analysis reads these (error rate from `modeldeploy_requests_total`, latency
quantiles from `modeldeploy_request_duration_seconds`), so the names are an interface.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# 1 ms .. 10 s, roughly 1-2.5-5 per decade.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """The server's metrics in their own registry (several servers can share a process)."""

    def __init__(self, model: str, version: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"model": model, "version": version}
        names = list(labels)
        self._requests = Counter(
            "modeldeploy_requests",
            "Inference requests answered, by protocol (v1, v2) and HTTP status code.",
            [*names, "protocol", "code"],
            registry=self.registry,
        )
        self._request_seconds = Histogram(
            "modeldeploy_request_duration_seconds",
            "Time from receiving an inference request to answering it.",
            [*names, "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._inference_seconds = Histogram(
            "modeldeploy_inference_duration_seconds",
            "Time ONNX Runtime spent on one (possibly merged) batch.",
            names,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self._batch_rows = Histogram(
            "modeldeploy_batch_size_rows",
            "Rows (axis 0) in each batch run by ONNX Runtime after dynamic batching.",
            names,
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        ).labels(**labels)
        self.in_flight = Gauge(
            "modeldeploy_requests_in_flight",
            "Inference requests accepted and not yet answered.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._load_seconds = Gauge(
            "modeldeploy_model_load_duration_seconds",
            "Time to load the model and run the warm-up inference.",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._labels = labels
        self._request_children: dict[tuple[str, int], Counter] = {}
        self._latency_children: dict[str, Histogram] = {}

    def request(self, protocol: str, code: int, seconds: float) -> None:
        counter = self._request_children.get((protocol, code))
        if counter is None:
            counter = self._requests.labels(**self._labels, protocol=protocol, code=str(code))
            self._request_children[(protocol, code)] = counter
        counter.inc()
        histogram = self._latency_children.get(protocol)
        if histogram is None:
            histogram = self._request_seconds.labels(**self._labels, protocol=protocol)
            self._latency_children[protocol] = histogram
        histogram.observe(seconds)

    def batch(self, rows: int, seconds: float) -> None:
        self._batch_rows.observe(rows)
        self._inference_seconds.observe(seconds)

    def model_loaded(self, seconds: float) -> None:
        self._load_seconds.set(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
