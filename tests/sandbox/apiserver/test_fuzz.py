"""Random bodies, updates and patches: never a 500, errors are Status bodies, nothing is lost."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.sandbox.apiserver.http import call
from tests.sandbox.conftest import SandboxApi

_KEYS = ["metadata", "name", "spec", "status", "labels", "containers", "replicas", "selector"]
_KEYS += ["template", "finalizers", "ownerReferences", "data", "x", "$patch", "op", "path"]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(_KEYS), children, max_size=4)
    ),
    max_leaves=12,
)
_PATHS = [
    "/api/v1/namespaces/default/configmaps",
    "/api/v1/namespaces/default/pods",
    "/apis/apps/v1/namespaces/default/deployments",
    "/apis/batch/v1/namespaces/default/jobs",
    "/api/v1/namespaces",
]
_PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]
_SUBRESOURCES = st.sampled_from(["", "/status", "/scale"])
_FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _answered(status: int, body: Any) -> None:
    assert status < 500, body
    if status >= 400:
        assert body["kind"] == "Status"


def _target(sandbox_api: SandboxApi) -> str:
    """The URL of a Deployment to change (created once per sandbox)."""
    deployments = "/apis/apps/v1/namespaces/default/deployments"
    template = {
        "metadata": {"labels": {"a": "b"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    spec = {"selector": {"matchLabels": {"a": "b"}}, "template": template}
    call(sandbox_api, "POST", deployments, {"metadata": {"name": "target"}, "spec": spec})
    return f"{deployments}/target"


def _still_there(sandbox_api: SandboxApi, url: str) -> None:
    status, body = call(sandbox_api, "GET", url)
    assert status == 200
    assert body["metadata"]["name"] == "target"


@_FUZZ
@given(path=st.sampled_from(_PATHS), body=_JSON, named=st.booleans())
def test_random_creates(sandbox_api: SandboxApi, path: str, body: Any, named: bool) -> None:
    if named and isinstance(body, dict):
        metadata = body.get("metadata")
        body["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), "name": "fuzz"}
    _answered(*call(sandbox_api, "POST", path, json.dumps(body)))


@_FUZZ
@given(body=_JSON, subresource=_SUBRESOURCES)
def test_random_updates(sandbox_api: SandboxApi, body: Any, subresource: str) -> None:
    url = _target(sandbox_api)
    if isinstance(body, dict):
        body["metadata"] = {"name": "target"}
    _answered(*call(sandbox_api, "PUT", url + subresource, json.dumps(body)))
    _still_there(sandbox_api, url)


@_FUZZ
@given(patch=_JSON, patch_type=st.sampled_from(_PATCH_TYPES), subresource=_SUBRESOURCES)
def test_random_patches(
    sandbox_api: SandboxApi, patch: Any, patch_type: str, subresource: str
) -> None:
    url = _target(sandbox_api)
    patched = f"{url}{subresource}?fieldManager=fuzz"
    _answered(*call(sandbox_api, "PATCH", patched, json.dumps(patch), patch_type))
    _still_there(sandbox_api, url)


@_FUZZ
@given(
    parameter=st.sampled_from(["labelSelector", "fieldSelector", "limit", "continue"]),
    value=st.text(alphabet="ab=!,()in not.-/ 0123", max_size=20),
)
def test_random_query_parameters(sandbox_api: SandboxApi, parameter: str, value: str) -> None:
    query = urllib.parse.urlencode({parameter: value})
    _answered(*call(sandbox_api, "GET", f"/api/v1/namespaces/default/pods?{query}"))
