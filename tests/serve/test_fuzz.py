"""Fuzzing the HTTP API: no input may get a 5xx (or crash the server)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeldeploy.serve.rest import openapi
from tests.serve.conftest import RunningServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


# The document the server serves at /openapi.json for a model named "digits" (built here
# because the schemathesis fixture loader does not work with this pytest version).
schema = schemathesis.openapi.from_dict(openapi.document("digits", None))


def test_the_served_document_is_the_fuzzed_one(
    linear_server: RunningServer, session: requests.Session
) -> None:
    served = session.get(f"{linear_server.url}/openapi.json", timeout=10).json()
    assert served["paths"] == openapi.document("digits", None)["paths"]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_described_endpoints_never_answer_5xx(
    case: schemathesis.Case, linear_server: RunningServer
) -> None:
    response = case.call(base_url=linear_server.url, timeout=10)
    assert response.status_code < 500, response.text
    if response.status_code >= 400 and response.status_code != 405:
        assert "error" in response.json()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
tensors = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", "other"]) | st.text(max_size=5),
        "shape": st.lists(st.integers(-2, 70), max_size=3) | json_values,
        "datatype": st.sampled_from(["FP32", "INT64", "BYTES", "FP16", "BOOL"]) | json_values,
    },
    optional={
        "data": st.lists(st.floats(width=32) | st.integers(-(2**70), 2**70), max_size=130)
        | json_values,
        "parameters": st.fixed_dictionaries({"binary_data_size": st.integers(-1, 600)})
        | json_values,
    },
)
v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3) | json_values},
    optional={"outputs": json_values, "parameters": json_values, "id": json_values},
)


@given(
    body=v2_bodies | json_values,
    binary=st.binary(max_size=300),
    header_length=st.none() | st.integers(-5, 900).map(str) | st.text(max_size=4),
)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_v2_bodies_never_answer_5xx(
    linear_server: RunningServer,
    session: requests.Session,
    body: object,
    binary: bytes,
    header_length: str | None,
) -> None:
    payload = json.dumps(body).encode()
    headers = {}
    if header_length is not None and header_length.isascii() and header_length.isprintable():
        headers["Inference-Header-Content-Length"] = header_length
        payload += binary
    response = session.post(
        f"{linear_server.url}/v2/models/digits/infer", data=payload, headers=headers, timeout=10
    )
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code != 200:
        assert response.json()["error"]


@given(body=st.fixed_dictionaries({"instances": json_values}) | json_values)
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_random_v1_bodies_never_answer_5xx(
    linear_server: RunningServer, session: requests.Session, body: object
) -> None:
    response = session.post(
        f"{linear_server.url}/v1/models/digits:predict", data=json.dumps(body), timeout=10
    )
    assert response.status_code in (200, 400, 413), response.text
