"""Distillation (PyTorch): a small student, and recovery of a pruned model."""

from __future__ import annotations

import onnx
import pytest

from modeldeploy.compress import graph
from tests.compress.conftest import RunJob
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


def test_transformer_student_is_refused_with_a_reason(run_job: RunJob) -> None:
    step = {"type": "distill", "student": {"type": "transformer", "numLayers": 2}}

    run = run_job([step])

    assert run.exit_code == 1
    assert "transformer is not supported" in run.termination
