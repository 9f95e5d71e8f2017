"""Bad resources are rejected with a message naming the field, by pydantic and by the CRD.

Each case changes one thing in a valid resource. Schema-level mistakes must be caught by the
CRD's structural schema too (jsonschema here, as a real API server would); cross-field mistakes
are CEL rules in the CRD, generated from the same Rule objects pydantic enforces.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from modeldeploy.api.v1alpha1 import ModelDeployment, field_errors
from modeldeploy.api.v1alpha1.crdgen import custom_resource_definition
from tests.api.conftest import load_yaml

BASE = load_yaml(Path(__file__).parents[2] / "examples/digits-quantized-canary.yaml")
DELETE = object()

# (case id, {dotted path: new value or DELETE}, field path the error must name, CRD schema catches)
CASES: list[tuple[str, dict[str, Any], str, bool]] = [
    ("missing-model", {"spec.model": DELETE}, "spec.model", True),
    ("missing-uri", {"spec.model.uri": DELETE}, "spec.model.uri", True),
    ("bad-uri-scheme", {"spec.model.uri": "ftp://x/model.onnx"}, "spec.model.uri", True),
    ("bad-sha256", {"spec.model.sha256": "xyz"}, "spec.model.sha256", True),
    ("version-not-label", {"spec.model.version": "v 2!"}, "spec.model.version", True),
    (
        "max-drop-above-1",
        {"spec.compression.evaluation.maxDrop": 1.5},
        "spec.compression.evaluation.maxDrop",
        True,
    ),
    (
        "max-drop-negative",
        {"spec.compression.evaluation.maxDrop": -0.1},
        "spec.compression.evaluation.maxDrop",
        True,
    ),
    (
        "unknown-metric",
        {"spec.compression.evaluation.metric": "f1"},
        "spec.compression.evaluation.metric",
        True,
    ),
    (
        "unknown-step-type",
        {"spec.compression.steps.0.type": "sparsify"},
        "spec.compression.steps[0].type",
        True,
    ),
    (
        "sparsity-1",
        {"spec.compression.steps.1.sparsity": 1.0},
        "spec.compression.steps[1].sparsity",
        True,
    ),
    ("no-steps", {"spec.compression.steps": []}, "spec.compression.steps", True),
    (
        "static-without-calibration",
        {"spec.compression.steps.3.mode": "static"},
        "spec.compression.steps[3].calibrationUri",
        False,
    ),
    (
        "distill-without-student",
        {"spec.compression.steps.2.recover": DELETE},
        "spec.compression.steps[2].student",
        False,
    ),
    (
        "distill-with-student-and-recover",
        {"spec.compression.steps.2.student": {"type": "mlp", "hiddenSizes": [16]}},
        "spec.compression.steps[2].student",
        False,
    ),
    (
        "field-of-another-step",
        {"spec.compression.steps.0.sparsity": 0.3},
        "spec.compression.steps[0].sparsity",
        False,
    ),
    (
        "prune-without-sparsity",
        {"spec.compression.steps.1.sparsity": DELETE},
        "spec.compression.steps[1].sparsity",
        False,
    ),
    (
        "mlp-student-without-sizes",
        {"spec.compression.steps.2.student": {"type": "mlp"}},
        "spec.compression.steps[2].student.hiddenSizes",
        False,
    ),
    (
        "weights-decreasing",
        {"spec.rollout.steps": [{"weight": 50}, {"weight": 10}]},
        "spec.rollout.steps",
        False,
    ),
    (
        "weights-repeated",
        {"spec.rollout.steps": [{"weight": 20}, {"weight": 20}]},
        "spec.rollout.steps",
        False,
    ),
    ("weight-100", {"spec.rollout.steps.1.weight": 100}, "spec.rollout.steps[1].weight", True),
    ("weight-0", {"spec.rollout.steps.0.weight": 0}, "spec.rollout.steps[0].weight", True),
    (
        "bad-duration",
        {"spec.rollout.steps.0.pause": "1 minute"},
        "spec.rollout.steps[0].pause",
        True,
    ),
    ("keep-revisions-0", {"spec.rollout.keepRevisions": 0}, "spec.rollout.keepRevisions", True),
    (
        "prometheus-without-address",
        {"spec.rollout.analysis.address": DELETE},
        "spec.rollout.analysis.address",
        False,
    ),
    (
        "query-with-direct-provider",
        {"spec.rollout.analysis.provider": "direct", "spec.rollout.analysis.address": DELETE},
        "spec.rollout.analysis.metrics",
        False,
    ),
    (
        "custom-metric-without-query",
        {"spec.rollout.analysis.metrics.2.query": DELETE},
        "spec.rollout.analysis.metrics[2].query",
        False,
    ),
    ("replicas-0", {"spec.serving.replicas": 0}, "spec.serving.replicas", True),
    ("unknown-field", {"spec.serving.replica": 3}, "spec.serving.replica", False),
    (
        "batch-size-string",
        {"spec.serving.batching.maxBatchSize": "big"},
        "spec.serving.batching.maxBatchSize",
        True,
    ),
]


def mutated(changes: dict[str, Any]) -> dict[str, Any]:
    resource = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = resource
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(leaf) if isinstance(node, list) else leaf
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return resource


def test_enough_cases() -> None:
    assert len(CASES) >= 15


def test_base_is_valid() -> None:
    ModelDeployment.model_validate(BASE)


@pytest.mark.parametrize(
    ("changes", "field"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_models_reject_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        ModelDeployment.model_validate(mutated(changes))
    lines = field_errors(raised.value)
    assert any(line.startswith(f"{field}:") for line in lines), lines


@pytest.mark.parametrize(
    ("changes", "field"), [(c[1], c[2]) for c in CASES if c[3]], ids=[c[0] for c in CASES if c[3]]
)
def test_crd_schema_rejects_naming_the_field(changes: dict[str, Any], field: str) -> None:
    schema = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    errors = list(jsonschema.Draft4Validator(schema).iter_errors(mutated(changes)))
    assert errors
    paths = {_json_path(e) for e in errors}
    assert any(p == field or p.startswith((f"{field}.", f"{field}[")) for p in paths), paths


def _json_path(error: jsonschema.ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    if error.validator == "required":
        missing = str(error.message).split("'")[1]
        path += f".{missing}" if path else missing
    return path
