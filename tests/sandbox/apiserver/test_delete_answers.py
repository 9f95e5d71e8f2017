"""What a DELETE answers, as kube-apiserver: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
delete.go (the code) and pkg/registry/generic/registry/store.go `finalizeDelete` (the body)."""

from __future__ import annotations

from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _configmap(api: SandboxApi, name: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    code, obj = call(api, "POST", CONFIGMAPS, {"metadata": meta})
    assert code == 201, obj
    return obj


def test_an_object_held_by_a_finalizer_answers_200_with_the_object(sandbox_api: SandboxApi) -> None:
    _configmap(sandbox_api, "held", ["example.com/hold"])
    code, body = call(sandbox_api, "DELETE", f"{CONFIGMAPS}/held")
    assert (code, body["kind"]) == (200, "ConfigMap")
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["finalizers"] == ["example.com/hold"]


def test_an_object_deleted_at_once_answers_a_success_status(sandbox_api: SandboxApi) -> None:
    uid = _configmap(sandbox_api, "gone")["metadata"]["uid"]
    code, body = call(sandbox_api, "DELETE", f"{CONFIGMAPS}/gone")
    assert (code, body) == (
        200,
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": "gone", "kind": "configmaps", "uid": uid},
        },
    )


def test_foreground_deletion_and_namespaces_answer_200(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("create", "deployment", "web", "--image=busybox:1.36", "--replicas=0")
    code, body = call(
        sandbox_api,
        "DELETE",
        "/apis/apps/v1/namespaces/default/deployments/web",
        {"propagationPolicy": "Foreground"},
    )
    assert (code, body["kind"]) == (200, "Deployment")
    assert "foregroundDeletion" in body["metadata"]["finalizers"]
    kubectl.run("create", "namespace", "ml")
    code, body = call(sandbox_api, "DELETE", "/api/v1/namespaces/ml")
    assert (code, body["kind"], body["status"]["phase"]) == (200, "Namespace", "Terminating")


def test_only_an_explicit_orphan_dependents_false_answers_202(sandbox_api: SandboxApi) -> None:
    _configmap(sandbox_api, "cascade", ["example.com/hold"])
    code, body = call(sandbox_api, "DELETE", f"{CONFIGMAPS}/cascade", {"orphanDependents": False})
    assert (code, body["kind"]) == (202, "ConfigMap")


def test_registries_that_return_the_deleted_object(sandbox_api: SandboxApi) -> None:
    """Pods, services, serviceaccounts, PVs and PVCs answer with the object (their OpenAPI
    delete responses name the kind, so typed clients decode it as such)."""
    kubectl = Kubectl(sandbox_api)
    kubectl.run("create", "service", "clusterip", "web", "--tcp=80:8080")
    kubectl.run("create", "serviceaccount", "robot")
    for path, kind in (
        ("/api/v1/namespaces/default/services/web", "Service"),
        ("/api/v1/namespaces/default/serviceaccounts/robot", "ServiceAccount"),
    ):
        code, body = call(sandbox_api, "DELETE", path)
        assert (code, body["kind"]) == (200, kind)
