"""Names of a version's children, derived from the spec alone, so a restart or a re-list finds
the same Job and Deployment instead of creating second ones."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec

# Label values and the names built from them stay within 63 characters.
_NAME_ROOM = 40
_HASH_LENGTH = 10


def _short_hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]


def _stem(name: str) -> str:
    return name[:_NAME_ROOM].rstrip("-.")


@dataclass(frozen=True)
class Revision:
    """What the current spec asks to serve."""

    name: str
    """Deployment name: `<resource>-<hash of version, model, compression, serving>`."""
    version: str
    job_name: str | None
    """Compression Job name (`<resource>-compress-<hash>`); None when served as it is."""
    compression_key: str | None


def wanted_revision(resource_name: str, spec: ModelDeploymentSpec) -> Revision:
    model = spec.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    compression_key = None
    if spec.compression is not None:
        compression_key = _short_hash(
            {
                "resource": resource_name,
                "image": spec.serving.image,  # the Job runs it too
                "model": {k: v for k, v in model.items() if k != "version"},
                "compression": spec.compression.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                ),
            }
        )
    # Replicas only scale a revision; everything else that reaches the pods makes a new one.
    serving = spec.serving.model_dump(mode="json", by_alias=True, exclude_none=True)
    serving.pop("replicas", None)
    revision_hash = _short_hash(
        {
            "resource": resource_name,
            "model": model,
            "compression": compression_key,
            "serving": serving,
        }
    )
    return Revision(
        name=f"{_stem(resource_name)}-{revision_hash}",
        version=spec.model.version,
        job_name=None if compression_key is None else job_name(resource_name, compression_key),
        compression_key=compression_key,
    )


def job_name(resource_name: str, compression_key: str) -> str:
    return f"{_stem(resource_name)}-compress-{compression_key}"
