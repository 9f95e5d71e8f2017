"""Every example a user may apply is valid for the models and for the CRD users install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from modeldeploy.api.v1alpha1 import ModelDeployment, duration_seconds
from tests.api.conftest import EXAMPLES, load_yaml


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid_for_the_models(path: Path) -> None:
    resource = ModelDeployment.model_validate(load_yaml(path))
    assert resource.spec.model.version


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid_for_the_crd_schema(path: Path, open_api_schema: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(open_api_schema).validate(load_yaml(path))


def test_defaults_of_a_minimal_resource() -> None:
    spec = ModelDeployment.model_validate(
        load_yaml(Path(__file__).parents[2] / "examples/digits-served-as-is.yaml")
    ).spec
    assert spec.compression is None
    assert spec.serving.replicas == 2
    assert spec.serving.batching.max_batch_size == 32
    assert [(s.weight, s.pause) for s in spec.rollout.steps] == [(10, "60s"), (50, "120s")]
    assert [m.name for m in spec.rollout.analysis.metrics] == ["error-rate", "latency-p99-ms"]
    assert spec.rollout.keep_revisions == 3


def test_camel_case_on_the_wire() -> None:
    resource = ModelDeployment.model_validate(
        load_yaml(Path(__file__).parents[2] / "examples/digits-quantized-canary.yaml")
    )
    wire = resource.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert wire["spec"]["compression"]["evaluation"]["maxDrop"] == 0.01
    assert wire["spec"]["rollout"]["postPromotionWindow"] == "5m"
    assert ModelDeployment.model_validate(wire) == resource


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25), ("2h", 7200)],
)
def test_duration_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


def test_each_example_is_a_distinct_resource() -> None:
    """`kubectl apply -f examples/` creates every example, none overwriting another."""
    keys = [
        (load_yaml(path)["metadata"]["namespace"], load_yaml(path)["metadata"]["name"])
        for path in EXAMPLES
    ]
    assert len(set(keys)) == len(keys), keys
