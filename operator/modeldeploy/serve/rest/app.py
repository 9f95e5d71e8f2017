"""The routes: URLs of both protocols mapped to thin handlers over the data plane."""

from __future__ import annotations

from collections.abc import Callable

from modeldeploy.serve.dataplane import DataPlane
from modeldeploy.serve.httpserver import Handler, Request, Response, Router
from modeldeploy.serve.rest import openapi, triton, v1, v2
from modeldeploy.serve.rest.common import (
    InferenceEndpoint,
    error_response,
    json_response,
    model_readiness,
)


def _handler(answer: Callable[[Request], Response]) -> Handler:
    async def handle(request: Request) -> Response:
        return answer(request)

    return handle


def build_router(dataplane: DataPlane) -> Router:
    router = Router(error_response)

    def metrics(request: Request) -> Response:
        body, content_type = dataplane.metrics.render()
        return Response(body=body, content_type=content_type)

    def openapi_document(request: Request) -> Response:
        return json_response(openapi.document(dataplane.config.model_name, dataplane.model))

    def readiness(request: Request) -> Response:
        return model_readiness(dataplane, request)

    def metadata(request: Request) -> Response:
        return v2.model_metadata(dataplane, request)

    def model_config(request: Request) -> Response:
        return triton.model_config(dataplane, request)

    def statistics(request: Request) -> Response:
        return triton.statistics(dataplane, request)

    v2_infer = InferenceEndpoint(dataplane, "v2", v2.V2Codec())
    router.add("POST", "/v2/models/{name}/infer", v2_infer)
    router.add("POST", "/v2/models/{name}/versions/{version}/infer", v2_infer)
    router.add(
        "POST", "/v1/models/{name}:predict", InferenceEndpoint(dataplane, "v1", v1.V1Codec())
    )
    router.add(
        "POST",
        "/v2/repository/index",
        _handler(lambda request: triton.repository_index(dataplane, request)),
    )
    routes: dict[str, Callable[[Request], Response]] = {
        "/": lambda request: v1.live(),
        "/v2": lambda request: v2.server_metadata(),
        "/v2/health/live": lambda request: v2.live(),
        "/v2/health/ready": lambda request: v2.ready(dataplane),
        "/v2/models/{name}": metadata,
        "/v2/models/{name}/versions/{version}": metadata,
        "/v2/models/{name}/ready": readiness,
        "/v2/models/{name}/versions/{version}/ready": readiness,
        "/v2/models/{name}/config": model_config,
        "/v2/models/{name}/versions/{version}/config": model_config,
        "/v2/models/stats": statistics,
        "/v2/models/{name}/stats": statistics,
        "/v2/models/{name}/versions/{version}/stats": statistics,
        "/v1/models": lambda request: v1.list_models(dataplane),
        "/v1/models/{name}": readiness,
        "/metrics": metrics,
        "/openapi.json": openapi_document,
    }
    for pattern, answer in routes.items():
        router.add("GET", pattern, _handler(answer))
    return router
