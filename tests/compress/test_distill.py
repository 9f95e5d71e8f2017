"""Distillation (PyTorch): a small student, and recovery of a pruned model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from modeldeploy.compress import evaluate, graph
from modeldeploy.compress.dataset import Dataset, load_dataset
from modeldeploy.compress.steps.layers import drop_layers, encoder_layers
from tests.compress.conftest import RunJob, TinyBert
from tests.fixtures.models import DigitsModel


@pytest.mark.slow
def test_student_with_a_quarter_of_the_parameters_agrees_with_the_teacher(
    run_job: RunJob, digits: DigitsModel
) -> None:
    step = {
        "type": "distill",
        "student": {"type": "mlp", "hiddenSizes": [128]},
        "epochs": 30,
        "datasetUri": digits.train.as_uri(),
    }

    run = run_job([step], evaluation={"metric": "fidelity", "maxDrop": 0.05})

    assert run.exit_code == 0, run.termination
    student = onnx.load(run.report["artifact"])
    teacher = onnx.load(str(digits.model))
    assert graph.parameters(student) < graph.parameters(teacher) / 4
    assert run.report["compressed"]["fidelity"]["argmax_agreement"] >= 0.95
    assert [i.name for i in student.graph.input] == ["input"]
    assert [o.name for o in student.graph.output] == ["logits"]


def test_structured_prune_then_recover_regains_the_accuracy(
    run_job: RunJob, digits: DigitsModel
) -> None:
    steps = [
        {"type": "prune", "sparsity": 0.5, "structured": True},
        {"type": "distill", "recover": True, "epochs": 10, "datasetUri": digits.train.as_uri()},
    ]

    run = run_job(steps, evaluation={"maxDrop": 0.01})

    assert run.exit_code == 0, run.termination
    assert run.report["metric"]["drop"] <= 0.01
    assert run.report["compressed"]["parameters"] < run.report["baseline"]["parameters"] / 3
    assert (
        run.report["compressed"]["macs_per_sample"] < run.report["baseline"]["macs_per_sample"] / 3
    )


def test_recover_keeps_unstructured_zeros(run_job: RunJob, digits: DigitsModel) -> None:
    steps = [
        {"type": "prune", "sparsity": 0.6},
        {"type": "distill", "recover": True, "epochs": 2, "datasetUri": digits.train.as_uri()},
    ]

    run = run_job(steps, evaluation={"maxDrop": 0.02})

    assert run.exit_code == 0, run.termination
    compressed = run.report["compressed"]
    assert compressed["nonzero_parameters"] <= 0.45 * compressed["parameters"]


def test_transformer_student_of_a_model_without_layers_is_refused(run_job: RunJob) -> None:
    step = {"type": "distill", "student": {"type": "transformer", "numLayers": 2}}

    run = run_job([step])

    assert run.exit_code == 1
    assert "no numbered encoder layers" in run.termination


def test_mlp_student_of_an_embedding_model_is_refused(run_job: RunJob, tiny_bert: TinyBert) -> None:
    step = {"type": "distill", "student": {"type": "mlp", "hiddenSizes": [8]}}

    run = run_job(
        [step],
        modelUri=tiny_bert.model.as_uri(),
        evaluation={"datasetUri": tiny_bert.data.as_uri(), "metric": "fidelity"},
    )

    assert run.exit_code == 1
    assert "use a transformer student" in run.termination


@pytest.mark.slow
def test_transformer_student_keeps_half_the_layers_and_learns_the_embeddings(
    run_job: RunJob, tiny_bert: TinyBert, tmp_path: Path
) -> None:
    teacher = onnx.load(str(tiny_bert.model))
    untrained, kept, total = drop_layers(teacher, 2)
    data = load_dataset(tiny_bert.data, "data.npz", teacher)
    train, held_out = (
        data.take(256),
        Dataset({name: array[256:] for name, array in data.feeds.items()}, None),
    )
    for name, part in (("train", train), ("held-out", held_out)):
        np.savez(tmp_path / f"{name}.npz", **part.feeds)  # type: ignore[arg-type]
    baseline = evaluate.outputs(evaluate.session(teacher), held_out)
    before = evaluate.outputs(evaluate.session(untrained), held_out)
    step = {
        "type": "distill",
        "student": {"type": "transformer", "numLayers": 2},
        "epochs": 15,
        "datasetUri": (tmp_path / "train.npz").as_uri(),
    }

    run = run_job(
        [step],
        modelUri=tiny_bert.model.as_uri(),
        evaluation={
            "datasetUri": (tmp_path / "held-out.npz").as_uri(),
            "metric": "fidelity",
            "maxDrop": 0.5,
        },
    )

    assert run.exit_code == 0, run.termination
    assert (kept, total) == ([1, 3], 4)
    assert run.report["steps"][0]["keptLayers"] == [1, 3]
    student = onnx.load(run.report["artifact"])
    assert graph.parameters(student) < graph.parameters(teacher)
    assert len(encoder_layers(student)) == 2
    untrained_cosine = evaluate.fidelity(before, baseline, held_out).mean_cosine
    trained_cosine = run.report["compressed"]["fidelity"]["mean_cosine"]
    assert trained_cosine > untrained_cosine + 0.05
    assert trained_cosine >= 0.85
