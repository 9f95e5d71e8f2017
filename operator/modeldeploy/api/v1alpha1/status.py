"""`status`: written only by the operator, through the status subresource."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from modeldeploy.api.v1alpha1.rules import ApiModel

HISTORY_LIMIT = 20


class Phase(StrEnum):
    PENDING = "Pending"
    COMPRESSING = "Compressing"
    ROLLING_OUT = "RollingOut"
    READY = "Ready"
    ROLLED_BACK = "RolledBack"
    FAILED = "Failed"


class Condition(ApiModel):
    """A condition following the Kubernetes API conventions."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime | None = None
    observed_generation: int | None = Field(default=None, ge=0)


class Outcome(StrEnum):
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    REJECTED = "Rejected"
    FAILED = "Failed"
    SUPERSEDED = "Superseded"


class CompressionResult(ApiModel):
    """What compression did to a version."""

    ratio: float | None = Field(default=None, ge=0)
    """Original size / compressed size."""
    metric_before: float | None = None
    metric_after: float | None = None
    metric_drop: float | None = None


class HistoryEntry(ApiModel):
    """One version that was tried, newest first."""

    version: str = Field(max_length=63)
    digest: str | None = Field(default=None, max_length=128)
    """Content address of the served artifact (`sha256:...`)."""
    compression: CompressionResult | None = None
    outcome: Outcome
    reason: str = Field(default="", max_length=1024)
    at: datetime


class ModelDeploymentStatus(ApiModel):
    phase: Phase | None = None
    observed_generation: int | None = Field(default=None, ge=0)
    stable_version: str | None = Field(default=None, max_length=63)
    canary_version: str | None = Field(default=None, max_length=63)
    canary_weight: int | None = Field(default=None, ge=0, le=100)
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    history: list[HistoryEntry] | None = Field(default=None, max_length=HISTORY_LIMIT)
