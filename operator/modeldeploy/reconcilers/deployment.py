"""One serving Deployment per revision: `modeldeploy fetch` (init) then `modeldeploy serve`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes.client.models import V1PodSpec
from pydantic import ValidationError

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec
from modeldeploy.reconcilers import pods
from modeldeploy.reconcilers.options import Options
from modeldeploy.rollout import labels
from modeldeploy.rollout.plan import NewRevision

HTTP_PORT = 8080
MODEL_DIR = "/models"
MODEL_FILE = f"{MODEL_DIR}/model.onnx"
COMPONENT = "server"


def pod_labels(name: str, revision: NewRevision) -> dict[str, str]:
    """The pods' labels; the role (stable/canary) is on the Deployment only, so a promotion
    never changes the pod template (which would restart every pod)."""
    found = {
        labels.NAME: name,
        labels.VERSION: revision.version,
        labels.REVISION: revision.name,
        labels.COMPONENT: COMPONENT,
        labels.MANAGED_BY: "modeldeploy",
    }
    if revision.compression_key:
        found[labels.COMPRESSION] = revision.compression_key
    return found


def _fetch_container(
    spec: ModelDeploymentSpec, revision: NewRevision, options: Options, mounts: list[Any]
) -> dict[str, Any]:
    if revision.digest is not None:
        args = [
            "fetch",
            "--artifact-store",
            options.artifact_store_path,
            "--digest",
            revision.digest,
        ]
        secrets = [options.artifact_store_secret]
    else:
        args = ["fetch", "--uri", spec.model.uri]
        if spec.model.sha256:
            args += ["--sha256", spec.model.sha256]
        secrets = [spec.model.credentials_secret]
    return {
        "name": "fetch",
        "image": spec.serving.image or options.image,
        "args": [*args, "--dest", MODEL_FILE],
        "env": list(pods.SCRATCH_ENV),
        "envFrom": pods.env_from(secrets),
        "volumeMounts": [{"name": "model", "mountPath": MODEL_DIR}, pods.SCRATCH_MOUNT, *mounts],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": pods.CONTAINER_SECURITY,
    }


def _server_container(
    name: str, spec: ModelDeploymentSpec, revision: NewRevision, options: Options
) -> dict[str, Any]:
    serving = spec.serving
    return {
        "name": "server",
        "image": serving.image or options.image,
        "args": [
            "serve",
            "--model-path",
            MODEL_FILE,
            "--model-name",
            name,
            "--model-version",
            revision.version,
            "--port",
            str(HTTP_PORT),
            "--threads",
            str(serving.threads),
            "--max-batch-size",
            str(serving.batching.max_batch_size),
            "--max-delay-ms",
            str(serving.batching.max_delay_ms),
        ],
        # The server binds its pod IP (serve's default when POD_IP is set).
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            *pods.SCRATCH_ENV,
        ],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": pods.resources(serving.resources),
        "volumeMounts": [
            {"name": "model", "mountPath": MODEL_DIR, "readOnly": True},
            pods.SCRATCH_MOUNT,
        ],
        "securityContext": pods.CONTAINER_SECURITY,
    }


def pod_template_errors(
    resource: Mapping[str, Any], spec: ModelDeploymentSpec, options: Options
) -> list[str]:
    """What the API server would refuse in the serving pods' spec once `podOverrides` are
    merged in, named by field, so the resource says it instead of its Deployment failing."""
    if not spec.serving.pod_overrides:
        return []
    probe = NewRevision("probe", spec.model.version, None, 0, None)
    pod_spec = serving_deployment(resource, spec, probe, options, None)["spec"]["template"]["spec"]
    try:
        V1PodSpec.model_validate(pod_spec)
    except ValidationError as error:
        return [
            f"spec.serving.podOverrides: {'.'.join(map(str, e['loc']))}: {e['msg']}"
            for e in error.errors()
        ]
    return []


def serving_deployment(
    resource: Mapping[str, Any],
    spec: ModelDeploymentSpec,
    revision: NewRevision,
    options: Options,
    role: str | None,
) -> dict[str, Any]:
    name = resource["metadata"]["name"]
    if revision.digest is not None:
        sources: list[str | None] = [options.artifact_store]
    else:
        sources = [spec.model.uri]
    volumes, mounts = pods.claim_volumes(pods.claims(sources))
    template_labels = pod_labels(name, revision)
    pod_spec: dict[str, Any] = {
        "securityContext": pods.POD_SECURITY,
        "initContainers": [_fetch_container(spec, revision, options, mounts)],
        "containers": [_server_container(name, spec, revision, options)],
        "volumes": [{"name": "model", "emptyDir": {}}, pods.SCRATCH_VOLUME, *volumes],
        "terminationGracePeriodSeconds": 30,
        "automountServiceAccountToken": False,
    }
    if spec.serving.node_selector:
        pod_spec["nodeSelector"] = dict(spec.serving.node_selector)
    if spec.serving.tolerations:
        pod_spec["tolerations"] = pods.tolerations(spec.serving.tolerations)
    if spec.serving.pod_overrides:
        pod_spec = pods.merge(pod_spec, spec.serving.pod_overrides)
    metadata_labels = dict(template_labels)
    if role:
        metadata_labels[labels.ROLE] = role
    annotations = {labels.DIGEST: revision.digest} if revision.digest else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": revision.name,
            "namespace": resource["metadata"]["namespace"],
            "labels": metadata_labels,
            "annotations": annotations,
            "ownerReferences": [pods.owner_reference(resource)],
        },
        "spec": {
            "replicas": revision.replicas,
            "revisionHistoryLimit": 1,
            "selector": {"matchLabels": {labels.NAME: name, labels.REVISION: revision.name}},
            "template": {"metadata": {"labels": template_labels}, "spec": pod_spec},
        },
    }
