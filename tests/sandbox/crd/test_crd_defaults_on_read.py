"""A default added to a CRD's schema shows on objects stored before it, as kube-apiserver
defaults what it reads from etcd; owner-reference causes name the field as upstream does."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.conftest import SandboxApi, eventually
from tests.sandbox.crd.helpers import make_crd

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
SIZE = {"type": "object", "properties": {"size": {"type": "integer"}}}


def _widget_created(api: SandboxApi) -> bool:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    return call(api, "POST", WIDGETS, body)[0] == 201


def test_a_new_default_is_applied_to_objects_stored_before_it(sandbox_api: SandboxApi) -> None:
    assert call(sandbox_api, "POST", CRDS, make_crd(SIZE))[0] == 201
    eventually(lambda: _widget_created(sandbox_api), "the widget created")
    assert call(sandbox_api, "GET", f"{WIDGETS}/w")[1]["spec"] == {}
    _, crd = call(sandbox_api, "GET", f"{CRDS}/widgets.example.com")
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["size"]["default"] = 3
    assert call(sandbox_api, "PUT", f"{CRDS}/widgets.example.com", crd)[0] == 200
    assert call(sandbox_api, "GET", f"{WIDGETS}/w")[1]["spec"] == {"size": 3}
    [item] = call(sandbox_api, "GET", WIDGETS)[1]["items"]
    assert item["spec"] == {"size": 3}
    request = urllib.request.Request(f"{sandbox_api.url}{WIDGETS}?watch=1&timeoutSeconds=1")
    with urllib.request.urlopen(request, timeout=30, context=sandbox_api.ssl_context) as response:
        [event] = [json.loads(line) for line in response]
    assert (event["type"], event["object"]["spec"]) == ("ADDED", {"size": 3})


def test_owner_reference_causes_name_the_field_without_an_index(sandbox_api: SandboxApi) -> None:
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner"}
    body = {"metadata": {"name": "c", "ownerReferences": [owner]}}
    code, status = call(sandbox_api, "POST", "/api/v1/namespaces/default/configmaps", body)
    assert (code, status["message"]) == (
        422,
        'ConfigMap "c" is invalid: metadata.ownerReferences.uid: Invalid value: "": uid must not '
        "be empty",
    )
    two = [
        {**owner, "uid": "1", "controller": True},
        {**owner, "name": "b", "uid": "2", "controller": True},
    ]
    code, status = call(
        sandbox_api,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "c", "ownerReferences": two}},
    )
    [cause] = status["details"]["causes"]
    assert (code, cause["field"]) == (422, "metadata.ownerReferences")
    assert cause["message"].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ConfigMap/owner and ConfigMap/b"
    )
