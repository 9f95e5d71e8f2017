"""The compression Job: `modeldeploy compress` with the resource's steps and gate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec
from modeldeploy.reconcilers import pods
from modeldeploy.reconcilers.options import Options
from modeldeploy.rollout import labels
from modeldeploy.rollout.revision import Revision

TERMINATION_LOG = "/dev/termination-log"


def job_labels(name: str, revision: Revision) -> dict[str, str]:
    assert revision.compression_key is not None
    return {
        labels.NAME: name,
        labels.VERSION: revision.version,
        labels.COMPRESSION: revision.compression_key,
        labels.COMPONENT: "compression",
        labels.MANAGED_BY: "modeldeploy",
    }


def compress_spec(spec: ModelDeploymentSpec, options: Options) -> dict[str, Any]:
    """The job's input (compress/spec.py JobSpec): the resource's own fields, camelCase."""
    compression = spec.compression
    assert compression is not None
    wire = compression.model_dump(mode="json", by_alias=True, exclude_none=True)
    job_spec: dict[str, Any] = {
        "modelUri": spec.model.uri,
        "steps": wire["steps"],
        "evaluation": wire["evaluation"],
        "artifactStore": options.artifact_store_path,
    }
    if spec.model.sha256:
        job_spec["sha256"] = spec.model.sha256
    return job_spec


def _uris(spec: ModelDeploymentSpec) -> list[str | None]:
    compression = spec.compression
    assert compression is not None
    steps = [u for s in compression.steps for u in (s.calibration_uri, s.dataset_uri)]
    return [spec.model.uri, compression.evaluation.dataset_uri, *steps]


def compression_job(
    resource: Mapping[str, Any], spec: ModelDeploymentSpec, revision: Revision, options: Options
) -> dict[str, Any]:
    compression = spec.compression
    assert compression is not None
    assert revision.job_name is not None
    name = resource["metadata"]["name"]
    store_claim = options.artifact_claim
    claims = pods.claims([*_uris(spec), options.artifact_store])
    volumes, mounts = pods.claim_volumes(
        claims, writable=frozenset({store_claim} if store_claim else ())
    )
    job_labels_ = job_labels(name, revision)
    container = {
        "name": "compress",
        "image": spec.serving.image or options.image,
        "args": ["compress"],
        "env": [
            {
                "name": "MODELDEPLOY_COMPRESS_SPEC",
                "value": json.dumps(compress_spec(spec, options)),
            },
            *pods.SCRATCH_ENV,
        ],
        "envFrom": pods.env_from([spec.model.credentials_secret, options.artifact_store_secret]),
        "resources": pods.resources(compression.resources),
        "volumeMounts": [pods.SCRATCH_MOUNT, *mounts],
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": pods.CONTAINER_SECURITY,
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": pods.POD_SECURITY,
        "containers": [container],
        "volumes": [pods.SCRATCH_VOLUME, *volumes],
        "automountServiceAccountToken": False,
    }
    if compression.node_selector:
        pod_spec["nodeSelector"] = dict(compression.node_selector)
    if compression.tolerations:
        pod_spec["tolerations"] = pods.tolerations(compression.tolerations)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": revision.job_name,
            "namespace": resource["metadata"]["namespace"],
            "labels": job_labels_,
            "ownerReferences": [pods.owner_reference(resource)],
        },
        "spec": {
            "backoffLimit": compression.backoff_limit,
            "activeDeadlineSeconds": compression.active_deadline_seconds,
            "template": {"metadata": {"labels": job_labels_}, "spec": pod_spec},
        },
    }
