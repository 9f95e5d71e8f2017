"""The Helm chart renders with a real helm, validates against Kubernetes schemas, and is safe."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modeldeploy"
# Oldest Kubernetes the chart supports and the newest the validator knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
# Kinds defined by CRDs, which have no upstream schema to validate against.
CRD_KINDS = {"ServiceMonitor", "ClusterKopfPeering", "KopfPeering"}
VALUE_SETS: dict[str, list[str]] = {
    "defaults": [],
    "namespaced-ha": [
        "--set",
        "scope=namespace",
        "--set",
        "watchNamespaces={ml,research}",
        "--set",
        "replicaCount=2",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    ],
    "cluster-ha": ["--set", "replicaCount=3", "--set", "nodeSelector.pool=system"],
}


def _helm() -> str:
    local = REPO / ".venv" / "tools" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    assert found, "helm is installed by `make tools`"
    return found


def _render(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            _helm(),
            "template",
            "md",
            str(CHART),
            "--namespace",
            "modeldeploy-system",
            "--include-crds",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=list(VALUE_SETS), ids=list(VALUE_SETS))
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return _render(*VALUE_SETS[request.param])


def test_helm_lint() -> None:
    subprocess.run([_helm(), "lint", "--strict", str(CHART)], check=True, capture_output=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_pass_strict_kubernetes_validation(
    manifests: list[dict[str, Any]], version: str
) -> None:
    validated = 0
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(manifest, version, strict=True)
        validated += 1
    assert validated >= 6


def test_cluster_role_has_no_wildcards_and_exact_permissions() -> None:
    (role,) = [m for m in _render() if m["kind"] == "ClusterRole"]
    granted = set()
    for rule in role["rules"]:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        granted |= {
            (group, resource, verb)
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        }
    assert ("modeldeploy.dev", "modeldeployments/status", "patch") in granted
    assert ("batch", "jobs", "create") in granted
    assert ("apps", "deployments", "delete") in granted
    assert not {g for g in granted if g[1] in {"secrets", "nodes", "clusterroles"}}
    assert ("modeldeploy.dev", "modeldeployments", "update") not in granted  # status only


def test_namespaced_mode_grants_nothing_cluster_wide() -> None:
    rendered = _render(*VALUE_SETS["namespaced-ha"])
    kinds = {m["kind"] for m in rendered}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"}
    roles = [m for m in rendered if m["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["ml", "research"]
    (deployment,) = [m for m in rendered if m["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=ml" in args
    assert "--peering=md-modeldeploy" in args


def test_every_container_is_non_root_with_a_read_only_root_filesystem(
    manifests: list[dict[str, Any]],
) -> None:
    pods = [m["spec"]["template"]["spec"] for m in manifests if m["kind"] == "Deployment"]
    assert pods
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in pod["containers"] + pod.get("initContainers", []):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def test_chart_ships_the_generated_crd() -> None:
    crds = [m for m in _render() if m["kind"] == "CustomResourceDefinition"]
    names = {c["metadata"]["name"] for c in crds}
    assert {"modeldeployments.modeldeploy.dev", "clusterkopfpeerings.kopf.dev"} <= names


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("scope=everywhere", "scope"),
        ("replicaCount=-1", "replicaCount"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("metric.port=80", "metric"),
    ],
)
def test_values_schema_rejects_bad_values_naming_them(setting: str, named: str) -> None:
    result = subprocess.run(
        [_helm(), "template", "md", str(CHART), "--set", setting],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert named in result.stderr


def test_namespaced_mode_without_namespaces_fails_clearly() -> None:
    result = subprocess.run(
        [_helm(), "template", "md", str(CHART), "--set", "scope=namespace"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "watchNamespaces" in result.stderr
