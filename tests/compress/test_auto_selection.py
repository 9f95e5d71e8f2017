"""How `auto` chooses among measured candidates, with the timings given (so that every branch
runs on any machine): qualification, the latency and size objectives, ties, none qualifying."""

from __future__ import annotations

from dataclasses import dataclass

import onnx
import pytest

from modeldeploy.compress import graph
from modeldeploy.compress.dataset import Dataset, load_dataset
from modeldeploy.compress.evaluate import Fidelity, Figures
from modeldeploy.compress.spec import QuantizeStep
from modeldeploy.compress.steps.auto import Judgement, quantize_auto, recipes
from modeldeploy.compress.timing import Comparison, Latency, verdict
from tests.fixtures.models import DigitsModel

# The digits MLP's candidates, in the order auto measures them.
NAMES = ["dynamic", "static-matmul", "dynamic-keep-ends", "static-matmul-keep-ends"]


@dataclass(frozen=True)
class Scripted:
    passed: bool
    speedup_1: float
    speedup_n: float
    spread: float = 0.02
    retimed: tuple[float, float] | None = None
    """Speed-ups at batch 1 and 64 when timed again; default: as first timed."""


def _comparison(batch: int, speedup: float, spread: float) -> Comparison:
    latency = Latency(batch, 1.0, spread, 1.0, 1.0)
    return Comparison(batch, latency, latency, speedup, spread, verdict(speedup, spread), 5)


class ScriptedJudge:
    """Real sizes of the candidates, scripted gate results and timings (by candidate order)."""

    def __init__(self, script: list[Scripted]) -> None:
        self.script = list(script)
        self.judged: dict[int, Scripted] = {}

    def judge(self, model: onnx.ModelProto) -> Judgement:
        item = self.script.pop(0)
        self.judged[id(model)] = item
        size = graph.weight_bytes(model)
        figures = Figures(0.97, Fidelity(1.0, 1.0), size, model.ByteSize(), 1, 1, 1)
        timings = [
            _comparison(1, item.speedup_1, item.spread),
            _comparison(64, item.speedup_n, item.spread),
        ]
        return Judgement(figures, item.passed, "accuracy 0.97 -> 0.97", timings)

    def retime(self, model: onnx.ModelProto) -> list[Comparison]:
        item = self.judged[id(model)]
        again = item.retimed or (item.speedup_1, item.speedup_n)
        return [_comparison(1, again[0], item.spread), _comparison(64, again[1], item.spread)]


@pytest.fixture(scope="module")
def mlp(digits: DigitsModel) -> tuple[onnx.ModelProto, Dataset]:
    model = onnx.load(str(digits.model))
    return model, load_dataset(digits.train, digits.train.as_uri(), model)


def _choose(
    mlp: tuple[onnx.ModelProto, Dataset], objective: str, script: list[Scripted]
) -> tuple[dict[str, object], bool, onnx.ModelProto]:
    model, calibration = mlp
    assert [r.name for r in recipes(model, calibrated=True)] == NAMES
    step = QuantizeStep(type="quantize", mode="auto", objective=objective)  # type: ignore[arg-type]
    judge = ScriptedJudge(script)
    result = quantize_auto(model, step, calibration, judge)
    assert not judge.script  # every candidate was measured
    return result.details, result.nothing_to_compress, result.model


def test_latency_keeps_the_fastest_qualifying_candidate(
    mlp: tuple[onnx.ModelProto, Dataset],
) -> None:
    details, untouched, _ = _choose(
        mlp,
        "latency",
        [
            Scripted(False, 3.0, 3.0),  # fastest, but fails the gate
            Scripted(True, 0.8, 4.0),  # fastest at batch 64, slower at batch 1
            Scripted(True, 1.1, 2.0),
            Scripted(True, 1.0, 1.5),
        ],
    )

    assert not untouched
    assert details["chosen"] == "dynamic-keep-ends"
    assert str(details["why"]).startswith("fastest qualifying at batch 64: 2.00x ± 0.02")
    candidates = {c["name"]: c for c in details["candidates"]}  # type: ignore[attr-defined]
    assert candidates["dynamic"]["why"].startswith("fails the gate")
    assert candidates["static-matmul"]["why"] == (
        "slower than the original: 0.80x ± 0.02 at batch 1"
    )


