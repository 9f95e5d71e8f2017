"""Small ONNX models built with onnx.helper, and servers running them on 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modeldeploy.serve.config import ServeConfig
from modeldeploy.serve.faults import FaultSettings
from modeldeploy.serve.server import ModelServer

FEATURES, CLASSES = 64, 10


def linear_model(path: Path, seed: int = 0) -> Path:
    """`input` float32 [batch, 64] -> `logits` float32 [batch, 10] (x @ W + b)."""
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.normal(size=(FEATURES, CLASSES)).astype(np.float32), "W")
    bias = numpy_helper.from_array(rng.normal(size=CLASSES).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["product"]),
            helper.make_node("Add", ["product", "b"], ["logits"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=[weight, bias],
    )
    _save(graph, path)
    return path


def fixed_batch_model(path: Path) -> Path:
    """`input` float32 [2, 64] -> `doubled` float32 [2, 64]: no dynamic batch axis."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["input", "input"], ["doubled"])],
        "fixed",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [2, FEATURES])],
        [helper.make_tensor_value_info("doubled", TensorProto.FLOAT, [2, FEATURES])],
    )
    _save(graph, path)
    return path


def token_model(path: Path) -> Path:
    """Two int64 inputs [batch, seq] (like a transformer's) -> `masked` float32 [batch, seq]
    and `total` float32 [batch, 1]; the sequence axis is dynamic."""
    axes = ["batch", "seq"]
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["input_ids", "attention_mask"], ["product"]),
            helper.make_node("Cast", ["product"], ["masked"], to=TensorProto.FLOAT),
            helper.make_node("ReduceSum", ["masked", "axis"], ["total"], keepdims=1),
        ],
        "tokens",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, axes),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, axes),
        ],
        [
            helper.make_tensor_value_info("masked", TensorProto.FLOAT, axes),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, ["batch", 1]),
        ],
        initializer=[numpy_helper.from_array(np.array([1], dtype=np.int64), "axis")],
    )
    _save(graph, path)
    return path


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


class RunningServer:
    """A ModelServer on its own event loop thread, bound to 127.0.0.1 on a free port."""

    def __init__(self, config: ServeConfig, faults: FaultSettings | None = None) -> None:
        self.server = ModelServer(config, faults)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self.server.start())
        self.url = f"http://127.0.0.1:{self.server.port}"

    def call(self, coroutine: object, timeout: float = 30) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)  # type: ignore[arg-type]

    def load(self) -> RunningServer:
        self.call(self.server.load())
        return self

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def config_for(model: Path, **overrides: object) -> ServeConfig:
    base = ServeConfig(
        model_path=model,
        model_name="digits",
        model_version="3",
        host="127.0.0.1",
        port=0,
        threads=1,
        max_delay_ms=2.0,
        quiet_period_s=0.0,  # no client is behind a Service here: stop at once
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("serve-models")
    return {
        "linear": linear_model(folder / "linear.onnx"),
        "tokens": token_model(folder / "tokens.onnx"),
    }


@pytest.fixture(scope="module")
def linear_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    model = linear_model(tmp_path_factory.mktemp("linear") / "linear.onnx")
    running = RunningServer(config_for(model, max_body_bytes=64 * 1024)).load()
    yield running
    running.close()
