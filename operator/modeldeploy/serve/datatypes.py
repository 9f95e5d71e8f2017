"""Tensor element types: Open Inference Protocol names, ONNX Runtime names and numpy dtypes."""

from __future__ import annotations

import numpy as np

# Open Inference Protocol v2 datatype -> numpy dtype (BYTES is not supported: the
# server answers 400 naming the input).
V2_DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}

_NUMPY_TO_V2 = {dtype: name for name, dtype in V2_DATATYPES.items()}

# ONNX Runtime's type strings, as in `NodeArg.type`.
_ORT_TYPES: dict[str, np.dtype] = {
    "tensor(bool)": np.dtype(np.bool_),
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(uint16)": np.dtype(np.uint16),
    "tensor(uint32)": np.dtype(np.uint32),
    "tensor(uint64)": np.dtype(np.uint64),
    "tensor(int8)": np.dtype(np.int8),
    "tensor(int16)": np.dtype(np.int16),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(float)": np.dtype(np.float32),
    "tensor(double)": np.dtype(np.float64),
}

# Which kinds of JSON-decoded values may be converted to a tensor of a given kind
# without losing meaning (no float -> int truncation, no bool -> number).
_ACCEPTED_KINDS = {"b": "b", "i": "iu", "u": "iu", "f": "iuf"}


def v2_name(dtype: np.dtype) -> str:
    """The v2 datatype name of a numpy dtype."""
    return _NUMPY_TO_V2[np.dtype(dtype)]


def from_ort_type(ort_type: str) -> np.dtype:
    """The numpy dtype of an ONNX Runtime tensor type string; ValueError for others."""
    try:
        return _ORT_TYPES[ort_type]
    except KeyError:
        raise ValueError(f"unsupported tensor type {ort_type}") from None


def to_array(values: object, dtype: np.dtype) -> np.ndarray:
    """Convert JSON-decoded values to an array of `dtype`, refusing lossy conversions.

    Raises ValueError with a message that can follow "input 'x': ".
    """
    try:
        natural = np.asarray(values)
    except (ValueError, TypeError) as err:
        raise ValueError(f"data is not a regular array of numbers ({err})") from None
    accepted = _ACCEPTED_KINDS[dtype.kind]
    if natural.size and natural.dtype.kind not in accepted:
        raise ValueError(f"data of kind {_kind_name(natural.dtype)} cannot be {v2_name(dtype)}")
    if dtype.kind in "iu" and natural.size:
        limits = np.iinfo(dtype)
        if int(natural.min()) < limits.min or int(natural.max()) > limits.max:
            raise ValueError(f"data out of range for {v2_name(dtype)}")
    try:
        with np.errstate(over="raise"):  # 1e300 must not become FP32 infinity
            return natural.astype(dtype, copy=False)
    except FloatingPointError:
        raise ValueError(f"data out of range for {v2_name(dtype)}") from None


def _kind_name(dtype: np.dtype) -> str:
    return {"b": "boolean", "i": "integer", "u": "integer", "f": "float", "U": "string"}.get(
        dtype.kind, "mixed or non-numeric"
    )
