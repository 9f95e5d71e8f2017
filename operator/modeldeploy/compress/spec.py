"""The job's input: what to fetch, which steps to run, how to judge the result, where to store it.

Field names are camelCase, as in the `ModelDeployment` resource's `spec.compression`, so the
operator copies the resource's fields into this spec unchanged; the student and the evaluation
are the resource's own models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from modeldeploy.api.v1alpha1.compression import Evaluation, Student
from modeldeploy.compress.errors import CompressError

SPEC_ENV = "MODELDEPLOY_COMPRESS_SPEC"


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class OptimizeStep(SpecModel):
    """ONNX Runtime offline graph optimisation."""

    type: Literal["optimize"]
    level: Literal["basic", "extended"] = "extended"


class PruneStep(SpecModel):
    """Magnitude pruning of the weights of MatMul, Gemm and Conv."""

    type: Literal["prune"]
    sparsity: float = Field(gt=0, lt=1)
    structured: bool = False


class QuantizeStep(SpecModel):
    """INT8 (dynamic or static QDQ) or FP16 quantization; `auto` tries several candidates."""

    type: Literal["quantize"]
    mode: Literal["dynamic", "static", "fp16", "auto"]
    objective: Literal["latency", "size"] = "latency"
    """auto: keep the fastest qualifying candidate at the evaluation batch size, or the
    smallest."""
    weight_type: Literal["int8", "uint8"] = "int8"
    per_channel: bool = True
    calibration_uri: str | None = None
    exclude_nodes: list[str] = Field(default_factory=list)
    exclude_op_types: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _objective_for_auto(self) -> QuantizeStep:
        if "objective" in self.model_fields_set and self.mode != "auto":
            raise ValueError("objective applies only to quantize mode auto")
        return self


class DistillStep(SpecModel):
    """Train a smaller student on the teacher's outputs, or (`recover`) fine-tune the current
    (pruned) model against the original model as teacher."""

    type: Literal["distill"]
    student: Student | None = None
    dataset_uri: str | None = None
    """Inputs to train on (.npz); default: the evaluation dataset. Give a separate training set
    so that the evaluation stays held out."""
    epochs: int = Field(default=5, ge=1, le=1000)
    temperature: float = Field(default=2.0, gt=0, le=100)
    recover: bool = False

    @model_validator(mode="after")
    def _student_or_recover(self) -> DistillStep:
        if (self.student is not None) != self.recover:
            return self
        if self.student is None:
            raise ValueError("a distill step needs a student (or recover: true)")
        raise ValueError("give either a student or recover: true, not both")


Step = Annotated[OptimizeStep | PruneStep | QuantizeStep | DistillStep, Field(discriminator="type")]


class JobEvaluation(Evaluation):
    """The resource's `spec.compression.evaluation`, plus how the job measures latency."""

    batch_size: int = Field(default=8, ge=1, le=4096)
    """Batch size N of the batch-N latency figures (batch 1 is always measured)."""
    latency_runs: int = Field(default=50, ge=1, le=100000)
    """Timed runs per model and batch size, split over `latencyRounds` rounds."""
    latency_rounds: int = Field(default=10, ge=1, le=1000)
    """Rounds of the interleaved timing: each round runs the original and the candidate in
    turn (starting with the other one every second round); the spread between rounds is the
    noise."""


class JobSpec(SpecModel):
    model_uri: str
    sha256: str | None = Field(default=None, pattern=r"^(sha256:)?[0-9a-fA-F]{64}$")
    steps: list[Step] = Field(min_length=1, max_length=16)
    evaluation: JobEvaluation
    artifact_store: str
    """A directory, `pvc://claim/path` or `s3://bucket/prefix`; artifacts go to
    `<store>/<sha256>/`."""
    report_path: str | None = None
    """Where to also write the full report.json (besides the artifact's own copy)."""


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field by its camelCase path, e.g. `steps.0.sparsity: ...`."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "spec"
        parts.append(f"{location}: {item['msg']}")
    return "invalid spec: " + "; ".join(parts)


def parse_spec(text: str, source: str) -> JobSpec:
    try:
        return JobSpec.model_validate_json(text, by_alias=True)
    except ValidationError as error:
        raise CompressError(f"{describe_validation_error(error)} (from {source})") from None


def load_spec(path: str | None, environ: dict[str, str]) -> JobSpec:
    """The spec from `--spec path`, else from $MODELDEPLOY_COMPRESS_SPEC (JSON)."""
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise CompressError(f"cannot read spec {path}: {error.strerror}") from None
        return parse_spec(text, path)
    if SPEC_ENV in environ:
        return parse_spec(environ[SPEC_ENV], f"${SPEC_ENV}")
    raise CompressError(f"no spec: pass --spec PATH or set {SPEC_ENV}")


def spec_fingerprint(spec: JobSpec, model_sha256: str) -> str:
    """Everything that decides the artifact: the model's content, the steps, the evaluation."""
    payload = {
        "model": model_sha256,
        "steps": [step.model_dump(mode="json", by_alias=True) for step in spec.steps],
        "evaluation": spec.evaluation.model_dump(mode="json", by_alias=True),
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))
