"""`spec.model` and `spec.serving`: what is served and how the serving pods run."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from modeldeploy.api.v1alpha1.common import ResourceRequirements, Toleration, Uri
from modeldeploy.api.v1alpha1.rules import ApiModel, full_default

# Versions end up in label values, so they follow the label value syntax.
VERSION_PATTERN = r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
# A DNS subdomain, as Secret names are.
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class ModelSource(ApiModel):
    """The trained model; a new `version` starts a new rollout."""

    version: str = Field(pattern=VERSION_PATTERN, max_length=63)
    """Version label of this model (a Kubernetes label value, e.g. `2` or `2024-06-01`)."""
    uri: Uri
    """Where the ONNX file is: `pvc://claim/path`, `https://`, `s3://` or `file://`."""
    sha256: str | None = Field(default=None, pattern=r"^[a-f0-9]{64}$")
    """Expected SHA-256 of the file (lowercase hex); verified before use."""
    credentials_secret: str | None = Field(
        default=None, pattern=SECRET_NAME_PATTERN, max_length=253
    )
    """Secret in the resource's namespace whose keys become environment variables of the model
    download (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ENDPOINT_URL` for s3;
    `MODELDEPLOY_HTTPS_TOKEN` or `MODELDEPLOY_HTTPS_USERNAME`/`PASSWORD` for https)."""


class Batching(ApiModel):
    """Dynamic batching of concurrent requests in the model server."""

    max_batch_size: int = Field(default=32, ge=1, le=1024)
    """Most requests merged into one inference."""
    max_delay_ms: int = Field(default=5, ge=0, le=1000)
    """Longest a request waits for others to join its batch."""


class Serving(ApiModel):
    """The versioned serving pods (`modeldeploy serve`)."""

    replicas: int = Field(default=2, ge=1, le=1000)
    """Serving pods of the stable version; the canary gets its share of them."""
    image: str = Field(default="", max_length=512)
    """Model server image; empty means the operator's own runtime image."""
    threads: int = Field(default=1, ge=1, le=256)
    """ONNX Runtime intra-op threads per pod."""
    resources: ResourceRequirements | None = None
    """Resources of the serving container; asking for `nvidia.com/gpu` runs ONNX Runtime on
    CUDA when the image has it."""
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] | None = None
    """Node labels the serving pods must match (e.g. a GPU node pool)."""
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    """Tolerations of the serving pods (e.g. for a tainted GPU pool)."""
    batching: Batching = Field(default_factory=Batching, json_schema_extra=full_default(Batching))
    pod_overrides: dict[str, Any] | None = Field(
        default=None, json_schema_extra={"x-kubernetes-preserve-unknown-fields": True}
    )
    """Free-form fields merged (strategic merge) into the serving pods' spec, e.g. affinity."""
