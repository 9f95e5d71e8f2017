"""Which model output the evaluation reads, and how it is read into an array.

Classifiers exported by skl2onnx give two outputs: the predicted `label` (int64 [N]) first,
then the class scores, either a float tensor `probabilities` [N, classes] or, with ZipMap, a
sequence of maps {class: score}. The evaluation reads `evaluation.output` when given; else the
class scores when a model has both labels and scores, else the first output.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.runtime import run

EVAL_BATCH = 64
_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}
_INTEGERS = {
    onnx.TensorProto.INT64,
    onnx.TensorProto.INT32,
    onnx.TensorProto.INT16,
    onnx.TensorProto.INT8,
    onnx.TensorProto.UINT8,
}


class OutputKind(StrEnum):
    SCORES = "scores"
    """Class scores [N, classes] (a float tensor, or ZipMap's sequence of maps)."""
    LABELS = "labels"
    """Predicted class indices [N]."""
    TENSOR = "tensor"
    """Anything else, e.g. token embeddings [N, sequence, features]."""


@dataclass(frozen=True)
class ModelOutput:
    name: str
    kind: OutputKind
    chosen_by: str
    """Why this output: `evaluation.output`, or the default rule that picked it."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind.value, "chosenBy": self.chosen_by}


def _kind(value: onnx.ValueInfoProto) -> OutputKind | None:
    """The kind of a graph output; None for one the evaluation cannot read."""
    proto = value.type
    if proto.HasField("sequence_type"):
        element = proto.sequence_type.elem_type
        scores = element.map_type.value_type.tensor_type.elem_type
        return OutputKind.SCORES if element.HasField("map_type") and scores in _FLOATS else None
    if not proto.HasField("tensor_type"):
        return None
    tensor = proto.tensor_type
    rank = len(tensor.shape.dim) if tensor.HasField("shape") else None
    if tensor.elem_type in _INTEGERS and rank in (1, None):
        return OutputKind.LABELS
    if tensor.elem_type in _FLOATS:
        return OutputKind.SCORES if rank == 2 else OutputKind.TENSOR
    return None


def choose_output(model: onnx.ModelProto, requested: str | None) -> ModelOutput:
    kinds = {value.name: _kind(value) for value in model.graph.output}
    if requested is not None:
        if requested not in kinds:
            raise CompressError(
                f"evaluation.output {requested!r} is not an output of the model "
                f"(outputs: {', '.join(kinds)})"
            )
        kind = kinds[requested]
        if kind is None:
            raise CompressError(
                f"evaluation.output {requested!r}: the evaluation reads float tensors, integer "
                "labels or ZipMap scores, not this output's type"
            )
        return ModelOutput(requested, kind, "evaluation.output")
    scores = [name for name, kind in kinds.items() if kind == OutputKind.SCORES]
    labels = [name for name, kind in kinds.items() if kind == OutputKind.LABELS]
    if scores and labels:
        return ModelOutput(
            scores[0],
            OutputKind.SCORES,
            f"default: the class scores (the model also gives labels {', '.join(labels)})",
        )
    first = model.graph.output[0].name
    kind = kinds[first]
    if kind is None:
        raise CompressError(
            f"the model's first output {first!r} is not a tensor the evaluation can read: "
            "name one with evaluation.output"
        )
    return ModelOutput(first, kind, "default: the first output")


def _as_array(result: Any, output: ModelOutput) -> np.ndarray:
    if isinstance(result, list):  # ZipMap: one {class: score} map per sample
        keys = list(result[0]) if result else []
        return np.array([[scores[key] for key in keys] for scores in result], dtype=np.float32)
    array = np.asarray(result)
    if output.kind == OutputKind.LABELS:
        return array.reshape(len(array)).astype(np.int64)
    return array.astype(np.float32)


def read_outputs(
    runner: ort.InferenceSession, output: ModelOutput, dataset: Dataset, what: str
) -> np.ndarray:
    """`output` over the whole dataset, in order (labels int64 [N], anything else float32)."""
    parts = [
        _as_array(run(runner, [output.name], feed, what)[0], output)
        for feed in dataset.batches(EVAL_BATCH)
    ]
    return np.concatenate(parts)
