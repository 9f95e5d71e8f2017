"""Metrics, limits, fault injection and batching as seen from HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from modeldeploy.serve.faults import FaultSettings
from tests.serve.conftest import FEATURES, RunningServer, config_for, linear_model, token_model

ROW = {
    "inputs": [
        {"name": "input", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.1] * FEATURES}
    ]
}


def metric(url: str, name: str, **labels: str) -> float:
    """The value of one sample in the server's /metrics (0 when absent)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(3))
    return 0.0


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def fresh_linear(tmp_path: Path) -> Iterator[RunningServer]:
    running = RunningServer(config_for(linear_model(tmp_path / "m.onnx"))).load()
    yield running
    running.close()


def test_metrics_count_requests_by_protocol_and_code(fresh_linear: RunningServer) -> None:
    url = fresh_linear.url
    labels = {"model": "digits", "version": "3"}
    for _ in range(3):
        assert requests.post(f"{url}/v2/models/digits/infer", json=ROW, timeout=10).ok
    bad = requests.post(f"{url}/v2/models/digits/infer", json={"inputs": []}, timeout=10)
    assert bad.status_code == 400
    v1 = requests.post(
        f"{url}/v1/models/digits:predict", json={"instances": [[0.0] * FEATURES]}, timeout=10
    )
    assert v1.ok
    assert metric(url, "modeldeploy_requests_total", protocol="v2", code="200", **labels) == 3
    assert metric(url, "modeldeploy_requests_total", protocol="v2", code="400", **labels) == 1
    assert metric(url, "modeldeploy_requests_total", protocol="v1", code="200", **labels) == 1
    assert metric(url, "modeldeploy_request_duration_seconds_count", protocol="v2", **labels) == 4
    assert metric(url, "modeldeploy_request_duration_seconds_bucket", le="10.0", **labels) == 4
    assert metric(url, "modeldeploy_inference_duration_seconds_count", **labels) == 4
    assert metric(url, "modeldeploy_batch_size_rows_sum", **labels) == 4
    assert metric(url, "modeldeploy_requests_in_flight", **labels) == 0
    assert metric(url, "modeldeploy_model_load_duration_seconds", **labels) > 0


def test_concurrency_limit_answers_503_with_retry_after(tmp_path: Path) -> None:
    config = config_for(linear_model(tmp_path / "m.onnx"), max_concurrency=2)
    running = RunningServer(config, FaultSettings(latency_s=1.0)).load()
    url = running.url
    try:
        answers: list[int] = []
        slow = [
            threading.Thread(
                target=lambda: answers.append(
                    requests.post(f"{url}/v2/models/digits/infer", json=ROW, timeout=10).status_code
                )
            )
            for _ in range(2)
        ]
        for thread in slow:
            thread.start()
        wait_for(lambda: metric(url, "modeldeploy_requests_in_flight") == 2)
        refused = requests.post(f"{url}/v2/models/digits/infer", json=ROW, timeout=10)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "1"
        assert "too many requests in flight" in refused.json()["error"]
        for thread in slow:
            thread.join()
        assert answers == [200, 200]
    finally:
        running.close()


def test_injected_error_rate_fails_that_share_of_requests(tmp_path: Path) -> None:
    config = config_for(linear_model(tmp_path / "m.onnx"))
    running = RunningServer(config, FaultSettings(error_rate=0.5, seed=7)).load()
    try:
        codes = [
            requests.post(f"{running.url}/v2/models/digits/infer", json=ROW, timeout=10).status_code
            for _ in range(60)
        ]
        assert set(codes) == {200, 500}
        assert 15 <= codes.count(500) <= 45
        assert metric(running.url, "modeldeploy_requests_total", code="500") == codes.count(500)
    finally:
        running.close()


