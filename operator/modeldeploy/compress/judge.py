"""Every model the job considers, judged against the original: metric, gate, size, and
latency timed interleaved with the original (`timing.compare`)."""

from __future__ import annotations

import onnx
import onnxruntime as ort

from modeldeploy.compress import evaluate, timing
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.outputs import ModelOutput
from modeldeploy.compress.runtime import session
from modeldeploy.compress.spec import JobEvaluation
from modeldeploy.compress.steps.auto import Judgement

# Sessions per model in the timing (see timing.py: sessions of one model differ).
SESSIONS = 3
# How many times longer a confirmation and the final figures are timed.
PRECISE = 3


def passes(baseline: float, compressed: float, max_drop: float) -> bool:
    # A tiny tolerance so that float noise on an unchanged metric never fails a 0.0 gate.
    return baseline - compressed <= max_drop + 1e-9


class AgainstOriginal:
    """Measures the original once, then judges candidates against it."""

    def __init__(
        self,
        original: onnx.ModelProto,
        dataset: Dataset,
        evaluation: JobEvaluation,
        output: ModelOutput,
    ) -> None:
        self.dataset, self.evaluation, self.output = dataset, evaluation, output
        self.on_data = f"on dataset {evaluation.dataset_uri}"
        self.runners = _sessions(original)
        self.baseline, self.baseline_outputs = evaluate.measure(
            self.runners[0],
            original,
            dataset,
            evaluation,
            output,
            None,
            f"the original model {self.on_data}",
        )
        self.batches = sorted({1, evaluation.batch_size})

    def judge(
        self, model: onnx.ModelProto, what: str = "a candidate model", rounds_factor: int = 1
    ) -> Judgement:
        """`rounds_factor` times the evaluation's rounds and runs: the final figures and a
        confirmation are timed longer, so that their spread is narrower."""
        runners = _sessions(model)
        figures, _ = evaluate.measure(
            runners[0],
            model,
            self.dataset,
            self.evaluation,
            self.output,
            self.baseline_outputs,
            f"{what} {self.on_data}",
        )
        metric, before = self.evaluation.metric.value, self.baseline.metric
        passed = passes(before, figures.metric, self.evaluation.max_drop)
        gate = (
            f"{metric} {before:.4f} -> {figures.metric:.4f} (drop {before - figures.metric:.4f} "
            f"{'<=' if passed else '>'} maxDrop {self.evaluation.max_drop})"
        )
        return Judgement(figures, passed, gate, self._timings(runners, rounds_factor))

    def retime(self, model: onnx.ModelProto) -> list[timing.Comparison]:
        """A new, independent and longer timing of `model`, in new sessions."""
        return self._timings(_sessions(model), PRECISE)

    def _timings(
        self, runners: list[ort.InferenceSession], rounds_factor: int
    ) -> list[timing.Comparison]:
        runs = self.evaluation.latency_runs * rounds_factor
        rounds = self.evaluation.latency_rounds * rounds_factor
        return [
            timing.compare(self.runners, runners, self.dataset, batch, runs, rounds)
            for batch in self.batches
        ]


def _sessions(model: onnx.ModelProto) -> list[ort.InferenceSession]:
    return [session(model) for _ in range(SESSIONS)]
