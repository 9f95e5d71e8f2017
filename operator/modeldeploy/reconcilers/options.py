"""Operator-wide settings that shape the children (chart values, passed as flags)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

DEFAULT_IMAGE = "modeldeploy/modeldeploy:0.1.0"
DEFAULT_ARTIFACT_STORE = "pvc://modeldeploy-artifacts/"
# Where pods see a PersistentVolumeClaim named in a pvc:// URI (compress/sources.py agrees).
PVC_ROOT = "/mnt/pvc"


@dataclass(frozen=True)
class Options:
    image: str = DEFAULT_IMAGE
    """Default image of compression Jobs and serving pods."""
    artifact_store: str = DEFAULT_ARTIFACT_STORE
    """`pvc://<claim>/<prefix>` (a claim of that name in each resource's namespace) or
    `s3://bucket/prefix`."""
    artifact_store_secret: str | None = None
    """Secret (in each resource's namespace) with the store's S3 credentials."""
    artifact_store_size: str = "20Gi"
    """Size of the artifact claim the operator creates when a namespace has none."""

    @property
    def artifact_claim(self) -> str | None:
        parsed = urlparse(self.artifact_store)
        return parsed.netloc if parsed.scheme == "pvc" else None

    @property
    def artifact_store_path(self) -> str:
        """The store as the pods see it: a mounted path for a claim, else the URI."""
        parsed = urlparse(self.artifact_store)
        if parsed.scheme != "pvc":
            return self.artifact_store
        return f"{PVC_ROOT}/{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")


def validate_artifact_store(uri: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in ("pvc", "s3") or not parsed.netloc:
        raise ValueError(
            f"--artifact-store {uri!r}: use pvc://<claim>/<prefix> or s3://<bucket>/<prefix>"
        )
    return uri
