"""Server-side apply ownership as kube-apiserver's field manager keeps it: conflicts, forced
applies, shared fields, Update managers, custom resources, and the answers' codes."""

from __future__ import annotations

import json
from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.apiserver.manifests import crd
from tests.sandbox.conftest import SandboxApi, eventually

APPLY = "application/apply-patch+yaml"
SETTINGS = "/api/v1/namespaces/default/configmaps/settings"


def _config(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": data}


def _apply(
    api: SandboxApi, manager: str, data: dict[str, str], force: bool = False
) -> tuple[int, Any]:
    query = f"?fieldManager={manager}" + ("&force=true" if force else "")
    return call(api, "PATCH", SETTINGS + query, _config(data), content_type=APPLY)


def _owners(api: SandboxApi, field: str) -> list[str]:
    """Managers whose managedFields hold `f:data` / `f:<field>`."""
    _, live = call(api, "GET", SETTINGS)
    return sorted(
        entry["manager"]
        for entry in live["metadata"].get("managedFields") or []
        if f"f:{field}" in entry["fieldsV1"].get("f:data", {})
    )


def test_a_field_owned_by_another_applier_conflicts(sandbox_api: SandboxApi) -> None:
    assert _apply(sandbox_api, "alice", {"k": "1"})[0] == 201
    code, body = _apply(sandbox_api, "bob", {"k": "2"})
    assert (code, body) == (
        409,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": 'Apply failed with 1 conflict: conflict with "alice": .data.k',
            "reason": "Conflict",
            "details": {
                "causes": [
                    {
                        "reason": "FieldManagerConflict",
                        "message": 'conflict with "alice"',
                        "field": ".data.k",
                    }
                ]
            },
            "code": 409,
        },
    )
    # The same value is no conflict: both own the field.
    assert _apply(sandbox_api, "bob", {"k": "1"})[0] == 200
    assert _owners(sandbox_api, "k") == ["alice", "bob"]


def test_force_moves_the_field_to_the_applier(sandbox_api: SandboxApi) -> None:
    _apply(sandbox_api, "alice", {"k": "1", "other": "x"})
    code, live = _apply(sandbox_api, "bob", {"k": "2"}, force=True)
    assert (code, live["data"]) == (200, {"k": "2", "other": "x"})
    assert _owners(sandbox_api, "k") == ["bob"]
    assert _owners(sandbox_api, "other") == ["alice"]
    # alice no longer owns k: leaving it out of her next apply does not remove it.
    _apply(sandbox_api, "alice", {"other": "x"})
    assert call(sandbox_api, "GET", SETTINGS)[1]["data"] == {"k": "2", "other": "x"}


def test_a_shared_field_stays_when_one_owner_stops_applying_it(sandbox_api: SandboxApi) -> None:
    _apply(sandbox_api, "alice", {"k": "1", "mine": "a"})
    _apply(sandbox_api, "bob", {"k": "1"})
    _apply(sandbox_api, "alice", {})
    assert call(sandbox_api, "GET", SETTINGS)[1]["data"] == {"k": "1"}


def test_kubectl_sees_conflicts_with_update_managers(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("create", "configmap", "settings", "--from-literal=k=1")
    stderr = kubectl.fails(
        "apply",
        "--server-side",
        "--field-manager=gitops",
        "-f",
        "-",
        stdin=json.dumps(_config({"k": "2"})),
    )
    assert (
        'Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.k' in stderr
    )
    kubectl.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=gitops",
        "-f",
        "-",
        stdin=json.dumps(_config({"k": "2"})),
    )
    assert _owners(sandbox_api, "k") == ["gitops"]
    # A later patch by kubectl takes the field (an Update manager), and gitops hears of it.
    kubectl.run("patch", "configmap", "settings", "--type=merge", "-p", '{"data": {"k": "3"}}')
    assert _owners(sandbox_api, "k") == ["kubectl-patch"]
    code, body = _apply(sandbox_api, "gitops", {"k": "2"})
    assert (code, body["message"]) == (
        409,
        'Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.k',
    )


def test_apply_needs_a_field_manager(sandbox_api: SandboxApi) -> None:
    code, body = call(sandbox_api, "PATCH", SETTINGS, _config({"k": "1"}), content_type=APPLY)
    assert (code, body["message"], body["details"]["causes"]) == (
        422,
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
        "apply patch",
        [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: is required for apply patch",
                "field": "fieldManager",
            }
        ],
    )


def test_custom_resources_carry_managed_fields(sandbox_api: SandboxApi) -> None:
    assert (
        call(
            sandbox_api,
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            crd("widgets", "Widget"),
        )[0]
        == 201
    )
    path = "/apis/example.com/v1/namespaces/default/widgets"

    def created() -> bool:
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1},
        }
        return (
            call(sandbox_api, "PATCH", f"{path}/w?fieldManager=alice", body, content_type=APPLY)[0]
            == 201
        )

    eventually(created, "the widget applied")
    code, body = call(
        sandbox_api,
        "PATCH",
        f"{path}/w?fieldManager=bob",
        {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 2},
        },
        content_type=APPLY,
    )
    assert (code, body["message"]) == (
        409,
        'Apply failed with 1 conflict: conflict with "alice": .spec.size',
    )
    _, live = call(sandbox_api, "GET", f"{path}/w")
    [entry] = live["metadata"]["managedFields"]
    assert (entry["manager"], entry["operation"], entry["apiVersion"]) == (
        "alice",
        "Apply",
        "example.com/v1",
    )
    assert entry["fieldsV1"] == {"f:spec": {"f:size": {}}}
