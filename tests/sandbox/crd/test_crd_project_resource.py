"""The project's own ModelDeployment CRD through the admission path, and properties of it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeldeploy.sandbox.apiserver.crd import CustomResourceSchema, validate_crd
from modeldeploy.sandbox.apiserver.crd.causes import go_float
from modeldeploy.sandbox.apiserver.crd.durations import parse_go_duration

from .helpers import EXAMPLES, load_project_crd

REASONS = {
    "FieldValueRequired",
    "FieldValueInvalid",
    "FieldValueNotSupported",
    "FieldValueTypeInvalid",
    "FieldValueForbidden",
    "FieldValueDuplicate",
    "FieldValueTooLong",
    "FieldValueTooMany",
}


@pytest.fixture(scope="module")
def project_schema() -> CustomResourceSchema:
    crd = load_project_crd()
    version = next(v["name"] for v in crd["spec"]["versions"] if v.get("storage"))
    return CustomResourceSchema.from_crd(crd, version)


def _load_example_resources() -> list[dict[str, Any]]:
    found = []
    for path in EXAMPLES:
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "ModelDeployment":
                found.append(document)
    return found


EXAMPLE_RESOURCES = _load_example_resources()


def example_resources() -> list[dict[str, Any]]:
    """Fresh copies of the ModelDeployments of examples/."""
    return copy.deepcopy(EXAMPLE_RESOURCES)


def test_the_project_crd_is_accepted() -> None:
    assert validate_crd(load_project_crd()) == []


@pytest.mark.parametrize("resource", EXAMPLE_RESOURCES, ids=lambda r: r["metadata"]["name"])
def test_every_example_is_admitted(
    project_schema: CustomResourceSchema, resource: dict[str, Any]
) -> None:
    admission = project_schema.review(resource, None)
    assert admission.causes == []
    assert admission.unknown_fields == []


def test_a_bad_rollout_is_refused_naming_the_fields(project_schema: CustomResourceSchema) -> None:
    resource = copy.deepcopy(example_resources()[0])
    resource["spec"].setdefault("rollout", {})["steps"] = [
        {"weight": 50},
        {"weight": 10},
        {"weight": 150},
    ]
    fields = {c.field for c in project_schema.admit(resource, None)[1]}
    assert "spec.rollout.steps[2].weight" in fields


def test_an_update_sees_the_old_object(project_schema: CustomResourceSchema) -> None:
    resource = example_resources()[0]
    stored, causes = project_schema.admit(resource, None)
    assert causes == []
    assert project_schema.admit(stored, stored) == (stored, [])


JSON_LEAVES = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
)
JSON = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
SPEC_KEYS = st.sampled_from(
    ["model", "compression", "serving", "rollout", "steps", "uri", "version", "weight"]
)
SPECS = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(SPEC_KEYS | st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=SPECS, status=JSON)
def test_any_json_is_answered_with_causes_never_an_exception(
    project_schema: CustomResourceSchema, spec: Any, status: Any
) -> None:
    resource = {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "fuzz", "namespace": "ml"},
        "spec": spec,
        "status": status,
    }
    admitted, causes = project_schema.admit(resource, None)
    assert all(c.field and c.message and c.reason in REASONS for c in causes)
    # What admission returns is pruned and defaulted: admitting it again changes nothing.
    again = project_schema.review(admitted, None)
    assert again.object == admitted
    assert again.unknown_fields == []


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_float_reads_back_as_the_same_number(number: float) -> None:
    assert float(go_float(number)) == number


@given(hours=st.integers(0, 1000), minutes=st.integers(0, 59), millis=st.integers(0, 59_999))
def test_go_durations(hours: int, minutes: int, millis: int) -> None:
    text = f"{hours}h{minutes}m{millis / 1000}s"
    parsed = parse_go_duration(text)
    assert parsed is not None
    expected_ms = ((hours * 60 + minutes) * 60) * 1000 + millis
    assert abs(parsed.total_seconds() * 1000 - expected_ms) < 1e-3


def leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in leaf_paths(v, (*prefix, k))] + [prefix]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in leaf_paths(v, (*prefix, i))] + [prefix]
    return [prefix]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), replacement=JSON)
def test_any_value_anywhere_in_a_valid_resource_is_answered_with_causes(
    project_schema: CustomResourceSchema, data: st.DataObject, replacement: Any
) -> None:
    resource = copy.deepcopy(data.draw(st.sampled_from(EXAMPLE_RESOURCES)))
    path = data.draw(st.sampled_from([p for p in leaf_paths(resource["spec"]) if p]))
    target = resource["spec"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = replacement
    stored, _ = project_schema.admit(EXAMPLE_RESOURCES[0], None)
    for old in (None, stored):
        admitted, causes = project_schema.admit(resource, old)
        assert all(c.field and c.message and c.reason in REASONS for c in causes)
        assert project_schema.review(admitted, old).object == admitted
