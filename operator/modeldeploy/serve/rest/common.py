"""What the v1 and v2 endpoints share: JSON bodies, errors, admission and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import orjson

from modeldeploy.serve.batching import InferenceError, Outputs
from modeldeploy.serve.dataplane import DataPlane, UnavailableError
from modeldeploy.serve.faults import InjectedFaultError
from modeldeploy.serve.httpserver import Request, Response
from modeldeploy.serve.metrics import ServeMetrics
from modeldeploy.serve.model import InvalidInputError, OnnxModel

log = logging.getLogger(__name__)


class BadRequestError(ValueError):
    """The body is not a well-formed request of the protocol (400)."""


def _numpy_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # dtypes orjson does not serialize natively
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(document: Any) -> bytes:
    return orjson.dumps(document, default=_numpy_default, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(document: Any, status: int = 200) -> Response:
    return Response(status, dumps(document))


def error_response(status: int, message: str, retry_after: int | None = None) -> Response:
    """`{"error": message}`, the error shape of both KServe protocols."""
    response = Response(status, dumps({"error": message}))
    if retry_after is not None:
        response.headers.append(("Retry-After", str(retry_after)))
    return response


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise BadRequestError(f"request body is not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise BadRequestError("request body must be a JSON object")
    return document


def protocol_of(path: str) -> str:
    """The `protocol` label of a URL: v1 or v2 by its prefix, else http."""
    for protocol in ("v1", "v2"):
        if path == f"/{protocol}" or path.startswith(f"/{protocol}/"):
            return protocol
    return "http"


def count_refusal(metrics: ServeMetrics, path: str, status: int) -> None:
    """HttpServer's `on_refusal`: such answers count in `modeldeploy_requests_total` too,
    or a client whose requests are all refused would not show in the error rate."""
    metrics.refusal(protocol_of(path), status)


class Codec(Protocol):
    """One protocol's translation between HTTP bodies and tensors."""

    def decode(
        self, body: bytes, headers: Mapping[str, str], model: OnnxModel
    ) -> tuple[dict[str, np.ndarray], Any]: ...

    def encode(self, outputs: Outputs, context: Any, dataplane: DataPlane) -> Response: ...


class InferenceEndpoint:
    """Admission, decoding, inference, encoding and metrics for one protocol's route."""

    def __init__(self, dataplane: DataPlane, protocol: str, codec: Codec) -> None:
        self.dataplane = dataplane
        self.protocol = protocol
        self.codec = codec

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        response = await self._answer(request)
        self.dataplane.metrics.request(
            self.protocol, response.status, time.perf_counter() - started
        )
        return response

    async def _answer(self, request: Request) -> Response:
        dataplane = self.dataplane
        not_found = model_not_found(request, dataplane)
        if not_found is not None:
            return not_found
        try:
            dataplane.admit()
        except UnavailableError as err:
            return error_response(503, str(err), retry_after=err.retry_after)
        try:
            assert dataplane.model is not None
            feeds, context = self.codec.decode(request.body, request.headers, dataplane.model)
            outputs = await dataplane.infer(feeds)
            return self.codec.encode(outputs, context, dataplane)
        except (BadRequestError, InvalidInputError, InferenceError) as err:
            return error_response(400, str(err))
        except InjectedFaultError as err:
            return error_response(500, str(err))
        except Exception:
            log.exception("inference request failed")
            return error_response(500, "internal error (logged by the server)")
        finally:
            dataplane.release()


def model_not_found(request: Request, dataplane: DataPlane) -> Response | None:
    """404 unless the URL names the served model (and version, when it names one)."""
    config = dataplane.config
    name = request.params["name"]
    if name != config.model_name:
        return error_response(
            404, f"model '{name}' is not served here (this server serves '{config.model_name}')"
        )
    version = request.params.get("version")
    if version is not None and version != config.model_version:
        return error_response(
            404,
            f"version '{version}' of model '{name}' is not served here "
            f"(this server serves version '{config.model_version}')",
        )
    return None


def served_model(request: Request, dataplane: DataPlane) -> OnnxModel | Response:
    """The model the URL names, or the answer instead: 404 for another model or version,
    503 before the model is loaded."""
    not_found = model_not_found(request, dataplane)
    if not_found is not None:
        return not_found
    if dataplane.model is None:
        return error_response(503, "the model is not loaded yet", retry_after=5)
    return dataplane.model


def model_readiness(dataplane: DataPlane, request: Request) -> Response:
    """v2 `/v2/models/{name}/ready` and v1 `GET /v1/models/{name}`: 200 ready, else 503."""
    not_found = model_not_found(request, dataplane)
    if not_found is not None:
        return not_found
    document = {"name": dataplane.config.model_name, "ready": dataplane.ready}
    return json_response(document, 200 if dataplane.ready else 503)
