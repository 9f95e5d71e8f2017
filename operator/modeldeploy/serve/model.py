"""The model: one ONNX Runtime session, its input/output signature and input validation."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from modeldeploy.serve.datatypes import from_ort_type, v2_name

log = logging.getLogger(__name__)

GRAPH_OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


class ModelLoadError(Exception):
    """The model file is missing, does not match its digest, or is not a usable ONNX model."""


class InvalidInputError(ValueError):
    """A request's tensors do not fit the model; the message names the input."""


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output: name, element type and shape (None = dynamic axis)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]

    @property
    def datatype(self) -> str:
        return v2_name(self.dtype)

    @property
    def metadata_shape(self) -> list[int]:
        """The shape as the v2 metadata endpoint shows it: -1 for dynamic axes."""
        return [-1 if dim is None else dim for dim in self.shape]

    def check(self, array: np.ndarray) -> None:
        """Raise InvalidInputError unless `array` has this tensor's dtype and shape."""
        if array.dtype != self.dtype:
            raise InvalidInputError(
                f"input '{self.name}': datatype {_v2_or_str(array.dtype)} does not match "
                f"the model's {self.datatype}"
            )
        if array.ndim != len(self.shape) or any(
            want is not None and want != got
            for want, got in zip(self.shape, array.shape, strict=False)
        ):
            raise InvalidInputError(
                f"input '{self.name}': shape {list(array.shape)} does not match "
                f"the model's {self.metadata_shape}"
            )
        if array.size == 0:
            raise InvalidInputError(
                f"input '{self.name}': empty tensor (shape {list(array.shape)})"
            )


def _v2_or_str(dtype: np.dtype) -> str:
    try:
        return v2_name(dtype)
    except KeyError:
        return str(dtype)


def _spec(arg: ort.NodeArg) -> TensorSpec:
    # ONNX Runtime gives symbolic axes as strings (or None); both mean dynamic.
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else None for dim in arg.shape)
    return TensorSpec(arg.name, from_ort_type(arg.type), shape)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ModelLoadError unless the file's sha256 is `expected` (hex, `sha256:` optional)."""
    want = expected.removeprefix("sha256:").lower()
    got = sha256_of(path)
    if got != want:
        raise ModelLoadError(f"{path}: sha256 is {got}, expected {want}")


def resolve_providers(requested: Sequence[str]) -> list[str]:
    """Execution providers to use: `auto` = CUDA when this ONNX Runtime has it, else CPU."""
    available = ort.get_available_providers()
    if list(requested) in ([], ["auto"]):
        preferred = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return [name for name in preferred if name in available]
    missing = [name for name in requested if name not in available]
    if missing:
        raise ModelLoadError(
            f"execution providers {missing} are not available (available: {available})"
        )
    return list(requested)


class OnnxModel:
    """An ONNX Runtime session with the model's signature and a validating `run`."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 1,
        providers: Sequence[str] = ("auto",),
        graph_optimization: str = "all",
    ) -> None:
        started = time.perf_counter()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = GRAPH_OPTIMIZATION_LEVELS[graph_optimization]
        chosen = resolve_providers(providers)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=chosen)
            self.inputs = tuple(_spec(arg) for arg in self.session.get_inputs())
            self.outputs = tuple(_spec(arg) for arg in self.session.get_outputs())
        except Exception as err:  # ORT raises several private exception types
            raise ModelLoadError(f"{path}: not a usable ONNX model: {err}") from err
        self.providers = self.session.get_providers()
        self._inputs_by_name = {spec.name: spec for spec in self.inputs}
        self.output_names = [spec.name for spec in self.outputs]
        # Requests can be merged along axis 0 only when every input and output has a
        # dynamic first axis.
        self.batchable = all(
            spec.shape and spec.shape[0] is None for spec in (*self.inputs, *self.outputs)
        )
        self.load_seconds = time.perf_counter() - started

    def input_spec(self, name: str) -> TensorSpec:
        try:
            return self._inputs_by_name[name]
        except KeyError:
            known = ", ".join(repr(spec.name) for spec in self.inputs)
            raise InvalidInputError(
                f"input '{name}': the model has no such input (inputs: {known})"
            ) from None

    def validate(self, feeds: Mapping[str, np.ndarray]) -> None:
        """Raise InvalidInputError unless `feeds` holds exactly the model's inputs, well shaped."""
        for name, array in feeds.items():
            self.input_spec(name).check(array)
        missing = [spec.name for spec in self.inputs if spec.name not in feeds]
        if missing:
            raise InvalidInputError(f"input '{missing[0]}': missing from the request")
        if self.batchable:
            batch_sizes = {name: array.shape[0] for name, array in feeds.items()}
            if len(set(batch_sizes.values())) > 1:
                raise InvalidInputError(
                    f"inputs disagree on the batch size (axis 0): {batch_sizes}"
                )

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the session (blocking); feeds must have passed `validate`."""
        results = self.session.run(self.output_names, dict(feeds))
        return dict(zip(self.output_names, results, strict=True))

    def example_feeds(self, batch: int = 1) -> dict[str, np.ndarray]:
        """Zero tensors fitting the inputs, dynamic axes set to `batch` (first) or 1."""
        feeds = {}
        for spec in self.inputs:
            shape = [
                (batch if axis == 0 else 1) if dim is None else dim
                for axis, dim in enumerate(spec.shape)
            ]
            feeds[spec.name] = np.zeros(shape, dtype=spec.dtype)
        return feeds

    def warm_up(self) -> float:
        """One inference on zero inputs; returns its duration in seconds."""
        started = time.perf_counter()
        self.run(self.example_feeds())
        return time.perf_counter() - started


def rows(feeds: Mapping[str, np.ndarray]) -> int:
    """The batch size of validated feeds of a batchable model."""
    return int(next(iter(feeds.values())).shape[0])
