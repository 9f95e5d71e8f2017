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
        self.runner = session(original)
        self.baseline, self.baseline_outputs = evaluate.measure(
            self.runner,
            original,
            dataset,
            evaluation,
            output,
            None,
            f"the original model {self.on_data}",
        )
        self.batches = sorted({1, evaluation.batch_size})
        twin = session(original)
        self.floors = [
            abs(1 - self._compare(twin, batch, None, 0.0).speedup) for batch in self.batches
        ]
        """Per batch size, the A/A floor: the original against a second session of itself."""

    def judge(self, model: onnx.ModelProto, what: str = "a candidate model") -> Judgement:
        runner = session(model)
        figures, _ = evaluate.measure(
            runner,
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
        return Judgement(figures, passed, gate, self._timings(runner, []))

    def retime(
        self, model: onnx.ModelProto, earlier: list[timing.Comparison]
    ) -> list[timing.Comparison]:
        """In a new session of `model`: a session's own memory layout can make it steadily
        faster or slower than the next, which pooling rounds of two sessions shows."""
        return self._timings(session(model), earlier)

    def _timings(
        self, runner: ort.InferenceSession, earlier: list[timing.Comparison]
    ) -> list[timing.Comparison]:
        return [
            self._compare(runner, batch, earlier[index] if earlier else None, floor)
            for index, (batch, floor) in enumerate(zip(self.batches, self.floors, strict=True))
        ]

    def _compare(
        self,
        runner: ort.InferenceSession,
        batch: int,
        earlier: timing.Comparison | None,
        floor: float,
    ) -> timing.Comparison:
        runs, rounds = self.evaluation.latency_runs, self.evaluation.latency_rounds
        return timing.compare(
            self.runner, runner, self.dataset, batch, runs, rounds, earlier=earlier, floor=floor
        )
