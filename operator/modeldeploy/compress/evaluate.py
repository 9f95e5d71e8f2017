"""Run a model with ONNX Runtime on the dataset: metric, fidelity to a baseline, latency, size."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from modeldeploy.api.v1alpha1.compression import Evaluation, Metric
from modeldeploy.compress import graph
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.spec import JobEvaluation

ATTENTION_MASK = "attention_mask"
EVAL_BATCH = 64


def execution_providers() -> list[str]:
    """CUDA when this ONNX Runtime build and machine have it, else CPU."""
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session(model: onnx.ModelProto, threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            model.SerializeToString(), options, providers=execution_providers()
        )
    except Exception as error:  # ORT raises its own Fail/InvalidGraph/... types
        raise CompressError(f"ONNX Runtime cannot load the model: {error}") from None


def outputs(runner: ort.InferenceSession, dataset: Dataset) -> np.ndarray:
    """The first output over the whole dataset, in order."""
    name = runner.get_outputs()[0].name
    parts = [runner.run([name], feed)[0] for feed in dataset.batches(EVAL_BATCH)]
    return np.concatenate(parts).astype(np.float32)


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
    """Share of samples where the class (argmax) equals the baseline's; None for embeddings."""
    mean_cosine: float

    @property
    def score(self) -> float:
        return self.mean_cosine if self.argmax_agreement is None else self.argmax_agreement


def fidelity(result: np.ndarray, baseline: np.ndarray, dataset: Dataset) -> Fidelity:
    ours, theirs = pooled(result, dataset), pooled(baseline, dataset)
    norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
    cosine = (ours * theirs).sum(axis=1) / np.maximum(norms, 1e-12)
    agreement = None
    if result.ndim == 2:
        agreement = float((result.argmax(axis=1) == baseline.argmax(axis=1)).mean())
    return Fidelity(agreement, float(cosine.mean()))


def metric_value(
    evaluation: Evaluation, result: np.ndarray, baseline: np.ndarray, dataset: Dataset
) -> float:
    if evaluation.metric == Metric.FIDELITY:
        return fidelity(result, baseline, dataset).score
    if dataset.labels is None:
        raise CompressError(
            f"evaluation.metric {evaluation.metric.value} needs labels in the dataset "
            "(or use metric: fidelity)"
        )
    if result.ndim != 2:
        raise CompressError(
            f"evaluation.metric {evaluation.metric.value} needs [batch, classes] outputs, "
            f"the model gives rank {result.ndim}"
        )
    if evaluation.metric == Metric.ACCURACY:
        return float((result.argmax(axis=1) == dataset.labels).mean())
    top = np.argsort(-result, axis=1)[:, : evaluation.top_k]
    return float((top == dataset.labels[:, None]).any(axis=1).mean())


@dataclass(frozen=True)
class Latency:
    batch: int
    p50_ms: float
    p99_ms: float
    throughput_per_s: float


def latency(runner: ort.InferenceSession, dataset: Dataset, batch: int, runs: int) -> Latency:
    feeds = list(dataset.batches(batch, drop_last=True)) or [dataset.take(len(dataset)).feeds]
    real_batch = len(next(iter(feeds[0].values())))
    for feed in feeds[:3]:  # warm-up: first runs allocate
        runner.run(None, feed)
    timings = []
    for index in range(runs):
        feed = feeds[index % len(feeds)]
        start = time.perf_counter()
        runner.run(None, feed)
        timings.append(time.perf_counter() - start)
    seconds = np.array(timings)
    return Latency(
        batch=real_batch,
        p50_ms=float(np.percentile(seconds, 50) * 1e3),
        p99_ms=float(np.percentile(seconds, 99) * 1e3),
        throughput_per_s=float(real_batch * runs / seconds.sum()),
    )


@dataclass(frozen=True)
class Figures:
    """Everything measured about one model on the job's hardware."""

    metric: float
    fidelity: Fidelity
    weight_bytes: int
    file_bytes: int
    parameters: int
    nonzero_parameters: int
    macs_per_sample: int
    latency: list[Latency]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    model: onnx.ModelProto,
    dataset: Dataset,
    evaluation: JobEvaluation,
    baseline_outputs: np.ndarray | None,
    latency_runs: int,
) -> tuple[Figures, np.ndarray]:
    """Figures of `model`, and its outputs (the baseline for later models when none is given)."""
    runner = session(model)
    result = outputs(runner, dataset)
    baseline = result if baseline_outputs is None else baseline_outputs
    if result.shape != baseline.shape:
        raise CompressError(
            f"the compressed model's output shape {result.shape[1:]} differs from the "
            f"original's {baseline.shape[1:]}"
        )
    sequence = {
        dim.dim_param: feed.shape[1]
        for value in model.graph.input
        if (feed := dataset.feeds.get(value.name)) is not None and feed.ndim > 1
        for dim in value.type.tensor_type.shape.dim[1:2]
        if dim.dim_param
    }
    figures = Figures(
        metric=metric_value(evaluation, result, baseline, dataset),
        fidelity=fidelity(result, baseline, dataset),
        weight_bytes=graph.weight_bytes(model),
        file_bytes=model.ByteSize(),
        parameters=graph.parameters(model),
        nonzero_parameters=graph.nonzero_parameters(model),
        macs_per_sample=graph.macs_per_sample(model, sequence),
        latency=[
            latency(runner, dataset, batch, latency_runs)
            for batch in sorted({1, evaluation.batch_size})
        ],
    )
    return figures, result
