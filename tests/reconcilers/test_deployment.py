"""The serving Deployment and the Service in front of every version."""

from __future__ import annotations

import copy
import re
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec
from modeldeploy.reconcilers import pods
from modeldeploy.reconcilers.deployment import pod_template_errors, serving_deployment
from modeldeploy.reconcilers.job import compression_job
from modeldeploy.reconcilers.options import Options
from modeldeploy.reconcilers.service import serving_service
from modeldeploy.reconcilers.storage import artifact_claim
from modeldeploy.rollout import labels
from modeldeploy.rollout.admission import name_errors
from modeldeploy.rollout.plan import NewRevision
from modeldeploy.rollout.revision import wanted_revision

DIGEST = "sha256:" + "d" * 64
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def _revision(
    spec: ModelDeploymentSpec, digest: str | None = DIGEST, name: str = "digits"
) -> NewRevision:
    wanted = wanted_revision(name, spec)
    return NewRevision(
        name=wanted.name,
        version=wanted.version,
        digest=digest,
        replicas=3,
        compression_key=wanted.compression_key,
    )


def _deployment(
    resource: dict[str, Any],
    spec: ModelDeploymentSpec,
    digest: str | None = DIGEST,
    role: str | None = labels.CANARY,
    **options: Any,
) -> dict[str, Any]:
    return serving_deployment(resource, spec, _revision(spec, digest), Options(**options), role)


def _containers(deployment: dict[str, Any], key: str = "containers") -> dict[str, Any]:
    return {c["name"]: c for c in deployment["spec"]["template"]["spec"][key]}


