"""Triton's extensions of the v2 protocol that many client programs call: the model
configuration, the repository index and statistics (tritonclient's `get_model_config`,
`get_model_repository_index`, `get_inference_statistics`).

The shapes are those of Triton's docs/protocol/extension_model_configuration.md,
extension_model_repository.md and extension_statistics.md (triton-inference-server/server).
The configuration is the JSON form of Triton's ModelConfig protobuf as Triton writes it:
snake_case field names, and 64-bit integers (dims, delays, versions) as JSON numbers, not
the strings protobuf's JSON mapping would give (`ModelConfigToJson` in
triton-inference-server/core, src/model_config_utils.cc).
"""

from __future__ import annotations

from typing import Any

from modeldeploy.serve.config import ServeConfig
from modeldeploy.serve.dataplane import DataPlane, State
from modeldeploy.serve.httpserver import Request, Response
from modeldeploy.serve.metrics import Duration, InferenceStatistics
from modeldeploy.serve.model import OnnxModel, TensorSpec
from modeldeploy.serve.rest.common import (
    BadRequestError,
    error_response,
    json_response,
    model_not_found,
    parse_json,
    served_model,
)

# The model-repository extension's states (Triton's ModelReadyState names).
_STATES = {
    State.LOADING: ("LOADING", ""),
    State.READY: ("READY", ""),
    State.QUIESCING: ("UNLOADING", "the server is shutting down"),
    State.DRAINING: ("UNLOADING", "the server is shutting down"),
    State.FAILED: ("UNAVAILABLE", "the model could not be loaded (see the server's log)"),
}


def model_config(dataplane: DataPlane, request: Request) -> Response:
    """`GET /v2/models/{name}[/versions/{v}]/config`."""
    model = served_model(request, dataplane)
    if isinstance(model, Response):
        return model
    return json_response(config_document(dataplane.config, model))


def config_document(config: ServeConfig, model: OnnxModel) -> dict[str, Any]:
    """The model as a Triton configuration: with dynamic batching (a batchable model),
    `dims` leave out the batch axis and `max_batch_size` is the batcher's bound; else
    `max_batch_size` is 0 and `dims` are the whole shape, as in Triton."""
    batching = model.batchable

    def dims(spec: TensorSpec) -> list[int]:
        return spec.metadata_shape[1:] if batching else spec.metadata_shape

    version = config.model_version
    document: dict[str, Any] = {
        "name": config.model_name,
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "version_policy": (
            {"specific": {"versions": [int(version)]}}
            if version.isdigit()
            else {"latest": {"num_versions": 1}}
        ),
        "max_batch_size": config.max_batch_size if batching else 0,
        "input": [
            {
                "name": spec.name,
                "data_type": _data_type(spec),
                "format": "FORMAT_NONE",
                "dims": dims(spec),
                "is_shape_tensor": False,
                "allow_ragged_batch": False,
                "optional": False,
            }
            for spec in model.inputs
        ],
        "output": [
            {
                "name": spec.name,
                "data_type": _data_type(spec),
                "dims": dims(spec),
                "label_filename": "",
                "is_shape_tensor": False,
            }
            for spec in model.outputs
        ],
        "instance_group": [
            {
                "name": f"{config.model_name}_0",
                "kind": "KIND_GPU" if "CUDAExecutionProvider" in model.providers else "KIND_CPU",
                "count": 1,
            }
        ],
        "default_model_filename": "model.onnx",
    }
    if batching:
        document["dynamic_batching"] = {
            "preferred_batch_size": [],
            "max_queue_delay_microseconds": round(config.max_delay_ms * 1000),
            "preserve_ordering": True,  # every answer goes to its own request's connection
        }
    return document


def _data_type(spec: TensorSpec) -> str:
    return f"TYPE_{spec.datatype}"  # the v2 names (FP32, INT64, ...) with Triton's prefix


def repository_index(dataplane: DataPlane, request: Request) -> Response:
    """`POST /v2/repository/index`, body empty or `{"ready": bool}`."""
    try:
        only_ready = _ready_filter(request.body)
    except BadRequestError as err:
        return error_response(400, str(err))
    if only_ready and not dataplane.ready:
        return json_response([])
    state, reason = _STATES[dataplane.state]
    config = dataplane.config
    entry = {"name": config.model_name, "version": config.model_version}
    return json_response([{**entry, "state": state, "reason": reason}])


def _ready_filter(body: bytes) -> bool:
    if not body.strip():
        return False
    ready = parse_json(body).get("ready", False)
    if not isinstance(ready, bool):
        raise BadRequestError(f"'ready' must be true or false, not {ready!r}")
    return ready


def statistics(dataplane: DataPlane, request: Request) -> Response:
    """`GET /v2/models[/{name}[/versions/{v}]]/stats`."""
    if "name" in request.params:
        not_found = model_not_found(request, dataplane)
        if not_found is not None:
            return not_found
    config = dataplane.config
    figures = dataplane.metrics.statistics_now()
    return json_response(
        {"model_stats": [statistics_document(config.model_name, config.model_version, figures)]}
    )


def statistics_document(name: str, version: str, figures: InferenceStatistics) -> dict[str, Any]:
    """Triton's `$model_stat`. The server times whole requests and whole ONNX Runtime
    runs; queueing and the copies in and out are inside those and not timed apart, so
    `queue`, `compute_input`, `compute_output` are zero (and nothing is cached)."""
    not_timed = _duration(Duration())
    return {
        "name": name,
        "version": version,
        "last_inference": figures.last_inference_ms,
        "inference_count": figures.inference_count,
        "execution_count": figures.compute_infer.count,
        "inference_stats": {
            "success": _duration(figures.success),
            "fail": _duration(figures.fail),
            "queue": not_timed,
            "compute_input": not_timed,
            "compute_infer": _duration(figures.compute_infer),
            "compute_output": not_timed,
            "cache_hit": not_timed,
            "cache_miss": not_timed,
        },
        "batch_stats": [
            {
                "batch_size": rows,
                "compute_input": not_timed,
                "compute_infer": _duration(figures.batches[rows]),
                "compute_output": not_timed,
            }
            for rows in sorted(figures.batches)
        ],
    }


def _duration(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}
