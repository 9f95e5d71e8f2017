"""Prometheus metrics of one served model version, labelled `model` and `version`, and
the same figures kept for the Triton statistics endpoint.

The rollout analysis reads these (error rate from `modeldeploy_requests_total`, latency
quantiles from `modeldeploy_request_duration_seconds`), so the names are an interface.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field

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


@dataclass
class Duration:
    """A count and a total time, as Triton's `$duration_stat` reports them."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.ns += round(seconds * 1e9)


@dataclass
class InferenceStatistics:
    """Cumulative figures of the served model since the start (Triton's statistics
    extension): answered inference requests and the batches ONNX Runtime ran."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)  # one per batch run
    inference_count: int = 0  # rows run (Triton counts each row of a batch)
    last_inference_ms: int = 0  # when the last inference request was answered (epoch)
    batches: dict[int, Duration] = field(default_factory=dict)  # by rows in the batch


class ServeMetrics:
    """The server's metrics in their own registry (several servers can share a process)."""

    def __init__(self, model: str, version: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"model": model, "version": version}
        names = list(labels)
        self._requests = Counter(
            "modeldeploy_requests",
            "Inference requests answered, and every answer the HTTP layer gave itself "
            "(400, 408, 413, 415, 431), by protocol (v1, v2; http where the URL names "
            "neither or could not be read) and HTTP status code.",
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
        self.statistics = InferenceStatistics()
        self._statistics_lock = threading.Lock()  # batches are counted on the worker thread

    def _counter(self, protocol: str, code: int) -> Counter:
        counter = self._request_children.get((protocol, code))
        if counter is None:
            counter = self._requests.labels(**self._labels, protocol=protocol, code=str(code))
            self._request_children[(protocol, code)] = counter
        return counter

    def refusal(self, protocol: str, code: int) -> None:
        """An answer the HTTP layer gave before any handler (a malformed request, a head
        or body over its limit, a head too slow): counted, but not timed, since its
        duration says nothing of the server's latency."""
        self._counter(protocol, code).inc()

    def request(self, protocol: str, code: int, seconds: float) -> None:
        """An answered inference request. A 404 (another model or version) is no request
        of this model, so Triton's statistics leave it out."""
        self._counter(protocol, code).inc()
        if code != 404:
            with self._statistics_lock:
                outcome = self.statistics.success if code < 400 else self.statistics.fail
                outcome.add(seconds)
                self.statistics.last_inference_ms = round(time.time() * 1000)
        histogram = self._latency_children.get(protocol)
        if histogram is None:
            histogram = self._request_seconds.labels(**self._labels, protocol=protocol)
            self._latency_children[protocol] = histogram
        histogram.observe(seconds)

    def batch(self, rows: int, seconds: float) -> None:
        self._batch_rows.observe(rows)
        self._inference_seconds.observe(seconds)
        with self._statistics_lock:
            statistics = self.statistics
            statistics.compute_infer.add(seconds)
            statistics.inference_count += rows
            statistics.batches.setdefault(rows, Duration()).add(seconds)

    def statistics_now(self) -> InferenceStatistics:
        """A consistent copy of the statistics (batches are counted on another thread)."""
        with self._statistics_lock:
            return copy.deepcopy(self.statistics)

    def model_loaded(self, seconds: float) -> None:
        self._load_seconds.set(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