def test_model_is_not_ready_before_load_and_warm_up(tmp_path: Path) -> None:
    running = RunningServer(config_for(linear_model(tmp_path / "m.onnx")))
    try:
        assert requests.get(f"{running.url}/v2/health/live", timeout=10).status_code == 200
        assert requests.get(f"{running.url}/v2/health/ready", timeout=10).status_code == 503
        early = requests.post(f"{running.url}/v2/models/digits/infer", json=ROW, timeout=10)
        assert early.status_code == 503
        assert "not ready" in early.json()["error"]
        running.load()
        assert requests.get(f"{running.url}/v2/health/ready", timeout=10).status_code == 200
    finally:
        running.close()


def _tokens(ids: list[list[int]]) -> dict[str, object]:
    shape = [len(ids), len(ids[0])]
    flat = [value for row in ids for value in row]
    return {
        "inputs": [
            {"name": "input_ids", "shape": shape, "datatype": "INT64", "data": flat},
            {
                "name": "attention_mask",
                "shape": shape,
                "datatype": "INT64",
                "data": [1] * len(flat),
            },
        ]
    }


def test_concurrent_requests_are_batched_and_split_back_by_shape(tmp_path: Path) -> None:
    """Requests with sequence lengths 3 and 5 arrive together: each gets its own outputs,
    and fewer batches run than requests (same-shape ones were merged)."""
    config = config_for(token_model(tmp_path / "t.onnx"), max_delay_ms=200.0)
    running = RunningServer(config).load()
    url = running.url
    try:
        bodies = [[[index + 1] * (3 if index % 2 else 5)] for index in range(12)]

        async def send_all() -> list[dict[str, object]]:
            # Connect first, then write every request back to back, so that they really
            # arrive together (connection set-up would otherwise spread them out).
            port = running.server.port
            streams = [await asyncio.open_connection("127.0.0.1", port) for _ in bodies]
            for (_, writer), ids in zip(streams, bodies, strict=True):
                body = json.dumps(_tokens(ids)).encode()
                writer.write(
                    b"POST /v2/models/digits/infer HTTP/1.1\r\nHost: test\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )

            async def answer(reader: asyncio.StreamReader) -> dict[str, object]:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                assert head.startswith("HTTP/1.1 200"), head
                length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
                return json.loads(await reader.readexactly(length))  # type: ignore[no-any-return]

            try:
                return await asyncio.gather(*(answer(reader) for reader, _ in streams))
            finally:
                for _, writer in streams:
                    writer.close()

        results = asyncio.run(send_all())
        for ids, result in zip(bodies, results, strict=True):
            outputs = {out["name"]: out for out in result["outputs"]}  # type: ignore[attr-defined]
            assert outputs["masked"]["data"] == [float(v) for v in ids[0]]
            assert outputs["total"]["data"] == [float(sum(ids[0]))]
        batches = metric(url, "modeldeploy_batch_size_rows_count")
        assert metric(url, "modeldeploy_batch_size_rows_sum") == 12
        assert batches < 12
    finally:
        running.close()


def test_multi_input_v1_instances_by_name(tmp_path: Path) -> None:
    running = RunningServer(config_for(token_model(tmp_path / "t.onnx"))).load()
    try:
        instances = [
            {"input_ids": [1, 2, 3], "attention_mask": [1, 1, 0]},
            {"input_ids": [4, 5, 6], "attention_mask": [1, 0, 0]},
        ]
        response = requests.post(
            f"{running.url}/v1/models/digits:predict", json={"instances": instances}, timeout=10
        )
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert predictions[0] == {"masked": [1.0, 2.0, 0.0], "total": [3.0]}
        assert predictions[1] == {"masked": [4.0, 0.0, 0.0], "total": [4.0]}
        mismatched = requests.post(
            f"{running.url}/v2/models/digits/infer",
            json={
                "inputs": [
                    {"name": "input_ids", "shape": [1, 3], "datatype": "INT64", "data": [1, 2, 3]},
                    {
                        "name": "attention_mask",
                        "shape": [1, 2],
                        "datatype": "INT64",
                        "data": [1, 1],
                    },
                ]
            },
            timeout=10,
        )
        assert mismatched.status_code == 400
        assert "could not run on this input" in mismatched.json()["error"]
        np.testing.assert_equal(metric(running.url, "modeldeploy_requests_total", code="500"), 0)
    finally:
        running.close()
