"""The evaluation reads the right output of scikit-learn exports (label + probabilities, with
and without ZipMap), or the one `evaluation.output` names."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest

from modeldeploy.compress import evaluate
from modeldeploy.compress.dataset import load_dataset
from modeldeploy.compress.outputs import OutputKind, choose_output
from tests.compress.conftest import RunJob
from tests.fixtures.cnn import DigitsCnn
from tests.fixtures.sklearn_models import ClassifierModel

Classifiers = Callable[[str], ClassifierModel]
NOTHING = [{"type": "quantize", "mode": "dynamic"}]  # trees: nothing to act on


@pytest.mark.parametrize(
    ("name", "scores", "labels"),
    [
        ("random_forest", "output_probability", "output_label"),  # ZipMap: a sequence of maps
        ("gradient_boosting", "probabilities", "label"),
        ("mlp_pipeline", "probabilities", "label"),
    ],
)
def test_default_is_the_class_scores_of_a_labels_and_scores_model(
    classifiers: Classifiers, name: str, scores: str, labels: str
) -> None:
    model = classifiers(name)
    proto = onnx.load(str(model.model))

    output = choose_output(proto, None)

    assert (output.name, output.kind) == (scores, OutputKind.SCORES)
    assert labels in output.chosen_by
    dataset = load_dataset(model.val, model.val.as_uri(), proto)
    runner = evaluate.session(proto)
    read = evaluate.outputs(runner, dataset, output)
    predicted = evaluate.outputs(runner, dataset, choose_output(proto, labels))
    assert read.shape == (len(dataset), 10)
    np.testing.assert_allclose(read.sum(axis=1), 1.0, atol=1e-4)
    assert np.mean(read.argmax(axis=1) == predicted) > 0.99


def test_a_single_output_model_reads_its_first_output(cnn: DigitsCnn) -> None:
    output = choose_output(onnx.load(str(cnn.model)), None)

    assert (output.name, output.kind, output.chosen_by) == (
        "logits",
        OutputKind.SCORES,
        "default: the first output",
    )


@pytest.mark.parametrize("name", ["random_forest", "gradient_boosting"])
def test_accuracy_on_scores_and_on_labels_agree_and_the_report_names_the_output(
    run_job: RunJob, classifiers: Classifiers, name: str
) -> None:
    model = classifiers(name)
    labels = "output_label" if name == "random_forest" else "label"
    evaluation = {"datasetUri": model.val.as_uri(), "metric": "accuracy"}

    by_scores = run_job(NOTHING, modelUri=model.model.as_uri(), evaluation=evaluation)
    by_labels = run_job(
        NOTHING, modelUri=model.model.as_uri(), evaluation={**evaluation, "output": labels}
    )

    assert by_scores.exit_code == by_labels.exit_code == 0, by_labels.termination
    assert by_scores.report["evaluationOutput"]["kind"] == "scores"
    assert by_labels.report["evaluationOutput"] == {
        "name": labels,
        "kind": "labels",
        "chosenBy": "evaluation.output",
    }
    accuracy = by_scores.report["metric"]["baseline"]
    assert accuracy > 0.8
    assert by_labels.report["metric"]["baseline"] == pytest.approx(accuracy, abs=0.01)


def test_fidelity_on_labels_is_label_agreement(run_job: RunJob, classifiers: Classifiers) -> None:
    model = classifiers("mlp_pipeline")
    evaluation = {
        "datasetUri": model.val.as_uri(),
        "metric": "fidelity",
        "output": "label",
        "maxDrop": 0.05,
    }

    run = run_job(NOTHING, modelUri=model.model.as_uri(), evaluation=evaluation)

    assert run.exit_code == 0, run.termination
    assert run.report["steps"][0]["outcome"] == "applied"  # the MLP's MatMuls, INT8
    assert run.report["metric"]["baseline"] == 1.0  # the original against itself
    assert run.report["baseline"]["fidelity"] == {"argmax_agreement": 1.0, "mean_cosine": None}
    agreement = run.report["compressed"]["fidelity"]["argmax_agreement"]
    assert run.report["metric"]["compressed"] == agreement
    assert 0.95 <= agreement <= 1.0


def test_an_unknown_output_is_named_with_the_model_outputs(
    run_job: RunJob, classifiers: Classifiers
) -> None:
    model = classifiers("gradient_boosting")

    run = run_job(
        NOTHING,
        modelUri=model.model.as_uri(),
        evaluation={"datasetUri": model.val.as_uri(), "output": "scores"},
    )

    assert run.exit_code == 1
    assert run.termination == (
        "compression failed: evaluation.output 'scores' is not an output of the model "
        "(outputs: label, probabilities)"
    )


def test_top_k_on_a_label_output_asks_for_scores(run_job: RunJob, classifiers: Classifiers) -> None:
    model = classifiers("gradient_boosting")

    run = run_job(
        NOTHING,
        modelUri=model.model.as_uri(),
        evaluation={"datasetUri": model.val.as_uri(), "metric": "top-k", "output": "label"},
    )

    assert run.exit_code == 1
    assert "top-k needs class scores; output 'label' gives labels" in run.termination
