"""Discovery as kube-apiserver 1.36 answers it: aggregated discovery (apidiscovery.k8s.io/v2)
when asked, the storageless resources (bindings, pods/eviction), the kinds kubectl prunes by
default, and the version."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import KUBECTL, OLD_KUBECTL, OLDEST_KUBECTL, Kubectl
from tests.sandbox.conftest import SandboxApi

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
# What client-go asks first (then falls back to the legacy documents).
CLIENT_ACCEPT = (
    f"{AGGREGATED},application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)
KUBECTLS = pytest.mark.parametrize("binary", [KUBECTL, OLD_KUBECTL], ids=["1.35", "1.33"])


def _aggregated(api: SandboxApi, path: str) -> tuple[str, Any]:
    request = urllib.request.Request(api.url + path, headers={"Accept": CLIENT_ACCEPT})
    with urllib.request.urlopen(request, timeout=30, context=api.ssl_context) as response:
        return response.headers["Content-Type"], json.loads(response.read())


def _resource(document: Any, group: str, name: str) -> dict[str, Any]:
    [item] = [i for i in document["items"] if i["metadata"].get("name", "") == group]
    return next(r for r in item["versions"][0]["resources"] if r["resource"] == name)


def test_aggregated_discovery_of_api_and_apis(sandbox_api: SandboxApi) -> None:
    content_type, core = _aggregated(sandbox_api, "/api")
    assert content_type == AGGREGATED
    assert (core["kind"], core["apiVersion"]) == ("APIGroupDiscoveryList", "apidiscovery.k8s.io/v2")
    pods = _resource(core, "", "pods")
    assert (pods["scope"], pods["singularResource"], pods["shortNames"]) == (
        "Namespaced",
        "pod",
        ["po"],
    )
    eviction = next(s for s in pods["subresources"] if s["subresource"] == "eviction")
    assert eviction == {
        "subresource": "eviction",
        "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"},
        "verbs": ["create"],
    }
    assert _resource(core, "", "bindings")["verbs"] == ["create"]
    _, groups = _aggregated(sandbox_api, "/apis")
    deployments = _resource(groups, "apps", "deployments")
    scale = next(s for s in deployments["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert groups["items"][0]["versions"][0]["freshness"] == "Current"
    # Without the aggregated media type: the legacy documents.
    assert call(sandbox_api, "GET", "/apis")[1]["kind"] == "APIGroupList"
    assert call(sandbox_api, "GET", "/api")[1]["kind"] == "APIVersions"


@KUBECTLS
def test_kubectl_lists_the_resources_and_the_version(sandbox_api: SandboxApi, binary: Path) -> None:
    kubectl = Kubectl(sandbox_api, binary)
    names = kubectl.run("api-resources", "-o", "name").split()
    for resource in ("bindings", "replicationcontrollers", "statefulsets.apps", "cronjobs.batch"):
        assert resource in names
    version = json.loads(kubectl.run("version", "-o", "json"))["serverVersion"]
    assert (version["major"], version["minor"], version["gitVersion"]) == (
        "1",
        "36",
        "v1.36.0-sandbox",
    )


@KUBECTLS
def test_apply_prune_with_the_default_allowlist(sandbox_api: SandboxApi, binary: Path) -> None:
    kubectl = Kubectl(sandbox_api, binary)

    def manifest(*names: str) -> str:
        items = [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": n, "labels": {"app": "x"}},
            }
            for n in names
        ]
        return "\n---\n".join(json.dumps(item) for item in items)

    kubectl.run("apply", "-f", "-", stdin=manifest("keep", "drop"))
    out = kubectl.run(
        "apply", "--prune", "-l", "app=x", "-f", "-", stdin=manifest("keep"), check=False
    )
    assert "configmap/drop pruned" in out
    assert [
        c["metadata"]["name"] for c in kubectl.json("get", "configmaps", "-l", "app=x")["items"]
    ] == ["keep"]


def test_eviction_and_bindings(sandbox_api: SandboxApi) -> None:
    pods = "/api/v1/namespaces/default/pods"
    for name in ("evicted", "bound"):
        body = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
        assert call(sandbox_api, "POST", pods, body)[0] == 201
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "evicted"}}
    code, body = call(sandbox_api, "POST", f"{pods}/evicted/eviction", eviction)
    assert (code, body["status"]) == (201, "Success")
    assert call(sandbox_api, "GET", f"{pods}/evicted")[0] == 404
    binding = {"metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "node-a"}}
    code, _ = call(sandbox_api, "POST", "/api/v1/namespaces/default/bindings", binding)
    assert code == 201
    assert call(sandbox_api, "GET", f"{pods}/bound")[1]["spec"]["nodeName"] == "node-a"


def test_kubectl_1_28_applies_and_diffs_with_openapi_v2(sandbox_api: SandboxApi) -> None:
    """kubectl 1.28 asks for /openapi/v2 (gnostic protobuf) before apply and diff."""
    request = urllib.request.Request(
        sandbox_api.url + "/openapi/v2",
        headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
    )
    with urllib.request.urlopen(request, timeout=30, context=sandbox_api.ssl_context) as response:
        content_type, body = response.headers["Content-Type"], response.read()
    assert content_type == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert body.startswith(b"\x0a\x032.0")  # Document.swagger = "2.0"
    kubectl = Kubectl(sandbox_api, OLDEST_KUBECTL)
    deployment: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    }
    assert "created" in kubectl.run("apply", "-f", "-", stdin=json.dumps(deployment))
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "busybox:1.37"
    diff = kubectl.run("diff", "-f", "-", stdin=json.dumps(deployment), check=False)
    assert "+      - image: busybox:1.37" in diff
    assert "configured" in kubectl.run("apply", "-f", "-", stdin=json.dumps(deployment))
    live = kubectl.json("get", "deployment", "web")
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    # Validation stays the server's: an unknown field is refused (kubectl's --validate=strict).
    deployment["spec"]["replica"] = 1
    stderr = kubectl.fails("apply", "-f", "-", stdin=json.dumps(deployment))
    assert 'unknown field "spec.replica"' in stderr
