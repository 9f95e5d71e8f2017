"""Run a model with ONNX Runtime on the dataset: metric, fidelity to a baseline, size.

Latency is measured against the original model, interleaved, in `timing.py`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from modeldeploy.api.v1alpha1.compression import Evaluation, Metric
from modeldeploy.compress import graph
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.outputs import ModelOutput, OutputKind, read_outputs
from modeldeploy.compress.runtime import session

__all__ = ["Fidelity", "Figures", "fidelity", "measure", "metric_value", "outputs", "session"]

ATTENTION_MASK = "attention_mask"


def outputs(
    runner: ort.InferenceSession, dataset: Dataset, output: ModelOutput | None = None
) -> np.ndarray:
    """`output` (default: the first output, as float32) over the whole dataset, in order."""
    chosen = output or ModelOutput(runner.get_outputs()[0].name, OutputKind.TENSOR, "first")
    return read_outputs(runner, chosen, dataset, "the model")


def pooled(result: np.ndarray, dataset: Dataset) -> np.ndarray:
    """[N, features]: 3-D outputs (token embeddings) mean-pooled over the attention mask."""
    if result.ndim <= 2:
        return result.reshape(len(result), -1)
    mask = dataset.feeds.get(ATTENTION_MASK)
    if mask is not None and mask.shape == result.shape[:2]:
        weights = mask.astype(np.float32)[..., None]
        pooled_sum = (result * weights).sum(axis=1)
        return np.asarray(pooled_sum / np.maximum(weights.sum(axis=1), 1e-9))
    return np.asarray(result.reshape(len(result), result.shape[1], -1).mean(axis=1))


@dataclass(frozen=True)
class Fidelity:
    argmax_agreement: float | None
    """Share of samples whose class equals the baseline's (the argmax of class scores, or the
    label itself for a label output); None for embeddings."""
    mean_cosine: float | None
    """Mean cosine similarity to the baseline's (pooled) outputs; None for labels."""

    @property
    def score(self) -> float:
        value = self.mean_cosine if self.argmax_agreement is None else self.argmax_agreement
        return 0.0 if value is None else value


def fidelity(
    result: np.ndarray, baseline: np.ndarray, dataset: Dataset, kind: OutputKind | None = None
) -> Fidelity:
    if kind == OutputKind.LABELS:
        return Fidelity(float((result == baseline).mean()), None)
    ours, theirs = pooled(result, dataset), pooled(baseline, dataset)
    norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    cosine = (ours * theirs).sum(axis=1) / np.maximum(norms, 1e-12)
    agreement = None
    if result.ndim == 2:
        agreement = float((result.argmax(axis=1) == baseline.argmax(axis=1)).mean())
    return Fidelity(agreement, float(cosine.mean()))


def metric_value(
    evaluation: Evaluation,
    result: np.ndarray,
    baseline: np.ndarray,
    dataset: Dataset,
    output: ModelOutput | None = None,
) -> float:
    """`evaluation.metric` of `result`; `output` says what it is (default: read by rank)."""
    kind = None if output is None else output.kind
    name = "the first output" if output is None else f"output {output.name!r}"
    if evaluation.metric == Metric.FIDELITY:
        return fidelity(result, baseline, dataset, kind).score
    if dataset.labels is None:
        raise CompressError(
            f"evaluation.metric {evaluation.metric.value} needs labels in the dataset "
            "(or use metric: fidelity)"
        )
    if kind == OutputKind.LABELS:
        if evaluation.metric == Metric.ACCURACY:
            return float((result == dataset.labels).mean())
        raise CompressError(
            f"evaluation.metric {evaluation.metric.value} needs class scores; {name} gives "
            "labels (name a scores output in evaluation.output)"
        )
    if result.ndim != 2:
        raise CompressError(
            f"evaluation.metric {evaluation.metric.value} needs [batch, classes] outputs, "
            f"{name} has rank {result.ndim}"
        )
    if evaluation.metric == Metric.ACCURACY:
        return float((result.argmax(axis=1) == dataset.labels).mean())
    top = np.argsort(-result, axis=1)[:, : evaluation.top_k]
    return float((top == dataset.labels[:, None]).any(axis=1).mean())


@dataclass(frozen=True)
class Figures:
    """Quality and size of one model (latency: `timing.compare`)."""

    metric: float
    fidelity: Fidelity
    weight_bytes: int
    file_bytes: int
    parameters: int
    nonzero_parameters: int
    macs_per_sample: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    runner: ort.InferenceSession,
    model: onnx.ModelProto,
    dataset: Dataset,
    evaluation: Evaluation,
    output: ModelOutput,
    baseline_outputs: np.ndarray | None,
    what: str,
) -> tuple[Figures, np.ndarray]:
    """Figures of `model`, and its outputs (the baseline for later models when none is given)."""
    result = read_outputs(runner, output, dataset, what)
    baseline = result if baseline_outputs is None else baseline_outputs
    if result.shape != baseline.shape:
        raise CompressError(
            f"the compressed model's output {output.name!r} has shape {result.shape[1:]}, "
            f"the original's {baseline.shape[1:]}"
        )
    sequence = {
        dim.dim_param: feed.shape[1]
        for value in model.graph.input
        if (feed := dataset.feeds.get(value.name)) is not None and feed.ndim > 1
        for dim in value.type.tensor_type.shape.dim[1:2]
        if dim.dim_param
    }
    figures = Figures(
        metric=metric_value(evaluation, result, baseline, dataset, output),
        fidelity=fidelity(result, baseline, dataset, output.kind),
        weight_bytes=graph.weight_bytes(model),
        file_bytes=model.ByteSize(),
        parameters=graph.parameters(model),
        nonzero_parameters=graph.nonzero_parameters(model),
        macs_per_sample=graph.macs_per_sample(model, sequence),
    )
    return figures, result
