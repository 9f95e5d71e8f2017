"""Both protocols through real clients: tritonclient (v2, JSON and binary), curl-style v1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import requests
import tritonclient.http as triton
from kserve.inference_client import InferenceRESTClient, RESTConfig
from tritonclient.utils import InferenceServerException

from tests.fixtures.models import default_data_dir, digits_mlp
from tests.serve.conftest import (
    FEATURES,
    RunningServer,
    config_for,
    fixed_batch_model,
    linear_model,
)


def _direct(model_path: str, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": rows})[0]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_gets_the_outputs_of_a_direct_onnxruntime_call(
    linear_server: RunningServer, binary: bool
) -> None:
    rows = np.random.default_rng(1).normal(size=(5, FEATURES)).astype(np.float32)
    client = triton.InferenceServerClient(linear_server.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("digits")
        metadata = client.get_model_metadata("digits")
        assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 64]}]
        tensor = triton.InferInput("input", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        wanted = triton.InferRequestedOutput("logits", binary_data=binary)
        result = client.infer("digits", [tensor], outputs=[wanted], request_id="r-1")
        assert result.get_response()["id"] == "r-1"
        assert result.get_response()["model_version"] == "3"
        got = result.as_numpy("logits")
    finally:
        client.close()
    expected = _direct(str(linear_server.server.config.model_file), rows)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_tritonclient_sees_an_unknown_model_as_an_error(linear_server: RunningServer) -> None:
    client = triton.InferenceServerClient(linear_server.url.removeprefix("http://"))
    tensor = triton.InferInput("input", [1, FEATURES], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, FEATURES), np.float32))
    try:
        with pytest.raises(InferenceServerException, match="'nope' is not served here"):
            client.infer("nope", [tensor])
    finally:
        client.close()


def test_v1_predict_with_curl_style_json(linear_server: RunningServer) -> None:
    rows = np.random.default_rng(2).normal(size=(3, FEATURES)).astype(np.float32)
    response = requests.post(
        f"{linear_server.url}/v1/models/digits:predict",
        data=json.dumps({"instances": rows.tolist()}),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    predictions = np.array(response.json()["predictions"], dtype=np.float32)
    expected = _direct(str(linear_server.server.config.model_file), rows)
    np.testing.assert_allclose(predictions, expected, rtol=1e-5, atol=1e-5)
    status = requests.get(f"{linear_server.url}/v1/models/digits", timeout=10)
    assert status.json() == {"name": "digits", "ready": True}


def test_v2_versioned_url_and_wrong_version(linear_server: RunningServer) -> None:
    body = {"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [0] * 64}]}
    ok = requests.post(
        f"{linear_server.url}/v2/models/digits/versions/3/infer", json=body, timeout=10
    )
    assert ok.status_code == 200
    assert ok.json()["outputs"][0]["shape"] == [1, 10]
    wrong = requests.post(
        f"{linear_server.url}/v2/models/digits/versions/2/infer", json=body, timeout=10
    )
    assert wrong.status_code == 404
    assert "version '2'" in wrong.json()["error"]


def _tensor(**overrides: object) -> dict[str, object]:
    tensor: dict[str, object] = {
        "name": "input",
        "shape": [1, FEATURES],
        "datatype": "FP32",
        "data": [0.5] * FEATURES,
    }
    tensor.update(overrides)
    return tensor


BAD_V2_REQUESTS = {
    "wrong dtype": ({"inputs": [_tensor(datatype="INT64", data=[1] * 64)]}, 400, "INT64"),
    "wrong shape": ({"inputs": [_tensor(shape=[1, 63], data=[0.5] * 63)]}, 400, "[1, 63]"),
    "too few values": ({"inputs": [_tensor(shape=[2, 64])]}, 400, "do not fill shape"),
    "missing input": ({"inputs": []}, 400, "non-empty list"),
    "unknown input": ({"inputs": [_tensor(name="pixels")]}, 400, "input 'pixels'"),
    "text data": ({"inputs": [_tensor(data=["a"] * 64)]}, 400, "input 'input'"),
    "ragged data": ({"inputs": [_tensor(data=[[1, 2], [3]])]}, 400, "input 'input'"),
    "empty tensor": ({"inputs": [_tensor(shape=[0, 64], data=[])]}, 400, "empty tensor"),
    "unknown output": (
        {"inputs": [_tensor()], "outputs": [{"name": "probabilities"}]},
        400,
        "output 'probabilities'",
    ),
    "not an object": ([1, 2, 3], 400, "JSON object"),
}


@pytest.mark.parametrize("case", list(BAD_V2_REQUESTS))
def test_malformed_v2_requests_get_a_400_naming_the_problem(
    linear_server: RunningServer, case: str
) -> None:
    body, status, fragment = BAD_V2_REQUESTS[case]
    response = requests.post(f"{linear_server.url}/v2/models/digits/infer", json=body, timeout=10)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_bodies_that_are_not_json_or_too_big_or_for_another_model(
    linear_server: RunningServer,
) -> None:
    url = f"{linear_server.url}/v2/models/digits/infer"
    not_json = requests.post(url, data=b"{inputs:", timeout=10)
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]
    huge = requests.post(url, data=b"[" + b"0," * 100_000 + b"0]", timeout=10)
    assert huge.status_code == 413
    assert "limit" in huge.json()["error"]
    other = requests.post(f"{linear_server.url}/v2/models/other/infer", json={}, timeout=10)
    assert other.status_code == 404
    v1_bad = requests.post(
        f"{linear_server.url}/v1/models/digits:predict", json={"instances": [[1.5, 2]]}, timeout=10
    )
    assert v1_bad.status_code == 400
    assert "input 'input'" in v1_bad.json()["error"]
    v1_no_instances = requests.post(
        f"{linear_server.url}/v1/models/digits:predict", json={"rows": []}, timeout=10
    )
    assert v1_no_instances.status_code == 400
    assert "'instances'" in v1_no_instances.json()["error"]


def test_server_metadata_and_openapi(linear_server: RunningServer) -> None:
    server = requests.get(f"{linear_server.url}/v2", timeout=10).json()
    assert server["name"] == "modeldeploy"
    assert "binary_tensor_data" in server["extensions"]
    document = requests.get(f"{linear_server.url}/openapi.json", timeout=10).json()
    assert "/v2/models/{name}/infer" in document["paths"]
    assert document["paths"]["/v1/models/{name}:predict"]["parameters"][0]["schema"] == {
        "type": "string",
        "enum": ["digits"],
    }


@pytest.mark.slow
def test_the_trained_digits_model_classifies_like_onnxruntime_through_tritonclient() -> None:
    """The real digits MLP (tests/fixtures/models.py), 64 held-out digits in one request."""
    digits = digits_mlp(default_data_dir())
    with np.load(digits.val) as val:
        rows, labels = val["inputs"][:64].astype(np.float32), val["labels"][:64]
    running = RunningServer(config_for(digits.model)).load()
    client = triton.InferenceServerClient(running.url.removeprefix("http://"))
    try:
        tensor = triton.InferInput("input", list(rows.shape), "FP32")
        tensor.set_data_from_numpy(rows)
        logits = client.infer("digits", [tensor]).as_numpy("logits")
    finally:
        client.close()
        running.close()
    np.testing.assert_allclose(logits, _direct(str(digits.model), rows), rtol=1e-5, atol=1e-5)
    assert (logits.argmax(axis=1) == labels).mean() > 0.9


def test_tritonclient_reads_the_model_config_and_the_repository_index(
    linear_server: RunningServer,
) -> None:
    client = triton.InferenceServerClient(linear_server.url.removeprefix("http://"))
    try:
        config = client.get_model_config("digits")
        assert config == client.get_model_config("digits", model_version="3")
        index = client.get_model_repository_index()
        with pytest.raises(InferenceServerException, match="'other' is not served here"):
            client.get_model_config("other")
    finally:
        client.close()
    assert (config["name"], config["platform"], config["backend"]) == (
        "digits",
        "onnxruntime_onnx",
        "onnxruntime",
    )
    # Dynamic batching: the batch axis is left out of dims, as in Triton.
    assert config["max_batch_size"] == linear_server.server.config.max_batch_size
    assert [(t["name"], t["data_type"], t["dims"]) for t in config["input"]] == [
        ("input", "TYPE_FP32", [FEATURES])
    ]
    assert [(t["name"], t["data_type"], t["dims"]) for t in config["output"]] == [
        ("logits", "TYPE_FP32", [10])
    ]
    assert config["dynamic_batching"]["max_queue_delay_microseconds"] == 2000
    assert config["version_policy"] == {"specific": {"versions": [3]}}
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    assert index == [{"name": "digits", "version": "3", "state": "READY", "reason": ""}]


def test_a_model_without_a_batch_axis_has_no_max_batch_size(tmp_path: Path) -> None:
    running = RunningServer(config_for(fixed_batch_model(tmp_path / "fixed.onnx"))).load()
    client = triton.InferenceServerClient(running.url.removeprefix("http://"))
    try:
        config = client.get_model_config("digits")
    finally:
        client.close()
        running.close()
    assert config["max_batch_size"] == 0
    assert "dynamic_batching" not in config
    assert config["input"][0]["dims"] == [2, FEATURES]


def test_tritonclient_statistics_count_requests_rows_and_batches(
    tmp_path: Path,
) -> None:
    running = RunningServer(config_for(linear_model(tmp_path / "m.onnx"))).load()
    client = triton.InferenceServerClient(running.url.removeprefix("http://"))
    try:
        before = client.get_inference_statistics("digits")["model_stats"][0]
        for rows in (1, 5, 1):  # one at a time: each runs as a batch of its own
            tensor = triton.InferInput("input", [rows, FEATURES], "FP32")
            tensor.set_data_from_numpy(np.zeros((rows, FEATURES), np.float32))
            client.infer("digits", [tensor])
        wrong = triton.InferInput("input", [1, 3], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 3), np.float32))
        with pytest.raises(InferenceServerException):
            client.infer("digits", [wrong])
        every = client.get_inference_statistics()
        by_version = client.get_inference_statistics("digits", model_version="3")
        with pytest.raises(InferenceServerException, match="'other' is not served here"):
            client.get_inference_statistics("other")
    finally:
        client.close()
        running.close()
    assert before["inference_count"] == 0  # the warm-up is no inference request
    assert every == by_version
    (stats,) = every["model_stats"]
    assert (stats["name"], stats["version"]) == ("digits", "3")
    assert stats["inference_count"] == 7
    assert stats["execution_count"] == 3
    assert stats["last_inference"] > 0
    inference = stats["inference_stats"]
    assert (inference["success"]["count"], inference["fail"]["count"]) == (3, 1)
    assert inference["success"]["ns"] > inference["compute_infer"]["ns"] > 0
    assert [(b["batch_size"], b["compute_infer"]["count"]) for b in stats["batch_stats"]] == [
        (1, 2),
        (5, 1),
    ]


def test_kserve_inference_rest_client_v1_and_v2(linear_server: RunningServer) -> None:
    rows = np.random.default_rng(3).normal(size=(2, FEATURES)).astype(np.float32)

    async def calls() -> tuple[bool, bool, bool, bool, Any]:
        v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=10))
        v2 = InferenceRESTClient(RESTConfig(protocol="v2", timeout=10))
        try:
            predicted = await v1.infer(
                linear_server.url, {"instances": rows.tolist()}, model_name="digits"
            )
            return (
                await v1.is_server_live(linear_server.url),
                await v1.is_model_ready(linear_server.url, "digits"),
                await v2.is_server_live(linear_server.url),
                await v2.is_model_ready(linear_server.url, "digits"),
                predicted,
            )
        finally:
            await v1.close()
            await v2.close()

    *health, predicted = asyncio.run(calls())
    assert health == [True, True, True, True]
    expected = _direct(str(linear_server.server.config.model_file), rows)
    np.testing.assert_allclose(
        np.array(predicted["predictions"], np.float32), expected, rtol=1e-5, atol=1e-5
    )
