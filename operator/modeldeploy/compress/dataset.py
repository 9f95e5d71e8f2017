"""Evaluation and calibration data: an .npz file (or a directory of them) matched to the
model's inputs.

A single-input model reads the array `inputs`; a model with several inputs reads one array
per input, named like the input (e.g. `input_ids`, `attention_mask`). `labels` is optional.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from modeldeploy.compress.errors import CompressError

LABELS = "labels"
SINGLE_INPUT = "inputs"


@dataclass(frozen=True)
class Dataset:
    feeds: dict[str, np.ndarray]
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(next(iter(self.feeds.values())))

    def batches(self, size: int, drop_last: bool = False) -> Iterator[dict[str, np.ndarray]]:
        stop = len(self) - len(self) % size if drop_last else len(self)
        for start in range(0, stop, size):
            yield {name: array[start : start + size] for name, array in self.feeds.items()}

    def take(self, count: int) -> Dataset:
        labels = None if self.labels is None else self.labels[:count]
        return Dataset({name: array[:count] for name, array in self.feeds.items()}, labels)


def _graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    constant = {tensor.name for tensor in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in constant]


def _read_arrays(path: Path, uri: str) -> dict[str, np.ndarray]:
    files = sorted(path.glob("*.npz")) if path.is_dir() else [path]
    if not files:
        raise CompressError(f"dataset {uri}: the directory holds no .npz files")
    parts: dict[str, list[np.ndarray]] = {}
    for file in files:
        try:
            with np.load(file, allow_pickle=False) as archive:
                for name in archive.files:
                    parts.setdefault(name, []).append(archive[name])
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise CompressError(
                f"dataset {uri}: {file.name} is not a readable .npz: {error}"
            ) from None
    try:
        return {name: np.concatenate(arrays) for name, arrays in parts.items()}
    except ValueError as error:
        raise CompressError(f"dataset {uri}: files disagree on array shapes: {error}") from None


def _check_shape(uri: str, key: str, array: np.ndarray, value: onnx.ValueInfoProto) -> None:
    """The array fits the input's rank and static dims (the first is the batch: any size)."""
    dims = value.type.tensor_type.shape.dim
    if not value.type.tensor_type.HasField("shape"):
        return
    if array.ndim != len(dims):
        raise CompressError(
            f"dataset {uri}: array {key!r} has rank {array.ndim} (shape {list(array.shape)}), "
            f"model input {value.name!r} has rank {len(dims)} ({_dims_text(dims)})"
        )
    if dims and dims[0].dim_value:
        raise CompressError(
            f"model input {value.name!r} has a fixed batch size {dims[0].dim_value} "
            f"({_dims_text(dims)}); the job runs batches of other sizes: export it with a "
            "dynamic batch axis"
        )
    for axis, dim in enumerate(dims[1:], start=1):
        if dim.dim_value and array.shape[axis] != dim.dim_value:
            raise CompressError(
                f"dataset {uri}: array {key!r} has shape {list(array.shape)}, model input "
                f"{value.name!r} wants {_dims_text(dims)} (axis {axis}: {array.shape[axis]} "
                f"!= {dim.dim_value})"
            )


def _dims_text(dims: Sequence[onnx.TensorShapeProto.Dimension]) -> str:
    return (
        "[" + ", ".join(str(d.dim_value) if d.dim_value else d.dim_param or "?" for d in dims) + "]"
    )


def _check_labels(uri: str, labels: np.ndarray) -> None:
    integral = labels.dtype.kind in "iub" or (
        labels.dtype.kind == "f" and bool(np.all(np.mod(labels, 1) == 0))
    )
    if labels.ndim != 1 or not integral:
        raise CompressError(
            f"dataset {uri}: array 'labels' must hold one class index per sample (integers, "
            f"shape [N]); it is {labels.dtype} of shape {list(labels.shape)}"
        )


def load_dataset(path: Path, uri: str, model: onnx.ModelProto) -> Dataset:
    arrays = _read_arrays(path, uri)
    inputs = _graph_inputs(model)
    feeds: dict[str, np.ndarray] = {}
    for value in inputs:
        key = value.name if value.name in arrays else None
        if key is None and len(inputs) == 1 and SINGLE_INPUT in arrays:
            key = SINGLE_INPUT
        if key is None:
            raise CompressError(
                f"dataset {uri} has no array for model input {value.name!r} "
                f"(found: {', '.join(sorted(arrays)) or 'none'})"
            )
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        array = arrays[key]
        if array.dtype.kind != np.dtype(dtype).kind and not (
            array.dtype.kind in "iu" and np.dtype(dtype).kind in "iuf"
        ):
            raise CompressError(
                f"dataset {uri}: array {key!r} is {array.dtype}, model input {value.name!r} "
                f"wants {np.dtype(dtype)}"
            )
        _check_shape(uri, key, array, value)
        feeds[value.name] = np.ascontiguousarray(array.astype(dtype, copy=False))
    labels = arrays.get(LABELS)
    if labels is not None:
        _check_labels(uri, labels)
    sizes = {len(array) for array in feeds.values()} | (set() if labels is None else {len(labels)})
    if len(sizes) != 1:
        raise CompressError(f"dataset {uri}: arrays have different lengths {sorted(sizes)}")
    if sizes == {0}:
        raise CompressError(f"dataset {uri} is empty")
    return Dataset(feeds, None if labels is None else labels.astype(np.int64))
