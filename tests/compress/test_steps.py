"""Each step alone on the digits MLP, with the figures asserted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from modeldeploy.api.v1alpha1.compression import Evaluation, Metric
from modeldeploy.compress import evaluate, graph
from modeldeploy.compress.dataset import Dataset, load_dataset
from modeldeploy.compress.steps.optimize import optimize
from modeldeploy.compress.steps.prune import prune
from modeldeploy.compress.steps.quantize import quantize
from tests.compress.conftest import RunJob
from tests.fixtures.models import DigitsModel

ACCURACY = Evaluation(dataset_uri="file:///unused", metric=Metric.ACCURACY)


@pytest.fixture(scope="module")
def model(digits: DigitsModel) -> onnx.ModelProto:
    return onnx.load(str(digits.model))


@pytest.fixture(scope="module")
def val(digits: DigitsModel, model: onnx.ModelProto) -> Dataset:
    return load_dataset(digits.val, "val.npz", model)


def _accuracy(model: onnx.ModelProto, data: Dataset) -> float:
    result = evaluate.outputs(evaluate.session(model), data)
    return evaluate.metric_value(ACCURACY, result, result, data)


def test_unstructured_prune_zeroes_half_of_each_weight_matrix(
    model: onnx.ModelProto, val: Dataset
) -> None:
    result = prune(model, 0.5)

    for node in graph.weighted_nodes(result.model):
        weight = numpy_helper.to_array(graph.initializers(result.model)[node.input[1]])
        assert np.mean(weight == 0) == pytest.approx(0.5, abs=0.01)
    assert result.details["weightSparsity"] == pytest.approx(0.5, abs=0.01)
    assert _accuracy(model, val) - _accuracy(result.model, val) <= 0.02


def test_structured_prune_removes_channels_parameters_and_macs(
    model: onnx.ModelProto, val: Dataset
) -> None:
    result = prune(model, 0.5, structured=True)

    onnx.checker.check_model(result.model)
    weights = graph.initializers(result.model)
    shapes = [list(weights[node.input[1]].dims) for node in graph.weighted_nodes(result.model)]
    assert shapes == [[256, 64], [128, 256], [10, 128]]  # Gemm weights are [out, in]
    assert graph.parameters(result.model) < graph.parameters(model) / 3
    assert graph.macs_per_sample(result.model) < graph.macs_per_sample(model) / 3
    assert graph.macs_per_sample(model) == 64 * 512 + 512 * 256 + 256 * 10
    outputs = evaluate.outputs(evaluate.session(result.model), val)
    assert outputs.shape == (len(val), 10)
    # Before fine-tuning the pruned model loses accuracy, but stays a working classifier.
    assert 0.7 < _accuracy(result.model, val) < _accuracy(model, val)


def test_dynamic_int8_is_3_5x_smaller_and_loses_at_most_one_point(
    model: onnx.ModelProto, val: Dataset
) -> None:
    for per_channel in (False, True):
        result = quantize(model, "dynamic", per_channel=per_channel)

        assert graph.weight_bytes(model) / graph.weight_bytes(result.model) >= 3.5
        assert _accuracy(model, val) - _accuracy(result.model, val) <= 0.01
        assert any(node.op_type == "DynamicQuantizeLinear" for node in result.model.graph.node)


def test_static_int8_with_calibration_stays_within_the_gate(
    run_job: RunJob, digits: DigitsModel
) -> None:
    run = run_job([{"type": "quantize", "mode": "static", "calibrationUri": digits.train.as_uri()}])

    assert run.exit_code == 0, run.termination
    assert run.report["metric"]["drop"] <= 0.01
    assert run.report["ratio"] >= 3.5


def test_excluded_nodes_stay_in_float(model: onnx.ModelProto) -> None:
    last = graph.weighted_nodes(model)[-1].name

    result = quantize(model, "dynamic", exclude_nodes=[last])

    float_matmuls = [n.name for n in result.model.graph.node if n.op_type == "MatMul"]
    assert float_matmuls == [last]


def test_fp16_halves_the_weights_and_keeps_float32_io(model: onnx.ModelProto, val: Dataset) -> None:
    result = quantize(model, "fp16")

    assert graph.weight_bytes(result.model) * 2 == pytest.approx(
        graph.weight_bytes(model), rel=0.01
    )
    assert result.model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert _accuracy(model, val) - _accuracy(result.model, val) <= 0.01


def test_optimize_keeps_the_outputs(model: onnx.ModelProto, val: Dataset) -> None:
    optimized = optimize(model, "extended")

    before = evaluate.outputs(evaluate.session(model), val)
    after = evaluate.outputs(evaluate.session(optimized), val)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)


def test_auto_keeps_a_passing_candidate_and_reports_all(
    run_job: RunJob, digits: DigitsModel
) -> None:
    run = run_job([{"type": "quantize", "mode": "auto", "calibrationUri": digits.train.as_uri()}])

    assert run.exit_code == 0, run.termination
    step = run.report["steps"][0]
    names = [candidate["name"] for candidate in step["candidates"]]
    assert set(names) >= {"dynamic", "dynamic-keep-ends", "static-matmul"}
    assert all("metric" in c and "weight_bytes" in c for c in step["candidates"])
    # Which candidate qualifies depends on the machine's timings: each was measured against
    # the original, and only one not slower than it may be kept (tests/compress/test_auto.py).
    if step["outcome"] == "applied":
        chosen = next(c for c in step["candidates"] if c["name"] == step["chosen"])
        assert chosen["qualified"] is True
        assert run.report["ratio"] >= 2.0
    else:
        assert run.report["ratio"] == 1.0
        assert step["reason"].startswith("no candidate qualifies for objective latency: ")


def _relu_only_model(path: Path) -> Path:
    graph_proto = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["logits"], name="relu")],
        "relu",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 64])],
    )
    model = helper.make_model(graph_proto, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_a_model_with_nothing_to_compress_is_reported_not_crashed(
    run_job: RunJob, tmp_path: Path
) -> None:
    steps = [
        {"type": "prune", "sparsity": 0.5, "structured": True},
        {"type": "prune", "sparsity": 0.5},
        {"type": "quantize", "mode": "dynamic"},
        {"type": "quantize", "mode": "auto"},
    ]

    run = run_job(
        steps,
        modelUri=_relu_only_model(tmp_path / "relu.onnx").as_uri(),
        evaluation={"metric": "fidelity", "maxDrop": 0.0},
    )

    assert run.exit_code == 0, run.termination
    assert [step["outcome"] for step in run.report["steps"]] == ["nothing-to-compress"] * 4
    assert "nothing to compress for prune, prune, quantize, quantize" in run.report["reason"]
