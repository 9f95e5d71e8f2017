"""KServe v1 protocol: `{"instances": [...]}` in, `{"predictions": [...]}` out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modeldeploy.serve.batching import Outputs
from modeldeploy.serve.dataplane import DataPlane
from modeldeploy.serve.datatypes import to_array
from modeldeploy.serve.httpserver import Response
from modeldeploy.serve.model import InvalidInputError, OnnxModel, TensorSpec
from modeldeploy.serve.rest.common import BadRequestError, json_response, parse_json


class V1Codec:
    """Each instance is one row: a nested list for a one-input model, else an object
    mapping input names to rows. Predictions mirror that for the outputs."""

    def decode(
        self, body: bytes, headers: Mapping[str, str], model: OnnxModel
    ) -> tuple[dict[str, np.ndarray], None]:
        instances = parse_json(body).get("instances")
        if not isinstance(instances, list) or not instances:
            raise BadRequestError("'instances' must be a non-empty list")
        if all(isinstance(instance, dict) for instance in instances):
            return _by_name(instances, model), None
        if len(model.inputs) != 1:
            names = ", ".join(spec.name for spec in model.inputs)
            raise BadRequestError(
                f"this model has several inputs ({names}): each instance must be "
                "an object mapping input names to values"
            )
        return {model.inputs[0].name: _array(instances, model.inputs[0])}, None

    def encode(self, outputs: Outputs, context: None, dataplane: DataPlane) -> Response:
        if len(outputs) == 1:
            predictions: Any = next(iter(outputs.values()))
        else:
            rows = len(next(iter(outputs.values())))
            predictions = [{name: out[row] for name, out in outputs.items()} for row in range(rows)]
        return json_response({"predictions": predictions})


def _by_name(instances: list[dict[str, Any]], model: OnnxModel) -> dict[str, np.ndarray]:
    for instance in instances:
        for name in instance:
            model.input_spec(name)  # InvalidInputError for names the model does not have
    feeds = {}
    for spec in model.inputs:
        try:
            values = [instance[spec.name] for instance in instances]
        except KeyError:
            raise InvalidInputError(f"input '{spec.name}': missing from an instance") from None
        feeds[spec.name] = _array(values, spec)
    return feeds


def _array(values: list[Any], spec: TensorSpec) -> np.ndarray:
    try:
        return to_array(values, spec.dtype)
    except ValueError as err:
        raise InvalidInputError(f"input '{spec.name}': {err}") from None


def live() -> Response:
    """`GET /`, what KServe's v1 clients ask for liveness (`InferenceRESTClient.is_server_live`
    checks `status == "alive"`): answered as KServe's model server does, whose `/` route is
    `DataPlane.live` (kserve/kserve, python/kserve/kserve/protocol/rest/server.py and
    python/kserve/kserve/protocol/dataplane.py)."""
    return json_response({"status": "alive"})


def list_models(dataplane: DataPlane) -> Response:
    return json_response({"models": [dataplane.config.model_name]})
