"""The ModelDeployment resource: spec, status and the names the API is served under."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from modeldeploy.api.v1alpha1.compression import Compression
from modeldeploy.api.v1alpha1.rollout import Rollout
from modeldeploy.api.v1alpha1.rules import RULE_ERROR, ApiModel, full_default
from modeldeploy.api.v1alpha1.serving import ModelSource, Serving
from modeldeploy.api.v1alpha1.status import ModelDeploymentStatus

GROUP = "modeldeploy.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ("mdep",)
CATEGORIES = ("all", "ml")
NAME_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_LIMIT = 63


class ModelDeploymentSpec(ApiModel):
    """Desired state: which model version to serve, how to compress it and how to roll it out."""

    model: ModelSource
    compression: Compression | None = None
    """Absent: the model is served as it is."""
    serving: Serving = Field(default_factory=Serving, json_schema_extra=full_default(Serving))
    rollout: Rollout = Field(default_factory=Rollout, json_schema_extra=full_default(Rollout))


class ModelDeployment(ApiModel):
    """A model taken from storage to production: compressed, gated, canaried, rolled back."""

    api_version: Literal["modeldeploy.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ModelDeployment"]
    metadata: dict[str, Any]
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus | None = None


def field_errors(error: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    """`path: message` lines with Kubernetes-style paths (`spec.rollout.steps[1].weight`);
    `prefix` is where the validated object sits in the resource."""
    lines = []
    for detail in error.errors():
        location = [*prefix, *detail["loc"]]
        if detail["type"] == RULE_ERROR and detail.get("ctx", {}).get("field"):
            location.append(detail["ctx"]["field"])
        lines.append(f"{_path(location)}: {detail['msg']}")
    return lines


def _path(location: list[int | str]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "<root>"
