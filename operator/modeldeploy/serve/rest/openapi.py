"""The OpenAPI 3 description of the server's endpoints, served at `/openapi.json`.

Built for the running server, so the model name (and the input names, in examples) are
the served model's: a client generator or a fuzzer gets URLs that exist.
"""

from __future__ import annotations

import math
from typing import Any

from modeldeploy import __version__
from modeldeploy.serve.datatypes import V2_DATATYPES
from modeldeploy.serve.model import OnnxModel

_ERROR = {"$ref": "#/components/schemas/Error"}
_OBJECT: dict[str, Any] = {"type": "object"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    reasons = {
        400: "Malformed request or tensors that do not fit the model (the message names the input)",
        404: "No such model or version here",
        413: "Body larger than the server's limit",
        500: "Only for faults injected on purpose (MODELDEPLOY_FAULT_ERROR_RATE)",
        503: "Not ready, shutting down, or too many requests in flight (see Retry-After)",
    }
    result = {"200": {"description": "OK", **_json(ok)}}
    for code in errors:
        result[str(code)] = {"description": reasons[code], **_json(_ERROR)}
    return result


def _get(summary: str, ok: dict[str, Any], *errors: int) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": _responses(ok, *errors)}}


def document(model_name: str, model: OnnxModel | None) -> dict[str, Any]:
    name_param = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": [model_name]},
    }
    version_param = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    inference_errors = (400, 404, 413, 500, 503)
    v2_infer = {
        "post": {
            "summary": "Open Inference Protocol v2 inference (JSON tensors; the binary "
            "tensor extension is also accepted, see Inference-Header-Content-Length)",
            "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/V2Request"})},
            "responses": _responses({"$ref": "#/components/schemas/V2Response"}, *inference_errors),
        }
    }
    ready = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    }
    paths = {
        "/": _get('Liveness (KServe v1: {"status": "alive"})', _OBJECT),
        "/v2": _get("Server metadata", _OBJECT),
        "/v2/health/live": _get("Liveness", _OBJECT),
        "/v2/health/ready": _get("Readiness (after the warm-up inference)", _OBJECT, 503),
        "/v2/models/{name}": {
            **_get("Model metadata", _OBJECT, 404, 503),
            "parameters": [name_param],
        },
        "/v2/models/{name}/ready": {
            **_get("Model readiness", ready, 404, 503),
            "parameters": [name_param],
        },
        "/v2/models/{name}/config": {
            **_get("Model configuration (Triton's extension)", _OBJECT, 404, 503),
            "parameters": [name_param],
        },
        "/v2/models/stats": _get("Statistics of every model (Triton's extension)", _OBJECT),
        "/v2/models/{name}/stats": {
            **_get("Model statistics (Triton's extension)", _OBJECT, 404),
            "parameters": [name_param],
        },
        "/v2/repository/index": {
            "post": {
                "summary": "Models of the repository: this server's one (Triton's extension)",
                "requestBody": {
                    "required": False,
                    **_json({"type": "object", "properties": {"ready": {"type": "boolean"}}}),
                },
                "responses": _responses({"type": "array", "items": _OBJECT}, 400),
            }
        },
        "/v2/models/{name}/infer": {**v2_infer, "parameters": [name_param]},
        "/v2/models/{name}/versions/{version}/infer": {
            **v2_infer,
            "parameters": [name_param, version_param],
        },
        "/v1/models": _get("Served models", _OBJECT),
        "/v1/models/{name}": {
            **_get("Model readiness (KServe v1)", ready, 404, 503),
            "parameters": [name_param],
        },
        "/v1/models/{name}:predict": {
            "parameters": [name_param],
            "post": {
                "summary": "KServe v1 prediction: one row per instance",
                "requestBody": {
                    "required": True,
                    **_json({"$ref": "#/components/schemas/V1Request"}),
                },
                "responses": _responses(
                    {"type": "object", "properties": {"predictions": {"type": "array"}}},
                    *inference_errors,
                ),
            },
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "modeldeploy serve", "version": __version__},
        "paths": paths,
        "components": {"schemas": _schemas(model)},
    }


def _schemas(model: OnnxModel | None) -> dict[str, Any]:
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": [*V2_DATATYPES, "BYTES"]},
            "parameters": {"type": "object"},
            "data": {"type": "array"},
        },
    }
    if model is not None:
        tensor["example"] = {
            "name": model.inputs[0].name,
            "shape": [1 if dim == -1 else dim for dim in model.inputs[0].metadata_shape],
            "datatype": model.inputs[0].datatype,
            "data": [0] * math.prod(abs(dim) for dim in model.inputs[0].metadata_shape),
        }
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "V2Tensor": tensor,
        "V2Request": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {"type": "object"},
                "inputs": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/V2Tensor"},
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string"},
                            "parameters": {"type": "object"},
                        },
                    },
                },
            },
        },
        "V2Response": {
            "type": "object",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2Tensor"}},
            },
        },
        "V1Request": {
            "type": "object",
            "required": ["instances"],
            "properties": {"instances": {"type": "array", "minItems": 1}},
        },
    }
