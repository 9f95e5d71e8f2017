"""The compression Job manifest."""

from __future__ import annotations

import json
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec
from modeldeploy.compress.spec import SPEC_ENV, parse_spec
from modeldeploy.reconcilers.job import compression_job
from modeldeploy.reconcilers.options import Options
from modeldeploy.rollout import labels
from modeldeploy.rollout.revision import wanted_revision


def _job(resource: dict[str, Any], spec: ModelDeploymentSpec, **options: Any) -> dict[str, Any]:
    return compression_job(resource, spec, wanted_revision("digits", spec), Options(**options))


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_job_runs_on_the_specs_node_pool(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    job = _job(resource, spec)
    revision = wanted_revision("digits", spec)
    assert job["metadata"]["name"] == revision.job_name
    assert job["metadata"]["namespace"] == "ml"
    assert job["spec"]["backoffLimit"] == 1
    assert job["spec"]["activeDeadlineSeconds"] == 900
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    container = _container(job)
    assert container["args"] == ["compress"]
    # Quantities are strings on the wire, whatever the user wrote.
    assert container["resources"] == {
        "limits": {"nvidia.com/gpu": "1", "memory": "4Gi"},
        "requests": {"cpu": "2"},
    }
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert job["metadata"]["labels"][labels.COMPRESSION] == revision.compression_key
    assert job["spec"]["template"]["metadata"]["labels"] == job["metadata"]["labels"]
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "digits",
        "uid": "0f1e2d3c-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_the_job_spec_is_what_modeldeploy_compress_parses(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    env = {e["name"]: e for e in _container(_job(resource, spec))["env"]}
    text = env[SPEC_ENV]["value"]
    parsed = parse_spec(text, "test")
    assert parsed.model_uri == "pvc://models/digits/2/model.onnx"
    assert parsed.sha256 == "a" * 64
    assert [s.type for s in parsed.steps] == ["prune", "quantize"]
    assert parsed.evaluation.max_drop == 0.02
    assert parsed.evaluation.dataset_uri == "pvc://data/val.npz"
    assert parsed.artifact_store == "/mnt/pvc/modeldeploy-artifacts"
    assert json.loads(text)["steps"][1]["calibrationUri"] == "pvc://calib/c.npz"


def test_claims_are_mounted_and_only_the_artifact_store_is_writable(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    job = _job(resource, spec)
    pod = job["spec"]["template"]["spec"]
    claims = {
        v["name"]: v["persistentVolumeClaim"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    mounts = {m["name"]: m for m in _container(job)["volumeMounts"]}
    seen = {}
    for volume, claim in claims.items():
        mount = mounts[volume]
        assert mount["mountPath"] == f"/mnt/pvc/{claim['claimName']}"
        assert mount["readOnly"] == claim["readOnly"]
        seen[claim["claimName"]] = claim["readOnly"]
    assert seen == {
        "models": True,
        "data": True,
        "calib": True,
        "modeldeploy-artifacts": False,
    }


def test_credentials_come_only_from_the_named_secrets(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    container = _container(_job(resource, spec))
    assert container["envFrom"] == [{"secretRef": {"name": "model-store"}}]
    with_store = _container(
        _job(resource, spec, artifact_store="s3://bucket/art", artifact_store_secret="s3-creds")
    )
    assert with_store["envFrom"] == [
        {"secretRef": {"name": "model-store"}},
        {"secretRef": {"name": "s3-creds"}},
    ]
    env = {e["name"]: e for e in with_store["env"]}
    assert json.loads(env[SPEC_ENV]["value"])["artifactStore"] == "s3://bucket/art"
    text = json.dumps(with_store)
    assert "secretKeyRef" not in text


def test_the_job_is_restricted(resource: dict[str, Any], spec: ModelDeploymentSpec) -> None:
    job = _job(resource, spec)
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = _container(job)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False


def test_without_pool_settings_the_pod_has_none(resource: dict[str, Any]) -> None:
    body = json.loads(json.dumps(resource["spec"]))
    for key in ("nodeSelector", "tolerations", "resources"):
        del body["compression"][key]
    spec = ModelDeploymentSpec.model_validate(body)
    job = _job(resource, spec)
    pod = job["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod
    assert "tolerations" not in pod
    assert _container(job)["resources"] == {}
