"""`quantize mode: auto` on the models users bring (a CNN, scikit-learn exports, a two-input
model): it never ships a model slower than the original, the gate holds, and the report says
what was chosen and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import onnx
import pytest

from modeldeploy.api.v1alpha1.compression import Evaluation
from modeldeploy.compress import evaluate, timing
from modeldeploy.compress.dataset import load_dataset
from modeldeploy.compress.judge import SESSIONS
from modeldeploy.compress.outputs import choose_output
from tests.compress.conftest import RunJob
from tests.fixtures.cnn import DigitsCnn
from tests.fixtures.models import DigitsModel
from tests.fixtures.sklearn_models import ClassifierModel

MAX_DROP = 0.01
BATCH = 64
# The job's timing in these tests; the re-timing below uses more runs.
JOB_TIMING = {"latencyRuns": 40, "latencyRounds": 10}
RETIME_RUNS, RETIME_ROUNDS = 60, 12

Model = ClassifierModel | DigitsCnn | DigitsModel
Models = Callable[[str], Model]


@pytest.fixture
def models(
    classifiers: Callable[[str], ClassifierModel], cnn: DigitsCnn, digits: DigitsModel
) -> Models:
    named: dict[str, Model] = {"cnn": cnn, "digits_mlp": digits}
    return lambda name: named.get(name) or classifiers(name)


def _auto(run_job: RunJob, model: Model, objective: str) -> Any:
    step = {
        "type": "quantize",
        "mode": "auto",
        "objective": objective,
        "calibrationUri": model.train.as_uri(),
    }
    evaluation = {"datasetUri": model.val.as_uri(), "maxDrop": MAX_DROP, "batchSize": BATCH}
    return run_job([step], modelUri=model.model.as_uri(), evaluation={**evaluation, **JOB_TIMING})


def _assert_choice_follows_the_objective(step: dict[str, Any], objective: str) -> None:
    measured = [c for c in step["candidates"] if "skipped" not in c]
    for candidate in measured:
        slower = [t for t in candidate["timing"] if t["verdict"] == "slower"]
        gains = objective == "size" or candidate["timing"][-1]["verdict"] == "faster"
        expected = candidate["passed"] and not slower and gains
        assert candidate["qualified"] == expected, candidate["name"]
        assert candidate["qualified"] or candidate["why"]
    qualified = [c for c in measured if c["qualified"]]
    if step["outcome"] == "nothing-to-compress":
        assert not qualified
        for candidate in measured:  # every candidate and why it did not qualify
            assert f"{candidate['name']} {candidate['why']}" in step["reason"]
        return
    chosen = next(c for c in measured if c["name"] == step["chosen"])
    assert chosen["qualified"]
    assert chosen["confirmed"]  # timed again before it was kept
    assert all(t["verdict"] != "slower" for t in chosen["timing"])
    if objective == "latency":
        assert step["why"].startswith(f"fastest qualifying at batch {BATCH}")
        # As fast as the fastest within the noise (the choice itself: test_auto_selection.py).
        fastest = max(qualified, key=lambda c: c["timing"][-1]["speedup"])["timing"][-1]
        ours = chosen["timing"][-1]
        assert ours["speedup"] + ours["spread"] >= fastest["speedup"] - fastest["spread"]
    else:
        assert step["why"].startswith("smallest qualifying")
        assert chosen["weight_bytes"] <= min(c["weight_bytes"] for c in qualified) * 1.02


def _assert_gate_holds(model: Model, shipped: onnx.ModelProto, report: dict[str, Any]) -> None:
    """The shipped model's accuracy, measured here, is within maxDrop of the original's."""
    original = onnx.load(str(model.model))
    dataset = load_dataset(model.val, model.val.as_uri(), original)
    output = choose_output(original, None)
    assert output.name == report["evaluationOutput"]["name"]
    spec = Evaluation(dataset_uri=model.val.as_uri())
    accuracies = []
    for candidate in (original, shipped):
        result = evaluate.outputs(evaluate.session(candidate), dataset, output)
        accuracies.append(evaluate.metric_value(spec, result, result, dataset, output))
    assert accuracies[0] - accuracies[1] <= MAX_DROP + 1e-9
    assert accuracies[1] == pytest.approx(report["metric"]["compressed"])


def _assert_not_slower_than_reported_noise(
    model: Model, shipped: onnx.ModelProto, report: dict[str, Any]
) -> None:
    """Re-timed interleaved against the original, in new sessions of both, the shipped model
    is not slower beyond the noise the job reported: the re-timed speed-up reaches 1 - the
    job's spread (within the re-timing's own spread: it is a measurement too)."""
    original = onnx.load(str(model.model))
    dataset = load_dataset(model.val, model.val.as_uri(), original)
    baselines = [evaluate.session(original) for _ in range(SESSIONS)]
    candidates = [evaluate.session(shipped) for _ in range(SESSIONS)]
    for batch in (1, BATCH):
        again = timing.compare(baselines, candidates, dataset, batch, RETIME_RUNS, RETIME_ROUNDS)
        reported_noise = report["speedupSpread"][f"batch{batch}"]
        assert again.speedup + again.spread >= 1 - reported_noise, (
            f"batch {batch}: re-timed {again.describe()}, job reported "
            f"{report['speedup'][f'batch{batch}']}x ± {reported_noise}"
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "objective"),
    [
        ("cnn", "latency"),
        ("digits_mlp", "latency"),
        ("mlp_pipeline", "latency"),
        ("two_input", "latency"),
        ("random_forest", "latency"),
        ("gradient_boosting", "latency"),
        ("cnn", "size"),
        ("digits_mlp", "size"),
    ],
)
def test_auto_never_ships_a_slower_model(
    run_job: RunJob, models: Models, name: str, objective: str
) -> None:
    model = models(name)

    run = _auto(run_job, model, objective)

    assert run.exit_code == 0, run.termination
    step = run.report["steps"][0]
    assert step["objective"] == objective
    _assert_choice_follows_the_objective(step, objective)
    if step["outcome"] == "nothing-to-compress":
        assert run.report["ratio"] == 1.0
    else:
        assert run.report["ratio"] > 1.0
    summary = json.loads(run.termination)  # the termination message carries the same figures
    assert (summary["speedup"], summary["speedupSpread"]) == (
        run.report["speedup"],
        run.report["speedupSpread"],
    )
    for comparison in run.report["timing"]["comparisons"]:  # the report's figures are these
        key = f"batch{comparison['batch']}"
        assert run.report["speedup"][key] == comparison["speedup"]
        assert run.report["speedupSpread"][key] == comparison["spread"]
    shipped = onnx.load(run.report["artifact"])
    _assert_gate_holds(model, shipped, run.report)
    if step["outcome"] == "nothing-to-compress":  # the original itself, nothing to re-time
        assert shipped.graph == onnx.load(str(model.model)).graph
    else:
        _assert_not_slower_than_reported_noise(model, shipped, run.report)


@pytest.mark.parametrize("name", ["random_forest", "gradient_boosting"])
def test_tree_ensembles_have_nothing_to_compress_at_their_real_size(
    run_job: RunJob, classifiers: Callable[[str], ClassifierModel], name: str
) -> None:
    model = classifiers(name)
    steps = [
        {"type": "prune", "sparsity": 0.5},
        {"type": "prune", "sparsity": 0.5, "structured": True},
        {"type": "quantize", "mode": "dynamic"},
        {"type": "quantize", "mode": "fp16"},
        {"type": "quantize", "mode": "auto", "calibrationUri": model.train.as_uri()},
    ]

    run = run_job(
        steps,
        modelUri=model.model.as_uri(),
        evaluation={"datasetUri": model.val.as_uri(), "metric": "fidelity", "maxDrop": 0.0},
    )

    assert run.exit_code == 0, run.termination
    assert [s["outcome"] for s in run.report["steps"]] == ["nothing-to-compress"] * len(steps)
    assert run.report["ratio"] == 1.0
    assert run.report["metric"]["baseline"] == run.report["metric"]["compressed"] == 1.0
    # The trees' thresholds and leaf weights are node attributes, not initializers.
    assert run.report["baseline"]["weight_bytes"] > 10_000
    assert run.report["baseline"]["weight_bytes"] == run.report["compressed"]["weight_bytes"]
    assert run.report["baseline"]["parameters"] > 1_000
