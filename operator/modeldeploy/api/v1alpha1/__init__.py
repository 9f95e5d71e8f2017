"""modeldeploy.dev/v1alpha1: the ModelDeployment resource."""

from modeldeploy.api.v1alpha1.compression import (
    Compression,
    CompressionStep,
    Evaluation,
    Metric,
    StepType,
    Student,
)
from modeldeploy.api.v1alpha1.quantity import duration_seconds
from modeldeploy.api.v1alpha1.resource import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    ModelDeployment,
    ModelDeploymentSpec,
    field_errors,
)
from modeldeploy.api.v1alpha1.rollout import Analysis, MetricCheck, Provider, Rollout, RolloutStep
from modeldeploy.api.v1alpha1.serving import Batching, ModelSource, Serving
from modeldeploy.api.v1alpha1.status import (
    Condition,
    HistoryEntry,
    ModelDeploymentStatus,
    Outcome,
    Phase,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "Analysis",
    "Batching",
    "Compression",
    "CompressionStep",
    "Condition",
    "Evaluation",
    "HistoryEntry",
    "Metric",
    "MetricCheck",
    "ModelDeployment",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelSource",
    "Outcome",
    "Phase",
    "Provider",
    "Rollout",
    "RolloutStep",
    "Serving",
    "StepType",
    "Student",
    "duration_seconds",
    "field_errors",
]
