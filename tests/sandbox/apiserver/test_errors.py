"""Bad requests get a `metav1.Status` with the right code and reason, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.manifests import crd
from tests.sandbox.conftest import SandboxApi

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _status(code: int, body: Any, reason: str) -> None:
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == code
    assert body["reason"] == reason


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "code", "reason"),
    [
        ("GET", "/api/v1/nothings", None, "application/json", 404, "NotFound"),
        ("GET", "/apis/nowhere.io/v1/things", None, "application/json", 404, "NotFound"),
        ("GET", f"{CONFIGMAPS}/missing", None, "application/json", 404, "NotFound"),
        ("POST", CONFIGMAPS, "{not json", "application/json", 400, "BadRequest"),
        ("POST", CONFIGMAPS, "[1, 2]", "application/json", 400, "BadRequest"),
        ("POST", CONFIGMAPS, '{"metadata": "x"}', "application/json", 400, "BadRequest"),
        (
            "POST",
            CONFIGMAPS,
            b"\x0a\x02k8s",
            "application/vnd.kubernetes.protobuf",
            415,
            "UnsupportedMediaType",
        ),
        ("POST", CONFIGMAPS, {"metadata": {"name": 5}}, "application/json", 422, "Invalid"),
        ("POST", CONFIGMAPS, {"metadata": {}}, "application/json", 422, "Invalid"),
        (
            "POST",
            CONFIGMAPS,
            {"metadata": {"name": "x", "ownerReferences": [{"uid": 1}]}},
            "application/json",
            422,
            "Invalid",
        ),
        (
            "POST",
            CONFIGMAPS,
            {"metadata": {"name": "x", "labels": {"bad key!": "v"}}},
            "application/json",
            422,
            "Invalid",
        ),
        (
            "POST",
            CONFIGMAPS,
            {"kind": "Secret", "metadata": {"name": "x"}},
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            {"metadata": {"name": "d"}, "spec": []},
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            {"metadata": {"name": "d"}, "spec": {"replicas": -1}},
            "application/json",
            422,
            "Invalid",
        ),
        (
            "PUT",
            CONFIGMAPS,
            {"metadata": {"name": "x"}},
            "application/json",
            405,
            "MethodNotAllowed",
        ),
        (
            "GET",
            f"{CONFIGMAPS}?labelSelector=a%20in%20(b",
            None,
            "application/json",
            400,
            "BadRequest",
        ),
        ("GET", f"{CONFIGMAPS}?limit=-3", None, "application/json", 400, "BadRequest"),
        (
            "GET",
            f"{CONFIGMAPS}?watch=1&resourceVersion=abc",
            None,
            "application/json",
            400,
            "BadRequest",
        ),
        (
            "POST",
            f"{CONFIGMAPS}?dryRun=Some",
            {"metadata": {"name": "x"}},
            "application/json",
            400,
            "BadRequest",
        ),
        ("GET", "/api/v1/configmaps/x", None, "application/json", 404, "NotFound"),
    ],
)
def test_bad_requests_get_status_bodies(
    sandbox_api: SandboxApi,
    method: str,
    path: str,
    body: Any,
    content_type: str,
    code: int,
    reason: str,
) -> None:
    status, answer = call(sandbox_api, method, path, body, content_type)
    assert status == code
    _status(code, answer, reason)


def test_invalid_causes_name_each_field(sandbox_api: SandboxApi) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"image": "x"}, {"name": "b"}]}}
    status, answer = call(sandbox_api, "POST", "/api/v1/namespaces/default/pods", pod)
    assert status == 422
    assert answer["details"]["kind"] == "Pod"
    assert answer["details"]["name"] == "p"
    fields = [cause["field"] for cause in answer["details"]["causes"]]
    assert fields == ["spec.containers[0].name", "spec.containers[1].image"]
    assert answer["message"].startswith(
        'Pod "p" is invalid: [spec.containers[0].name: Required value'
    )


def test_patch_errors(sandbox_api: SandboxApi) -> None:
    call(sandbox_api, "POST", CONFIGMAPS, {"metadata": {"name": "cm"}, "data": {"a": "1"}})
    cm = f"{CONFIGMAPS}/cm"
    status, answer = call(sandbox_api, "PATCH", cm, {"data": {}}, "application/json-patch+json")
    assert (status, answer["reason"]) == (400, "BadRequest")
    failing = [{"op": "test", "path": "/data/a", "value": "2"}]
    status, answer = call(sandbox_api, "PATCH", cm, failing, "application/json-patch+json")
    assert (status, answer["reason"]) == (422, "Invalid")
    status, answer = call(sandbox_api, "PATCH", cm, {"data": {}}, "text/plain")
    assert (status, answer["reason"]) == (415, "UnsupportedMediaType")
    stale = {"metadata": {"resourceVersion": "1"}, "data": {"a": "2"}}
    status, answer = call(sandbox_api, "PATCH", cm, stale, "application/merge-patch+json")
    assert (status, answer["reason"]) == (409, "Conflict")
    # JSON patch operations work when they apply.
    ops = [
        {"op": "replace", "path": "/data/a", "value": "3"},
        {"op": "add", "path": "/data/b", "value": "4"},
    ]
    status, answer = call(sandbox_api, "PATCH", cm, ops, "application/json-patch+json")
    assert status == 200
    assert answer["data"] == {"a": "3", "b": "4"}


def test_strategic_merge_is_refused_for_custom_resources(sandbox_api: SandboxApi) -> None:
    status, _ = call(
        sandbox_api,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd("things", "Thing"),
    )
    assert status == 201
    things = "/apis/example.com/v1/namespaces/default/things"
    status, _ = call(sandbox_api, "POST", things, {"metadata": {"name": "t"}, "a": 1})
    assert status == 201
    status, answer = call(
        sandbox_api, "PATCH", f"{things}/t", {"a": 2}, "application/strategic-merge-patch+json"
    )
    assert (status, answer["reason"]) == (415, "UnsupportedMediaType")
    status, answer = call(sandbox_api, "PUT", f"{things}/t", {"metadata": {"name": "t"}, "a": 3})
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["details"]["causes"][0]["field"] == "metadata.resourceVersion"


def test_invalid_crd_is_rejected(sandbox_api: SandboxApi) -> None:
    crd = {
        "metadata": {"name": "wrong.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "things", "kind": "Thing"},
            "versions": [],
        },
    }
    status, answer = call(
        sandbox_api, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd
    )
    assert (status, answer["reason"]) == (422, "Invalid")
    assert answer["details"]["causes"]
