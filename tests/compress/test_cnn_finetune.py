"""Structured pruning and fine-tuning on an ordinary CNN (BatchNormalization, pooling, a
residual block, two branches concatenated): the dependencies are kept, the chain recovers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.runtime import session
from modeldeploy.compress.steps.prune import prune
from tests.compress.conftest import RunJob, run_job_process
from tests.fixtures.cnn import DigitsCnn

# The fixture's convolutions (tests/fixtures/cnn.py), by the names the exporter gives them.
STEM = "/0/Conv"
BODY_FIRST, BODY_SECOND = "/3/body/body.0/Conv", "/3/body/body.3/Conv"
NARROW, WIDE = "/5/narrow/narrow.0/Conv", "/5/wide/wide.0/Conv"
AFTER_CONCAT = "/7/Conv"
CLASSIFIER = "/12/Gemm"


def _weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Weight (input 1) of each MatMul/Gemm/Conv, by node name."""
    arrays = graph.initializers(model)
    return {
        node.name: numpy_helper.to_array(arrays[node.input[1]])
        for node in graph.weighted_nodes(model)
    }


def _kept_filters(original: np.ndarray, pruned: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Which of the original filters the pruned ones are (their kept input channels only)."""
    candidates = original[:, inputs]
    found = []
    for row in pruned:
        matches = [i for i in range(len(candidates)) if np.array_equal(candidates[i], row)]
        assert len(matches) == 1
        found.append(matches[0])
    return np.array(found)


def _logits(model: onnx.ModelProto, inputs: np.ndarray) -> np.ndarray:
    out: np.ndarray = session(model).run(None, {"input": inputs})[0]
    return out


def test_structured_prune_removes_the_same_channels_across_the_residual_and_cuts_the_concat(
    cnn: DigitsCnn,
) -> None:
    original = onnx.load(str(cnn.model))
    inputs = np.load(cnn.val)["inputs"][:128]

    result = prune(original, 0.5, structured=True)

    onnx.checker.check_model(result.model)
    before, after = _weights(original), _weights(result.model)
    assert {name: w.shape[0] for name, w in after.items() if name != CLASSIFIER} == {
        STEM: 16, BODY_FIRST: 16, BODY_SECOND: 16, NARROW: 16, WIDE: 16, AFTER_CONCAT: 32,
    }  # fmt: skip
    assert after[CLASSIFIER].shape == (10, 32)  # the output layer keeps its 10 classes
    every = np.arange(1)
    stem = _kept_filters(before[STEM], after[STEM], every)
    body_first = _kept_filters(before[BODY_FIRST], after[BODY_FIRST], stem)
    body_second = _kept_filters(before[BODY_SECOND], after[BODY_SECOND], body_first)
    # The residual Add joins the stem and the block's last Conv: one set of channels.
    np.testing.assert_array_equal(stem, body_second)
    narrow = _kept_filters(before[NARROW], after[NARROW], stem)
    wide = _kept_filters(before[WIDE], after[WIDE], stem)
    # After the Concat, the wide branch's channels start at the narrow branch's width (32).
    concatenated = np.concatenate([narrow, 32 + wide])
    last = _kept_filters(before[AFTER_CONCAT], after[AFTER_CONCAT], concatenated)
    np.testing.assert_array_equal(after[CLASSIFIER], before[CLASSIFIER][:, last])

    # The pruned model computes exactly what the original computes when every reader of the
    # removed channels ignores them: the cuts are consistent through the Add and the Concat.
    readers = {
        BODY_FIRST: stem, BODY_SECOND: body_first, NARROW: stem, WIDE: stem,
        AFTER_CONCAT: concatenated, CLASSIFIER: last,
    }  # fmt: skip
    masked = onnx.ModelProto()
    masked.CopyFrom(original)
    for node in graph.weighted_nodes(masked):
        kept = readers.get(node.name)
        if kept is not None:
            weight = before[node.name].copy()
            removed = np.setdiff1d(np.arange(weight.shape[1]), kept)
            weight[:, removed] = 0.0
            graph.set_initializer(masked, node.input[1], weight)
    np.testing.assert_allclose(
        _logits(result.model, inputs), _logits(masked, inputs), rtol=1e-4, atol=1e-4
    )
    assert graph.parameters(result.model) < graph.parameters(original) / 3
    assert graph.macs_per_sample(result.model) < graph.macs_per_sample(original) / 3


def test_prune_then_recover_on_the_cnn_passes_a_one_point_gate(
    run_job: RunJob, cnn: DigitsCnn
) -> None:
    steps = [
        {"type": "prune", "sparsity": 0.5, "structured": True},
        {"type": "distill", "recover": True, "epochs": 10, "datasetUri": cnn.train.as_uri()},
    ]

    run = run_job(
        steps,
        modelUri=cnn.model.as_uri(),
        evaluation={"datasetUri": cnn.val.as_uri(), "maxDrop": 0.01},
    )

    assert run.exit_code == 0, run.termination
    assert run.report["metric"]["drop"] <= 0.01
    assert run.report["metric"]["compressed"] >= 0.98
    assert run.report["compressed"]["parameters"] < run.report["baseline"]["parameters"] / 3
    assert [step["outcome"] for step in run.report["steps"]] == ["applied", "applied"]
    shipped = onnx.load(run.report["artifact"])
    onnx.checker.check_model(shipped)
    ops = {node.op_type for node in shipped.graph.node}
    assert {"BatchNormalization", "MaxPool", "Concat", "Add", "GlobalAveragePool"} <= ops


def test_pruning_alone_loses_accuracy_that_recovery_regains(
    run_job: RunJob, cnn: DigitsCnn
) -> None:
    """The recovery is what passes the gate above: the pruned model alone fails it."""
    run = run_job(
        [{"type": "prune", "sparsity": 0.5, "structured": True}],
        modelUri=cnn.model.as_uri(),
        evaluation={"datasetUri": cnn.val.as_uri(), "maxDrop": 0.01},
    )

    assert run.exit_code == 1
    assert run.termination.startswith("gate failed: accuracy")


def _model_with(node: onnx.NodeProto) -> onnx.ModelProto:
    """input [N, 1, 8, 8] -> Conv 4 -> `node` -> GlobalAveragePool -> Flatten -> Gemm 10."""
    rng = np.random.default_rng(0)
    conv = onnx.helper.make_node("Conv", ["input", "w"], ["c"], name="conv", pads=[1, 1, 1, 1])
    tail = [
        onnx.helper.make_node("GlobalAveragePool", [node.output[0]], ["g"], name="pool"),
        onnx.helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        onnx.helper.make_node("Gemm", ["f", "fc"], ["logits"], name="fc", transB=1),
    ]
    model = onnx.helper.make_model(
        onnx.helper.make_graph(
            [conv, node, *tail],
            "unsupported",
            [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", 1, 8, 8])],
            [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", 10])],
            [
                numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "w"),
                numpy_helper.from_array(rng.normal(size=(10, 4)).astype(np.float32), "fc"),
            ],
        ),
        opset_imports=[onnx.helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize(
    ("node", "named"),
    [
        (
            onnx.helper.make_node("LRN", ["c"], ["n"], name="norm", size=3),
            "LRN (node norm)",
        ),
        (
            onnx.helper.make_node(
                "MaxPool", ["c"], ["n"], name="pool2", kernel_shape=[2, 2], auto_pad="SAME_UPPER"
            ),
            "MaxPool with auto_pad SAME_UPPER (node pool2)",
        ),
    ],
    ids=["op", "op-form"],
)
def test_an_op_fine_tuning_cannot_run_fails_at_once_naming_it(
    node: onnx.NodeProto, named: str, tmp_path: Path, cnn: DigitsCnn
) -> None:
    model_path = tmp_path / "model.onnx"
    onnx.save(_model_with(node), str(model_path))
    missing = (tmp_path / "not-there.npz").as_uri()  # read only if the job got past the check
    spec = {
        "modelUri": model_path.as_uri(),
        "steps": [
            {"type": "prune", "sparsity": 0.5, "structured": True},
            {"type": "distill", "recover": True, "epochs": 1, "datasetUri": missing},
        ],
        "evaluation": {"datasetUri": missing, "metric": "accuracy"},
        "artifactStore": str(tmp_path / "store"),
    }

    run = run_job_process(spec, tmp_path)

    assert run.returncode == 1
    assert run.termination.startswith(
        f"compression failed: step 2 (distill recover) cannot run {named}: fine-tuning "
        "supports the ops "
    ), run.termination
    assert "\n" not in run.termination
    assert "Traceback" not in run.stderr