def test_the_artifact_is_fetched_by_digest(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    deployment = _deployment(resource, spec)
    fetch = _containers(deployment, "initContainers")["fetch"]
    assert " ".join(fetch["args"]) == (
        f"fetch --artifact-store /mnt/pvc/modeldeploy-artifacts --digest {DIGEST} "
        "--dest /models/model.onnx"
    )
    assert fetch["envFrom"] == []  # the store's claim needs no credentials
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    claims = [v["persistentVolumeClaim"] for v in volumes if "persistentVolumeClaim" in v]
    assert claims == [{"claimName": "modeldeploy-artifacts", "readOnly": True}]
    assert deployment["metadata"]["annotations"] == {labels.DIGEST: DIGEST}
    s3 = _deployment(
        resource, spec, artifact_store="s3://bucket/art", artifact_store_secret="s3-creds"
    )
    fetch = _containers(s3, "initContainers")["fetch"]
    assert fetch["args"][:3] == ["fetch", "--artifact-store", "s3://bucket/art"]
    assert fetch["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]


def test_the_source_is_fetched_by_uri_with_its_credentials(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    deployment = _deployment(resource, spec, digest=None)
    fetch = _containers(deployment, "initContainers")["fetch"]
    assert " ".join(fetch["args"]) == (
        f"fetch --uri pvc://models/digits/2/model.onnx --sha256 {'a' * 64} "
        "--dest /models/model.onnx"
    )
    assert fetch["envFrom"] == [{"secretRef": {"name": "model-store"}}]
    mounts = {m["mountPath"]: m for m in fetch["volumeMounts"]}
    assert mounts["/mnt/pvc/models"]["readOnly"] is True
    assert mounts["/models"].get("readOnly") is not True  # fetch writes the emptyDir
    assert deployment["metadata"]["annotations"] == {}
    server = _containers(deployment)["server"]
    assert "envFrom" not in server  # the server never sees credentials


def test_the_server_container(resource: dict[str, Any], spec: ModelDeploymentSpec) -> None:
    server = _containers(_deployment(resource, spec))["server"]
    args = server["args"]
    assert args[0] == "serve"
    options = dict(zip(args[1::2], args[2::2], strict=True))
    assert options == {
        "--model-path": "/models/model.onnx",
        "--model-name": "digits",
        "--model-version": "2",
        "--port": "8080",
        "--threads": "2",
        "--max-batch-size": "16",
        "--max-delay-ms": "3",
    }
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert server["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert server["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}}
    model = next(m for m in server["volumeMounts"] if m["name"] == "model")
    assert model == {"name": "model", "mountPath": "/models", "readOnly": True}


def test_every_container_is_restricted(resource: dict[str, Any], spec: ModelDeploymentSpec) -> None:
    deployment = _deployment(resource, spec)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["terminationGracePeriodSeconds"] > 0
    for key in ("initContainers", "containers"):
        for container in pod[key]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            assert security["runAsNonRoot"] is True


def test_labels_selector_and_owner(resource: dict[str, Any], spec: ModelDeploymentSpec) -> None:
    revision = _revision(spec)
    deployment = _deployment(resource, spec)
    metadata = deployment["metadata"]
    assert metadata["name"] == revision.name
    assert metadata["namespace"] == "ml"
    assert metadata["labels"][labels.ROLE] == labels.CANARY
    template = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels.ROLE not in template  # a promotion never restarts the pods
    assert template[labels.NAME] == "digits"
    assert template[labels.VERSION] == "2"
    assert template[labels.REVISION] == revision.name
    assert template[labels.COMPRESSION] == revision.compression_key
    assert template[labels.COMPONENT] == "server"
    assert deployment["spec"]["replicas"] == 3
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {labels.NAME: "digits", labels.REVISION: revision.name}
    assert all(template[k] == v for k, v in selector.items())
    (owner,) = metadata["ownerReferences"]
    assert owner["controller"] is True
    assert owner["uid"] == "0f1e2d3c-uid"
    assert labels.ROLE not in _deployment(resource, spec, role=None)["metadata"]["labels"]


def test_pool_settings_and_pod_overrides(resource: dict[str, Any]) -> None:
    body = copy.deepcopy(resource["spec"])
    body["serving"]["nodeSelector"] = {"pool": "gpu"}
    body["serving"]["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    body["serving"]["podOverrides"] = {
        "priorityClassName": "serving",
        "securityContext": {"runAsUser": 1000},
        "containers": [
            {"name": "server", "env": [{"name": "EXTRA", "value": "1"}]},
            {"name": "sidecar", "image": "busybox"},
        ],
    }
    spec = ModelDeploymentSpec.model_validate(body)
    pod = _deployment(resource, spec)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    assert pod["priorityClassName"] == "serving"
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["runAsNonRoot"] is True  # merged, not replaced
    containers = {c["name"]: c for c in pod["containers"]}
    assert list(containers) == ["server", "sidecar"]
    server = containers["server"]
    assert server["args"][0] == "serve"  # merged by name
    env = {e["name"]: e for e in server["env"]}
    assert env["EXTRA"] == {"name": "EXTRA", "value": "1"}
    assert "POD_IP" in env


def test_the_service_selects_the_serving_pods_of_every_version(resource: dict[str, Any]) -> None:
    service = serving_service(resource)
    assert service["metadata"]["name"] == "digits"
    assert service["metadata"]["namespace"] == "ml"
    assert service["spec"]["selector"] == {labels.NAME: "digits", labels.COMPONENT: "server"}
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]
    assert service["metadata"]["ownerReferences"][0]["controller"] is True


def test_the_service_matches_the_pods_and_not_the_job(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    selector = serving_service(resource)["spec"]["selector"]
    template = _deployment(resource, spec)["spec"]["template"]["metadata"]["labels"]
    assert all(template.get(k) == v for k, v in selector.items())
    job = compression_job(resource, spec, wanted_revision("digits", spec), Options())
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not all(job_labels.get(k) == v for k, v in selector.items())


def test_the_artifact_claim() -> None:
    claim = artifact_claim("ml", Options())
    assert claim is not None
    assert claim["metadata"]["name"] == "modeldeploy-artifacts"
    assert claim["metadata"]["namespace"] == "ml"
    assert "ownerReferences" not in claim["metadata"]  # shared by the namespace
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert artifact_claim("ml", Options(artifact_store="s3://bucket/prefix")) is None


def test_children_of_the_longest_accepted_name_are_valid(spec: ModelDeploymentSpec) -> None:
    name = "recommendation-model-for-the-front-page-ranking-of-the-eu-regio"  # 63, the limit
    assert len(name) == 63
    assert name_errors(name) == []
    assert name_errors(name + "n")  # 64: refused at admission (and by the CRD's rule)
    resource = {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": "ml", "uid": "u"},
    }
    deployment = serving_deployment(resource, spec, _revision(spec, name=name), Options(), None)
    values = [
        *deployment["metadata"]["labels"].values(),
        *deployment["spec"]["template"]["metadata"]["labels"].values(),
    ]
    for value in values:
        assert len(value) <= 63
        assert re.match(LABEL_VALUE, value)
    service = serving_service(resource)
    assert re.match(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$", service["metadata"]["name"])


def test_merge_replaces_unnamed_lists_and_values() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "items": [{"name": "x", "v": 1}]}
    merged = pods.merge(base, {"a": {"c": [3]}, "items": [{"name": "x", "w": 2}], "d": 4})
    assert merged == {"a": {"b": 1, "c": [3]}, "items": [{"name": "x", "v": 1, "w": 2}], "d": 4}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "items": [{"name": "x", "v": 1}]}


def test_claims_and_env_from_helpers() -> None:
    uris = ["pvc://a/x", None, "https://h/y", "pvc://a/z", "pvc://b/w", "file:///m"]
    assert pods.claims(uris) == ["a", "b"]
    volumes, mounts = pods.claim_volumes(["a", "b"], writable=frozenset({"b"}))
    assert [v["persistentVolumeClaim"]["readOnly"] for v in volumes] == [True, False]
    assert [(m["mountPath"], m["readOnly"]) for m in mounts] == [
        ("/mnt/pvc/a", True),
        ("/mnt/pvc/b", False),
    ]
    assert pods.env_from([None, "s", "s", "t"]) == [
        {"secretRef": {"name": "s"}},
        {"secretRef": {"name": "t"}},
    ]


def test_pod_overrides_the_api_server_would_refuse_are_named_by_field(
    resource: dict[str, Any], spec: ModelDeploymentSpec
) -> None:
    assert pod_template_errors(resource, spec, Options()) == []
    good = spec.model_copy(deep=True)
    good.serving.pod_overrides = {"affinity": {}, "containers": [{"name": "server", "env": []}]}
    assert pod_template_errors(resource, good, Options()) == []
    bad = spec.model_copy(deep=True)
    bad.serving.pod_overrides = {"containers": [{"name": "server", "image": 5}], "hostNetwrk": True}
    assert pod_template_errors(resource, bad, Options()) == [
        "spec.serving.podOverrides: containers.0.image: Input should be a valid string",
        "spec.serving.podOverrides: hostNetwrk: Extra inputs are not permitted",
    ]
