"""Run the spec's steps in order, timing each, with the data each step needs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from modeldeploy.compress import evaluate
from modeldeploy.compress.dataset import Dataset, load_dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.sources import fetch
from modeldeploy.compress.spec import DistillStep, OptimizeStep, PruneStep, QuantizeStep, Step
from modeldeploy.compress.steps.auto import Judge, quantize_auto
from modeldeploy.compress.steps.optimize import optimize
from modeldeploy.compress.steps.prune import prune
from modeldeploy.compress.steps.quantize import quantize
from modeldeploy.compress.steps.result import StepResult

log = logging.getLogger(__name__)


@dataclass
class Context:
    original: onnx.ModelProto
    evaluation_data: Dataset
    judge: Judge
    workdir: Path
    environ: Mapping[str, str]

    def dataset(self, uri: str | None, model: onnx.ModelProto, what: str) -> Dataset:
        if uri is None:
            return self.evaluation_data
        return load_dataset(fetch(uri, self.workdir, self.environ, what), uri, model)


def _quantize(step: QuantizeStep, model: onnx.ModelProto, context: Context) -> StepResult:
    calibration = None
    if step.mode in ("static", "auto"):
        # Without calibrationUri, auto calibrates on the evaluation dataset.
        calibration = context.dataset(step.calibration_uri, model, "calibration dataset")
    if step.mode == "auto":
        return quantize_auto(model, step, calibration, context.judge)
    return quantize(
        model,
        step.mode,
        weight_type=step.weight_type,
        per_channel=step.per_channel,
        calibration=calibration,
        exclude_nodes=step.exclude_nodes,
        exclude_op_types=step.exclude_op_types,
    )


def _distill(step: DistillStep, model: onnx.ModelProto, context: Context) -> StepResult:
    try:
        from modeldeploy.compress.steps.distill import distill
    except ImportError:
        raise CompressError(
            "the distill step needs PyTorch: install the distill extra (modeldeploy[distill])"
        ) from None
    data = context.dataset(step.dataset_uri, model, "distillation dataset")
    # recover fine-tunes the current model against the original; a student learns from the
    # model as it is at this point of the chain.
    teacher = context.original if step.recover else model
    teacher_outputs = evaluate.outputs(evaluate.session(teacher), data)
    return distill(
        model,
        teacher_outputs,
        data,
        student=step.student,
        epochs=step.epochs,
        temperature=step.temperature,
    )


RUNNERS: dict[type, Callable[[Any, onnx.ModelProto, Context], StepResult]] = {
    OptimizeStep: lambda step, model, _: StepResult(
        optimize(model, step.level), {"level": step.level}
    ),
    PruneStep: lambda step, model, _: prune(model, step.sparsity, step.structured),
    QuantizeStep: _quantize,
    DistillStep: _distill,
}


def run_steps(
    steps: list[Step], model: onnx.ModelProto, context: Context
) -> tuple[onnx.ModelProto, list[dict[str, Any]]]:
    records = []
    for index, step in enumerate(steps, start=1):
        log.info("step %d/%d: %s started", index, len(steps), step.type)
        started = time.perf_counter()
        result = RUNNERS[type(step)](step, model, context)
        seconds = time.perf_counter() - started
        outcome = "nothing-to-compress" if result.nothing_to_compress else "applied"
        log.info("step %d/%d: %s %s in %.2fs", index, len(steps), step.type, outcome, seconds)
        records.append(
            {"type": step.type, "outcome": outcome, "seconds": round(seconds, 3), **result.details}
        )
        model = result.model
    return model, records
