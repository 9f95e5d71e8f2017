"""Model signature and validation, tensor conversion, and settings from flags and env."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from modeldeploy.serve.config import ConfigError, load
from modeldeploy.serve.datatypes import to_array
from modeldeploy.serve.model import (
    InvalidInputError,
    ModelLoadError,
    OnnxModel,
    resolve_providers,
    verify_sha256,
)
from tests.serve.conftest import linear_model, token_model


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> OnnxModel:
    return OnnxModel(token_model(tmp_path_factory.mktemp("m") / "t.onnx"))


def test_signature_with_dynamic_axes(tokens: OnnxModel) -> None:
    assert [spec.name for spec in tokens.inputs] == ["input_ids", "attention_mask"]
    assert tokens.inputs[0].metadata_shape == [-1, -1]
    assert tokens.inputs[0].datatype == "INT64"
    assert tokens.batchable
    assert tokens.providers == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("feeds", "message"),
    [
        ({"input_ids": np.ones((1, 3), np.int64)}, "input 'attention_mask': missing"),
        (
            {"input_ids": np.ones((1, 3), np.int32), "attention_mask": np.ones((1, 3), np.int64)},
            "input 'input_ids': datatype INT32 does not match the model's INT64",
        ),
        (
            {"input_ids": np.ones((3,), np.int64), "attention_mask": np.ones((1, 3), np.int64)},
            "input 'input_ids': shape [3] does not match the model's [-1, -1]",
        ),
        (
            {"input_ids": np.ones((2, 3), np.int64), "attention_mask": np.ones((1, 3), np.int64)},
            "inputs disagree on the batch size",
        ),
        ({"ids": np.ones((1, 3), np.int64)}, "input 'ids': the model has no such input"),
    ],
)
def test_validation_names_the_input(
    tokens: OnnxModel, feeds: dict[str, np.ndarray], message: str
) -> None:
    with pytest.raises(InvalidInputError) as raised:
        tokens.validate(feeds)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("values", "dtype", "message"),
    [
        ([1.5, 2.0], np.int64, "data of kind float cannot be INT64"),
        ([300], np.uint8, "out of range for UINT8"),
        ([-1], np.uint32, "out of range for UINT32"),
        ([True], np.float32, "data of kind boolean cannot be FP32"),
        ([[1, 2], [3]], np.float32, "not a regular array"),
        (["1"], np.float32, "data of kind string cannot be FP32"),
    ],
)
def test_lossy_or_malformed_json_values_are_refused(
    values: list[object], dtype: type, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        to_array(values, np.dtype(dtype))


def test_lossless_conversions() -> None:
    assert to_array([1, 2], np.dtype(np.float32)).dtype == np.float32
    assert to_array([[True, False]], np.dtype(np.bool_)).shape == (1, 2)


def test_digest_and_file_checks(tmp_path: Path) -> None:
    model = linear_model(tmp_path / "m.onnx")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    verify_sha256(model, f"sha256:{digest.upper()}")
    with pytest.raises(ModelLoadError, match="expected 0000"):
        verify_sha256(model, "0" * 64)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="not a usable ONNX model"):
        OnnxModel(garbage)
    with pytest.raises(ModelLoadError, match="not available"):
        resolve_providers(["TensorrtExecutionProvider"])
    assert resolve_providers(["auto"])[-1] == "CPUExecutionProvider"


def test_settings_flags_win_over_env_and_pod_ip_is_the_default_host() -> None:
    env = {
        "MODELDEPLOY_MODEL_PATH": "/models/a.onnx",
        "MODELDEPLOY_MAX_BATCH_SIZE": "16",
        "MODELDEPLOY_MAX_DELAY_MS": "2.5",
        "MODELDEPLOY_PROVIDERS": "CUDAExecutionProvider, CPUExecutionProvider",
        "POD_IP": "10.1.2.3",
    }
    config = load(["--max-batch-size", "4", "--model-version", "9"], env)
    assert config.max_batch_size == 4
    assert config.max_delay_ms == 2.5
    assert config.model_version == "9"
    assert config.host == "10.1.2.3"
    assert config.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert load([], {"MODELDEPLOY_MODEL_PATH": "m.onnx"}).host == "0.0.0.0"
    limits = load(
        ["--model-path", "m", "--max-header-bytes", "8192"], {"MODELDEPLOY_HEADER_TIMEOUT_S": "2.5"}
    ).http_limits
    assert (limits.max_header_bytes, limits.header_timeout_s) == (8192, 2.5)
    assert load(["--model-path", "m"], {}).http_limits.max_header_bytes == 64 * 1024
    store = load([], {"MODELDEPLOY_MODEL_STORE": "/store", "MODELDEPLOY_MODEL_DIGEST": "a" * 64})
    assert store.model_file == Path("/store") / ("a" * 64) / "model.onnx"


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "set exactly one of --model-path"),
        (["--model-digest", "a" * 64], {}, "--model-digest needs --model-store"),
        (["--model-path", "m", "--port", "70000"], {}, "--port='70000': must be between"),
        (
            [],
            {"MODELDEPLOY_MODEL_PATH": "m", "MODELDEPLOY_GRAPH_OPTIMIZATION": "max"},
            "MODELDEPLOY_GRAPH_OPTIMIZATION='max': must be one of",
        ),
        (
            [],
            {"MODELDEPLOY_MODEL_PATH": "m", "MODELDEPLOY_MODEL_SHA256": "abc"},
            "MODELDEPLOY_MODEL_SHA256='abc': must be 64 hex digits",
        ),
        (["--model-path", "m", "--max-header-bytes", "0"], {}, "--max-header-bytes='0'"),
        (
            [],
            {"MODELDEPLOY_MODEL_PATH": "m", "MODELDEPLOY_HEADER_TIMEOUT_S": "soon"},
            "MODELDEPLOY_HEADER_TIMEOUT_S='soon'",
        ),
        (
            ["--model-path", "m", "--grace-period-s", "8"],
            {"MODELDEPLOY_QUIET_PERIOD_S": "5"},
            "--quiet-period-s (MODELDEPLOY_QUIET_PERIOD_S) 5 must be at most half of "
            "--grace-period-s (MODELDEPLOY_GRACE_PERIOD_S) 8",
        ),
    ],
)
def test_settings_errors_name_the_flag_or_variable(
    argv: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(argv, env)
    assert message in str(raised.value)
