"""`spec.compression`: the steps run by the compression Job and the accuracy gate."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from modeldeploy.api.v1alpha1.common import ResourceRequirements, Toleration, Uri
from modeldeploy.api.v1alpha1.rules import ApiModel, Rule, cel_list


class StepType(StrEnum):
    OPTIMIZE = "optimize"
    PRUNE = "prune"
    QUANTIZE = "quantize"
    DISTILL = "distill"


class StudentType(StrEnum):
    MLP = "mlp"
    TRANSFORMER = "transformer"


class Student(ApiModel):
    """The smaller model a `distill` step trains on the teacher's outputs."""

    type: StudentType
    """`mlp`: fully connected layers of `hiddenSizes`; `transformer`: the teacher's encoder
    cut down to `numLayers` layers."""
    hidden_sizes: list[Annotated[int, Field(ge=1, le=65536)]] | None = Field(
        default=None, min_length=1, max_length=16
    )
    """Widths of the hidden layers of an `mlp` student."""
    num_layers: int | None = Field(default=None, ge=1, le=64)
    """Number of encoder layers of a `transformer` student."""

    rules = (
        Rule(
            cel="self.type != 'mlp' || has(self.hiddenSizes)",
            message="hiddenSizes is required for an mlp student",
            check=lambda s: s.type != StudentType.MLP or s.hidden_sizes is not None,
            field="hiddenSizes",
        ),
        Rule(
            cel="self.type != 'transformer' || has(self.numLayers)",
            message="numLayers is required for a transformer student",
            check=lambda s: s.type != StudentType.TRANSFORMER or s.num_layers is not None,
            field="numLayers",
        ),
    )


class CompressionStep(ApiModel):
    """One compression step; which of the other fields apply depends on `type`."""

    type: StepType
    """`optimize` (graph optimisation), `prune`, `quantize` or `distill`."""
    level: Literal["basic", "extended"] | None = None
    """optimize: ONNX Runtime graph optimisation level."""
    sparsity: float | None = Field(default=None, gt=0, lt=1)
    """prune: fraction of weights (or output channels when structured) removed."""
    structured: bool | None = None
    """prune: remove whole output channels, so the model really gets smaller and faster."""
    mode: Literal["dynamic", "static", "fp16", "auto"] | None = None
    """quantize: dynamic INT8, static INT8 (needs calibrationUri), FP16, or auto (try
    candidates, keep the best by `objective` of those that pass the gate and are not slower
    than the original)."""
    objective: Literal["latency", "size"] | None = None
    """quantize auto: `latency` (default) keeps the fastest qualifying candidate at the
    evaluation batch size, `size` the smallest."""
    weight_type: Literal["int8", "uint8"] | None = None
    """quantize: integer type of quantized weights."""
    per_channel: bool | None = None
    """quantize: one scale per output channel instead of per tensor."""
    calibration_uri: Uri | None = None
    """quantize: dataset (.npz) whose inputs calibrate static quantization."""
    exclude_nodes: list[Annotated[str, Field(max_length=253)]] | None = Field(
        default=None, max_length=256
    )
    """quantize: node names kept in float."""
    exclude_op_types: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=64
    )
    """quantize: operator types kept in float."""
    student: Student | None = None
    """distill: the model to train."""
    epochs: int | None = Field(default=None, ge=1, le=1000)
    """distill: training epochs over the dataset."""
    temperature: float | None = Field(default=None, gt=0, le=100)
    """distill: softmax temperature of the soft targets."""
    recover: bool | None = None
    """distill: fine-tune the pruned model itself against the original as teacher."""
    dataset_uri: Uri | None = None
    """distill: inputs to train on (.npz); default: the evaluation dataset. A separate training
    set keeps the evaluation held out."""


# Which optional fields each step type accepts, and which it needs. The pydantic checks and the
# CEL rules of the CRD are both generated from this table.
STEP_FIELDS: dict[StepType, frozenset[str]] = {
    StepType.OPTIMIZE: frozenset({"level"}),
    StepType.PRUNE: frozenset({"sparsity", "structured"}),
    StepType.QUANTIZE: frozenset(
        {
            "mode",
            "objective",
            "weightType",
            "perChannel",
            "calibrationUri",
            "excludeNodes",
            "excludeOpTypes",
        }
    ),
    StepType.DISTILL: frozenset({"student", "epochs", "temperature", "recover", "datasetUri"}),
}
STEP_REQUIRED: dict[StepType, frozenset[str]] = {
    StepType.PRUNE: frozenset({"sparsity"}),
    StepType.QUANTIZE: frozenset({"mode"}),
}


