"""The prometheus provider over its HTTP API: values, empty results, errors and timeouts are
measurements, never exceptions (a down Prometheus is an inconclusive interval)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from modeldeploy.analysis.providers.base import Target
from modeldeploy.analysis.providers.prometheus import PrometheusProvider
from modeldeploy.api.v1alpha1 import MetricCheck

TARGET = Target("ml", "digits", "2", 15.0)
ERRORS = MetricCheck(name="error-rate", max=0.01)


class FakePrometheus:
    """Answers /api/v1/query from a function of the query (a stand-in only for the HTTP
    shapes; the end-to-end tests use a real Prometheus)."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.answer: Any = None
        self.delay = 0.0
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)["query"][0]
                outer.queries.append(query)
                time.sleep(outer.delay)
                body = json.dumps(outer.answer(query)).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _vector(value: str) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, value]}]},
    }


@pytest.fixture
def prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    yield fake
    fake.server.shutdown()


def _measure(provider: PrometheusProvider) -> Any:
    return asyncio.run(provider.measure([ERRORS], TARGET))["error-rate"]


def test_templates_select_the_version_and_values_come_back(prometheus: FakePrometheus) -> None:
    prometheus.answer = lambda q: _vector("120" if "increase" in q else "0.25")
    measured = _measure(PrometheusProvider(prometheus.url, 5))
    assert (measured.value, measured.requests, measured.error) == (0.25, 120.0, None)
    assert all('version="2"' in q and 'namespace="ml"' in q for q in prometheus.queries)
    assert any("[15s]" in q and 'code!~"2.."' in q for q in prometheus.queries)


def test_an_empty_result_means_no_sample_and_no_requests(prometheus: FakePrometheus) -> None:
    prometheus.answer = lambda _: {
        "status": "success",
        "data": {"resultType": "vector", "result": []},
    }
    measured = _measure(PrometheusProvider(prometheus.url, 5))
    assert (measured.value, measured.requests, measured.error) == (None, 0.0, None)


def test_a_bad_query_down_server_or_timeout_is_an_error(prometheus: FakePrometheus) -> None:
    prometheus.status = 400
    prometheus.answer = lambda _: {"status": "error", "error": "parse error"}
    assert "HTTP 400 parse error" in _measure(PrometheusProvider(prometheus.url, 5)).error
    prometheus.status, prometheus.delay = 200, 2.0
    prometheus.answer = lambda _: _vector("1")
    assert "Timeout" in _measure(PrometheusProvider(prometheus.url, 0.3)).error
    assert _measure(PrometheusProvider("http://127.0.0.1:9", 1)).error
