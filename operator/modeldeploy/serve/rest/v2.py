"""Open Inference Protocol v2 (KServe v2, Triton, MLServer), JSON and binary tensor extension."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from modeldeploy import __version__
from modeldeploy.serve.batching import Outputs
from modeldeploy.serve.dataplane import DataPlane
from modeldeploy.serve.datatypes import V2_DATATYPES, to_array, v2_name
from modeldeploy.serve.httpserver import Request, Response
from modeldeploy.serve.model import InvalidInputError, OnnxModel, TensorSpec
from modeldeploy.serve.rest.common import (
    BadRequestError,
    dumps,
    json_response,
    parse_json,
    served_model,
)

# Binary tensor extension: the JSON part's length; the raw tensors follow it.
HEADER_LENGTH = "Inference-Header-Content-Length"
# The last two are Triton's, served by rest/triton.py (its repository index too, but not
# load and unload, so not "model_repository").
EXTENSIONS = ["binary_tensor_data", "model_configuration", "statistics"]


@dataclass(frozen=True)
class _Context:
    request_id: str | None
    outputs: list[tuple[str, bool]]  # (output name, as binary data)


class V2Codec:
    def decode(
        self, body: bytes, headers: Mapping[str, str], model: OnnxModel
    ) -> tuple[dict[str, np.ndarray], _Context]:
        json_part, binary = _split(body, headers.get(HEADER_LENGTH.lower()))
        request = parse_json(json_part)
        inputs = request.get("inputs")
        if not isinstance(inputs, list) or not inputs:
            raise BadRequestError("'inputs' must be a non-empty list of tensors")
        feeds: dict[str, np.ndarray] = {}
        offset = 0
        for index, tensor in enumerate(inputs):
            if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
                raise BadRequestError(f"inputs[{index}] must be an object with a string 'name'")
            spec = model.input_spec(tensor["name"])
            if spec.name in feeds:
                raise InvalidInputError(f"input '{spec.name}': given twice")
            feeds[spec.name], offset = _tensor(tensor, spec, binary, offset)
        if offset != len(binary):
            raise BadRequestError(f"{len(binary) - offset} bytes of binary data belong to no input")
        request_id = request.get("id")
        return feeds, _Context(
            request_id if isinstance(request_id, str) else None,
            _requested_outputs(request, model),
        )

    def encode(self, outputs: Outputs, context: _Context, dataplane: DataPlane) -> Response:
        described: list[dict[str, Any]] = []
        blobs: list[bytes] = []
        for name, binary in context.outputs:
            array = outputs[name]
            entry: dict[str, Any] = {
                "name": name,
                "datatype": v2_name(array.dtype),
                "shape": list(array.shape),
            }
            if binary:
                blob = np.ascontiguousarray(array).tobytes()
                entry["parameters"] = {"binary_data_size": len(blob)}
                blobs.append(blob)
            else:
                entry["data"] = np.ascontiguousarray(array).ravel()
            described.append(entry)
        document: dict[str, Any] = {
            "model_name": dataplane.config.model_name,
            "model_version": dataplane.config.model_version,
            "outputs": described,
        }
        if context.request_id is not None:
            document["id"] = context.request_id
        header = dumps(document)
        if not blobs:
            return Response(body=header)
        return Response(
            body=b"".join([header, *blobs]),
            content_type="application/octet-stream",
            headers=[(HEADER_LENGTH, str(len(header)))],
        )


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise BadRequestError(
            f"{HEADER_LENGTH}: {header_length!r} is not a length within the body "
            f"({len(body)} bytes)"
        )
    length = int(header_length)
    return body[:length], body[length:]


def _tensor(
    tensor: dict[str, Any], spec: TensorSpec, binary: bytes, offset: int
) -> tuple[np.ndarray, int]:
    """Decode one input tensor; returns it and the offset past its binary data."""
    name = spec.name
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
    ):
        raise InvalidInputError(f"input '{name}': 'shape' must be a list of non-negative integers")
    datatype = tensor.get("datatype")
    dtype = V2_DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None or dtype != spec.dtype:
        raise InvalidInputError(
            f"input '{name}': datatype {datatype!r} does not match the model's {spec.datatype}"
        )
    count = math.prod(shape)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInputError(f"input '{name}': 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise InvalidInputError(f"input '{name}': no 'data' and no binary_data_size")
        try:
            array = to_array(tensor["data"], dtype)
        except ValueError as err:
            raise InvalidInputError(f"input '{name}': {err}") from None
        if array.size != count:
            raise InvalidInputError(
                f"input '{name}': {array.size} values do not fill shape {shape} ({count})"
            )
        return array.reshape(shape), offset
    if not isinstance(size, int) or size != count * dtype.itemsize:
        raise InvalidInputError(
            f"input '{name}': binary_data_size {size!r} is not {count} {datatype} elements"
        )
    if offset + size > len(binary):
        raise InvalidInputError(f"input '{name}': binary data ends before its {size} bytes")
    array = np.frombuffer(binary, dtype=dtype, count=count, offset=offset).reshape(shape)
    if not array.flags.aligned:
        array = array.copy()
    return array, offset + size


def _requested_outputs(request: dict[str, Any], model: OnnxModel) -> list[tuple[str, bool]]:
    parameters = request.get("parameters")
    binary_default = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    requested = request.get("outputs")
    if requested is None:
        return [(name, binary_default) for name in model.output_names]
    if not isinstance(requested, list):
        raise BadRequestError("'outputs' must be a list of objects with a 'name'")
    chosen = []
    for index, output in enumerate(requested):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise BadRequestError(f"outputs[{index}] must be an object with a string 'name'")
        if output["name"] not in model.output_names:
            raise BadRequestError(
                f"output '{output['name']}': the model has no such output "
                f"(outputs: {', '.join(model.output_names)})"
            )
        options = output.get("parameters")
        binary = options.get("binary_data") if isinstance(options, dict) else None
        chosen.append((output["name"], binary_default if binary is None else binary is True))
    return chosen


# Health and metadata.


def server_metadata() -> Response:
    return json_response({"name": "modeldeploy", "version": __version__, "extensions": EXTENSIONS})


def live() -> Response:
    return json_response({"live": True})


def ready(dataplane: DataPlane) -> Response:
    return json_response({"ready": dataplane.ready}, 200 if dataplane.ready else 503)


def model_metadata(dataplane: DataPlane, request: Request) -> Response:
    model = served_model(request, dataplane)
    if isinstance(model, Response):
        return model
    return json_response(
        {
            "name": dataplane.config.model_name,
            "versions": [dataplane.config.model_version],
            "platform": "onnxruntime_onnx",
            "inputs": [_describe(spec) for spec in model.inputs],
            "outputs": [_describe(spec) for spec in model.outputs],
        }
    )


def _describe(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": spec.metadata_shape}
