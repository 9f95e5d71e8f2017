"""The job reads the resource's `spec.compression` unchanged: the same fields, the same names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from modeldeploy.api.v1alpha1 import ModelDeployment
from modeldeploy.api.v1alpha1.compression import STEP_FIELDS, StepType
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.spec import Step, parse_spec
from tests.api.conftest import EXAMPLES, load_yaml

WITH_COMPRESSION = [path for path in EXAMPLES if "compression" in load_yaml(path)["spec"]]


def test_some_examples_compress() -> None:
    assert len(WITH_COMPRESSION) >= 2


@pytest.mark.parametrize("path", WITH_COMPRESSION, ids=lambda p: p.name)
def test_the_job_accepts_each_example_compression(path: Path, tmp_path: Path) -> None:
    resource = ModelDeployment.model_validate(load_yaml(path))
    assert resource.spec.compression is not None
    compression = resource.spec.compression.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    job_spec = {
        "modelUri": resource.spec.model.uri,
        "steps": compression["steps"],
        "evaluation": compression["evaluation"],
        "artifactStore": str(tmp_path),
    }
    parsed = parse_spec(json.dumps(job_spec), path.name)
    assert [step.type for step in parsed.steps] == [s["type"] for s in compression["steps"]]
    assert parsed.evaluation.max_drop == resource.spec.compression.evaluation.max_drop


def test_each_step_type_takes_the_fields_the_resource_allows() -> None:
    (union,) = get_args(Step)[:1]
    for model in get_args(union):
        step_type = StepType(model.model_fields["type"].annotation.__args__[0])
        aliases = {field.alias for name, field in model.model_fields.items() if name != "type"}
        assert aliases == STEP_FIELDS[step_type], step_type


def test_a_field_of_another_step_type_is_named() -> None:
    spec = {
        "modelUri": "file:///m.onnx",
        "steps": [{"type": "prune", "sparsity": 0.5, "mode": "dynamic"}],
        "evaluation": {"datasetUri": "file:///d.npz"},
        "artifactStore": "/tmp/a",
    }
    with pytest.raises(CompressError, match=r"steps\.0\.prune\.mode"):
        parse_spec(json.dumps(spec), "test")