def test_latency_breaks_ties_within_the_noise_by_size(mlp: tuple[onnx.ModelProto, Dataset]) -> None:
    details, _, chosen = _choose(
        mlp,
        "latency",
        [
            Scripted(True, 1.2, 2.00, spread=0.1),  # full INT8: the smallest
            Scripted(False, 1.0, 1.0),
            Scripted(True, 1.2, 2.05, spread=0.1),  # ends in float: faster only within noise
            Scripted(False, 1.0, 1.0),
        ],
    )

    assert details["chosen"] == "dynamic"
    assert "as fast within the noise as dynamic-keep-ends, and the smallest" in str(details["why"])
    sizes = {c["name"]: c["weight_bytes"] for c in details["candidates"]}  # type: ignore[attr-defined]
    assert graph.weight_bytes(chosen) == sizes["dynamic"] < sizes["dynamic-keep-ends"]


def test_size_keeps_the_smallest_qualifying_candidate(mlp: tuple[onnx.ModelProto, Dataset]) -> None:
    details, _, chosen = _choose(
        mlp,
        "size",
        [
            Scripted(True, 0.9, 3.0),  # the smallest, but slower at batch 1
            Scripted(True, 1.0, 1.2),
            Scripted(True, 1.5, 3.0),
            Scripted(True, 1.5, 3.0),
        ],
    )

    assert details["chosen"] == "static-matmul"
    assert str(details["why"]).startswith("smallest qualifying")
    assert graph.weight_bytes(chosen) < graph.weight_bytes(mlp[0]) / 3


def test_none_qualifying_keeps_the_original_and_says_why(
    mlp: tuple[onnx.ModelProto, Dataset],
) -> None:
    details, untouched, kept = _choose(
        mlp,
        "latency",
        [
            Scripted(True, 0.7, 0.9),
            Scripted(False, 1.5, 2.0),
            Scripted(True, 1.0, 0.95, spread=0.01),
            Scripted(True, 0.97, 1.0, spread=0.01),
        ],
    )

    assert untouched
    assert kept is mlp[0]
    reason = str(details["reason"])
    assert reason.startswith("no candidate qualifies for objective latency: ")
    assert (
        "dynamic slower than the original: 0.70x ± 0.02 at batch 1, 0.90x ± 0.02 at batch 64"
        in (reason)
    )
    assert "static-matmul fails the gate" in reason
    assert "dynamic-keep-ends slower than the original: 0.95x ± 0.01 at batch 64" in reason
    assert "static-matmul-keep-ends slower than the original: 0.97x ± 0.01 at batch 1" in reason
    assert len(details["candidates"]) == 4  # type: ignore[arg-type]


def test_latency_keeps_the_original_when_no_candidate_is_faster(
    mlp: tuple[onnx.ModelProto, Dataset],
) -> None:
    script = [Scripted(True, 1.0, 1.03, spread=0.05), Scripted(True, 1.0, 0.99)] * 2

    details, untouched, kept = _choose(mlp, "latency", script)

    assert untouched
    assert kept is mlp[0]
    assert "dynamic not faster than the original beyond the noise: 1.03x ± 0.05 at batch 64" in (
        str(details["reason"])
    )


def test_a_choice_found_slower_when_timed_again_is_dropped(
    mlp: tuple[onnx.ModelProto, Dataset],
) -> None:
    details, untouched, _ = _choose(
        mlp,
        "latency",
        [
            Scripted(True, 1.0, 3.0, retimed=(0.9, 3.0)),  # looked as fast at batch 1 by chance
            Scripted(True, 1.0, 1.5),
            Scripted(True, 1.1, 2.0),
            Scripted(False, 1.0, 1.0),
        ],
    )

    assert not untouched
    assert details["chosen"] == "dynamic-keep-ends"
    candidates = {c["name"]: c for c in details["candidates"]}  # type: ignore[attr-defined]
    assert candidates["dynamic"]["confirmed"] is True
    assert candidates["dynamic"]["qualified"] is False
    assert candidates["dynamic"]["why"] == "slower than the original: 0.90x ± 0.02 at batch 1"
    assert candidates["dynamic-keep-ends"]["confirmed"] is True
    assert "confirmed" not in candidates["static-matmul"]


def test_a_difference_within_the_spread_is_not_slower() -> None:
    assert verdict(0.97, 0.05) == "same"
    assert verdict(0.97, 0.02) == "slower"
    assert verdict(1.04, 0.05) == "same"
    assert verdict(1.2, 0.05) == "faster"