def _field_set(step: CompressionStep, alias: str) -> bool:
    name = next(n for n, f in CompressionStep.model_fields.items() if f.alias == alias)
    return getattr(step, name) is not None


def _only_for(alias: str, owners: list[StepType]) -> Callable[[CompressionStep], bool]:
    return lambda step: step.type in owners or not _field_set(step, alias)


def _required_for(alias: str, step_type: StepType) -> Callable[[CompressionStep], bool]:
    return lambda step: step.type != step_type or _field_set(step, alias)


def _step_rules() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for alias in sorted(set().union(*STEP_FIELDS.values())):
        owners = [t for t, fields in STEP_FIELDS.items() if alias in fields]
        owner_names = " or ".join(owners)
        rules.append(
            Rule(
                cel=f"!has(self.{alias}) || self.type in {cel_list(owners)}",
                message=f"{alias} applies only to a step of type {owner_names}",
                check=_only_for(alias, owners),
                field=alias,
            )
        )
    for step_type, required in STEP_REQUIRED.items():
        for alias in sorted(required):
            rules.append(
                Rule(
                    cel=f"self.type != '{step_type}' || has(self.{alias})",
                    message=f"{alias} is required for a {step_type} step",
                    check=_required_for(alias, step_type),
                    field=alias,
                )
            )
    rules.append(
        Rule(
            cel="!has(self.mode) || self.mode != 'static' || has(self.calibrationUri)",
            message="static quantization needs calibrationUri (a calibration dataset)",
            check=lambda s: s.mode != "static" or s.calibration_uri is not None,
            field="calibrationUri",
        )
    )
    rules.append(
        Rule(
            cel="!has(self.objective) || (has(self.mode) && self.mode == 'auto')",
            message="objective applies only to quantize mode auto",
            check=lambda s: s.objective is None or s.mode == "auto",
            field="objective",
        )
    )
    rules.append(
        Rule(
            cel="self.type != 'distill' || "
            "has(self.student) != (has(self.recover) && self.recover)",
            message="a distill step needs either a student or recover: true (to fine-tune the "
            "pruned model), not both",
            check=lambda s: (
                s.type != StepType.DISTILL or (s.student is not None) != bool(s.recover)
            ),
            field="student",
        )
    )
    return tuple(rules)


CompressionStep.rules = _step_rules()


class Metric(StrEnum):
    ACCURACY = "accuracy"
    TOP_K = "top-k"
    FIDELITY = "fidelity"


class Evaluation(ApiModel):
    """How the compressed model is compared with the original; `maxDrop` is the gate."""

    dataset_uri: Uri
    """Dataset (.npz with `inputs` and optional `labels`, or a directory of them)."""
    metric: Metric = Metric.ACCURACY
    """`accuracy` and `top-k` need labels; `fidelity` compares with the original's outputs."""
    top_k: int = Field(default=5, ge=1, le=1000)
    """k of the `top-k` metric."""
    max_drop: float = Field(default=0.01, ge=0, le=1)
    """Largest metric drop accepted; a worse compressed model is not rolled out."""
    output: str | None = Field(default=None, min_length=1, max_length=253)
    """Model output to evaluate; default: the class scores when the model gives labels and
    scores (scikit-learn exports), else the first output."""


class Compression(ApiModel):
    """Compression run as a Kubernetes Job before the new version is rolled out."""

    steps: list[CompressionStep] = Field(min_length=1, max_length=16)
    """Steps applied in order."""
    evaluation: Evaluation
    resources: ResourceRequirements | None = None
    """Resources of the compression Job's container (e.g. `nvidia.com/gpu: 1`)."""
    node_selector: dict[str, Annotated[str, Field(max_length=63)]] | None = None
    """Node labels the Job's pod must match (e.g. a GPU node pool)."""
    tolerations: list[Toleration] | None = Field(default=None, max_length=32)
    """Tolerations of the Job's pod (e.g. for a tainted GPU pool)."""
    backoff_limit: int = Field(default=2, ge=0, le=20)
    """Retries of the Job before it is marked failed."""
    active_deadline_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    """The Job is stopped and failed after this long."""
