"""Small types shared by several parts of the spec, shaped like their core/v1 counterparts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from modeldeploy.api.v1alpha1.quantity import ResourceList
from modeldeploy.api.v1alpha1.rules import ApiModel

# Where models and datasets come from; `file://` is for the sandbox and local runs.
URI_SCHEMES = ("file", "pvc", "https", "s3")
Uri = Annotated[
    str,
    StringConstraints(pattern=r"^(file|pvc|https|s3)://.+$", max_length=2048),
    Field(examples=["pvc://models/digits/2/model.onnx", "s3://bucket/model.onnx"]),
]


class ResourceRequirements(ApiModel):
    """Compute resources, as in a container's `resources`."""

    limits: ResourceList | None = None
    requests: ResourceList | None = None


class Toleration(ApiModel):
    """A pod toleration, as in core/v1."""

    key: str | None = Field(default=None, max_length=253)
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = Field(default=None, max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None
