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

    revision: str | None = Field(default=None, max_length=63)
    """The serving revision (Deployment name) the artifact is for."""
    digest: str | None = Field(default=None, max_length=128)
    ratio: float | None = Field(default=None, ge=0)
    """Original size / compressed size."""
    size_before: int | None = Field(default=None, ge=0)
    """Weight bytes of the original model."""
    size_after: int | None = Field(default=None, ge=0)
    metric_before: float | None = None
    metric_after: float | None = None
    metric_drop: float | None = None
    seconds: float | None = Field(default=None, ge=0)
    """How long the compression steps took."""


class HistoryEntry(ApiModel):
    """One version that was tried, newest first."""

    version: str = Field(max_length=63)
    digest: str | None = Field(default=None, max_length=128)
    """Content address of the served artifact (`sha256:...`)."""
    compression: CompressionResult | None = None
    revision: str | None = Field(default=None, max_length=63)
    """The serving revision (Deployment name) of this version."""
    generation: int | None = Field(default=None, ge=0)
    """The resource's generation when the outcome was reached: a version that failed or was
    rolled back is not tried again until the spec changes."""
    outcome: Outcome
    reason: str = Field(default="", max_length=1024)
    at: datetime


class MetricResult(ApiModel):
    """The latest verdict of one metric, with the numbers behind it."""

    name: str = Field(max_length=63)
    verdict: Literal["Pass", "Fail", "Inconclusive"]
    value: float | None = None
    threshold: str | None = Field(default=None, max_length=256)
    """What the value was compared with, e.g. `<= 0.01` or `<= 1.5 x stable (0.0121)`."""
    requests: float | None = None
    """Requests the version answered in the interval."""
    message: str = Field(default="", max_length=1024)
    failures: int = Field(default=0, ge=0)
    """Failed intervals in a row."""
    passed: bool = False
    """Passed at least once in the current step."""


class AnalysisStatus(ApiModel):
    """The live analysis of the version being rolled out (or just promoted)."""

    revision: str = Field(max_length=63)
    step: int = Field(ge=-1)
    """The canary step analysed; -1 after promotion (the post-promotion window)."""
    last_run_at: datetime | None = None
    runs: int = Field(default=0, ge=0)
    inconclusive: int = Field(default=0, ge=0)
    """Inconclusive intervals in a row."""
    metrics: list[MetricResult] | None = Field(
        default=None,
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )


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
    stable_revision: str | None = Field(default=None, max_length=63)
    """Deployment serving the stable version."""
    canary_revision: str | None = Field(default=None, max_length=63)
    """Deployment of the version being rolled out."""
    current_step: int | None = Field(default=None, ge=0)
    """Index of the canary step in progress; the number of steps while promoting."""
    step_started_at: datetime | None = None
    """When the current step began (its progress deadline runs from here)."""
    step_ready_at: datetime | None = None
    """When the current step's replicas were all ready (its pause runs from here)."""
    compression: CompressionResult | None = None
    """The last compression of the wanted version."""
    handled_promote: str | None = Field(default=None, max_length=253)
    """Value of the `modeldeploy.dev/promote` annotation already acted on."""
    handled_abort: str | None = Field(default=None, max_length=253)
    """Value of the `modeldeploy.dev/abort` annotation already acted on."""
    analysis: AnalysisStatus | None = None
    previous_revision: str | None = Field(default=None, max_length=63)
    """The stable Deployment before the last promotion (the post-promotion rollback target)."""
    previous_version: str | None = Field(default=None, max_length=63)
    promoted_at: datetime | None = None
    """When the current stable version was promoted (its post-promotion window runs from
    here)."""
