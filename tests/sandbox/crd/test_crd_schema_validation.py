"""OpenAPI schema validation of custom resources, with kube-apiserver's field paths and words."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.apiserver.crd import CustomResourceSchema

from .helpers import make_crd, messages, metrics_list, schema_for, widget, with_template

STEPS = {
    "type": "object",
    "properties": {
        "rollout": {
            "type": "object",
            "properties": {
                "steps": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 3,
                    "items": {
                        "type": "object",
                        "required": ["weight"],
                        "properties": {
                            "weight": {"type": "integer", "minimum": 1, "maximum": 99},
                            "pause": {"type": "string", "pattern": "^[0-9]+(s|m|h)$"},
                        },
                    },
                }
            },
        }
    },
}


def test_maximum_names_the_list_item_field() -> None:
    spec = {"rollout": {"steps": [{"weight": 10}, {"weight": 150}]}}
    assert messages(STEPS, spec) == [
        "spec.rollout.steps[1].weight: Invalid value: 150: "
        "spec.rollout.steps[1].weight in body should be less than or equal to 99"
    ]


def test_required_field_of_an_item() -> None:
    spec = {"rollout": {"steps": [{"pause": "10s"}]}}
    found = messages(STEPS, spec)
    assert found[0] == "spec.rollout.steps[0].weight: Required value"
    # Like the real server, a required-field error stops the CEL rules from running.
    assert found[1] == (
        "<nil>: Invalid value: null: some validation rules were not checked because the object "
        "was invalid; correct the existing errors to complete validation"
    )


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            [],
            "spec.rollout.steps: Invalid value: 0: spec.rollout.steps in body should have at "
            "least 1 items",
        ),
        ([{"weight": 1}] * 4, "spec.rollout.steps: Too many: 4: must have at most 3 items"),
    ],
)
def test_item_counts(steps: list[Any], expected: str) -> None:
    assert messages(STEPS, {"rollout": {"steps": steps}})[0] == expected


def test_pattern() -> None:
    found = messages(STEPS, {"rollout": {"steps": [{"weight": 5, "pause": "soon"}]}})
    assert found == [
        'spec.rollout.steps[0].pause: Invalid value: "soon": '
        "spec.rollout.steps[0].pause in body should match '^[0-9]+(s|m|h)$'"
    ]


def test_wrong_type_is_type_invalid() -> None:
    _, causes = schema_for(STEPS).admit(widget({"rollout": {"steps": [{"weight": "ten"}]}}), None)
    assert causes[0].field == "spec.rollout.steps[0].weight"
    assert causes[0].reason == "FieldValueTypeInvalid"
    assert causes[0].message == (
        'Invalid value: "string": spec.rollout.steps[0].weight in body must be of type '
        'integer: "string"'
    )


def test_integral_float_is_an_integer_and_int_is_a_number() -> None:
    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer"}, "ratio": {"type": "number", "maximum": 1}},
    }
    assert messages(schema, {"count": 3.0, "ratio": 1}) == []
    assert messages(schema, {"count": 2.5, "ratio": 1.5}) == [
        'spec.count: Invalid value: "number": spec.count in body must be of type integer: "number"',
        "spec.ratio: Invalid value: 1.5: spec.ratio in body should be less than or equal to 1",
        "<nil>: Invalid value: null: some validation rules were not checked because the object "
        "was invalid; correct the existing errors to complete validation",
    ]


def test_boolean_is_not_a_number() -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}}
    assert messages(schema, {"count": True})[0] == (
        'spec.count: Invalid value: "boolean": spec.count in body must be of type integer: '
        '"boolean"'
    )


def test_enum_lists_the_supported_values() -> None:
    schema = {
        "type": "object",
        "properties": {"mode": {"type": "string", "enum": ["dynamic", "static"]}},
    }
    _, causes = schema_for(schema).admit(widget({"mode": "fast"}), None)
    assert [(c.field, c.reason, c.message) for c in causes[:1]] == [
        (
            "spec.mode",
            "FieldValueNotSupported",
            'Unsupported value: "fast": supported values: "dynamic", "static"',
        )
    ]


def test_numeric_enum_quotes_json_values() -> None:
    schema = {"type": "object", "properties": {"bits": {"type": "integer", "enum": [4, 8]}}}
    assert (
        messages(schema, {"bits": 3})[0]
        == 'spec.bits: Unsupported value: 3: supported values: "4", "8"'
    )


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ({"minimum": 0, "exclusiveMinimum": True}, 0, "should be greater than 0"),
        ({"minimum": 0.5}, 0.25, "should be greater than or equal to 0.5"),
        ({"maximum": 10, "exclusiveMaximum": True}, 10, "should be less than 10"),
        ({"multipleOf": 0.25}, 0.3, "should be a multiple of 0.25"),
        ({"multipleOf": 5}, 12, "should be a multiple of 5"),
    ],
)
def test_number_bounds(keyword: dict[str, Any], value: float, expected: str) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number", **keyword}}}
    found = messages(schema, {"x": value})
    assert found[0].endswith(f"spec.x in body {expected}")


def test_multiple_of_accepts_exact_multiples() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "number", "multipleOf": 0.1}}}
    assert messages(schema, {"x": 0.3}) == []


def test_string_lengths_count_characters() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 2, "maxLength": 3}},
    }
    assert messages(schema, {"name": "ééé"}) == []
    assert (
        messages(schema, {"name": "abcd"})[0] == "spec.name: Too long: may not be more than 3 bytes"
    )
    assert messages(schema, {"name": "a"})[0] == (
        'spec.name: Invalid value: "a": spec.name in body should be at least 2 chars long'
    )


def test_properties_counts() -> None:
    schema = {
        "type": "object",
        "properties": {
            "labels": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 2,
                "additionalProperties": {"type": "string"},
            }
        },
    }
    assert messages(schema, {"labels": {}})[0] == (
        "spec.labels: Invalid value: 0: spec.labels in body should have at least 1 properties"
    )
    assert messages(schema, {"labels": {"a": "1", "b": "2", "c": "3"}})[0] == (
        "spec.labels: Too many: 3: must have at most 2 items"
    )


def test_additional_properties_schema_checks_every_value() -> None:
    schema = {
        "type": "object",
        "properties": {
            "limits": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
        },
    }
    assert messages(schema, {"limits": {"gpu": -1, "cpu": 2}})[0] == (
        "spec.limits.gpu: Invalid value: -1: spec.limits.gpu in body should be greater than or "
        "equal to 0"
    )


def test_nullable_allows_null_and_non_nullable_null_is_dropped() -> None:
    schema = {
        "type": "object",
        "required": ["b"],
        "properties": {"a": {"type": "string", "nullable": True}, "b": {"type": "string"}},
    }
    obj, causes = schema_for(schema).admit(widget({"a": None, "b": None}), None)
    assert obj["spec"] == {"a": None}
    assert str(causes[0]) == "spec.b: Required value"


def test_null_list_item_is_a_type_error() -> None:
    schema = {
        "type": "object",
        "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
    }
    assert messages(schema, {"tags": ["a", None]})[0] == (
        'spec.tags[1]: Invalid value: "null": spec.tags[1] in body must be of type string: "null"'
    )


def test_int_or_string() -> None:
    schema = {
        "type": "object",
        "properties": {
            "port": {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            }
        },
    }
    assert messages(schema, {"port": 8080}) == []
    assert messages(schema, {"port": "http"}) == []
    assert messages(schema, {"port": 1.5})[0] == (
        'spec.port: Invalid value: "number": spec.port in body must be of type '
        'integer,string: "number"'
    )


def test_list_type_set_rejects_duplicates() -> None:
    schema = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}
        },
    }
    _, causes = schema_for(schema).admit(widget({"tags": ["a", "b", "a"]}), None)
    assert [(c.field, c.reason, c.message) for c in causes] == [
        ("spec.tags[2]", "FieldValueDuplicate", 'Duplicate value: "a"')
    ]


def test_list_type_map_rejects_duplicate_keys() -> None:
    schema = {"type": "object", "properties": {"metrics": metrics_list()}}
    spec = {"metrics": [{"name": "error-rate", "max": 0.1}, {"name": "error-rate", "max": 0.2}]}
    assert messages(schema, spec) == ['spec.metrics[1]: Duplicate value: {"name":"error-rate"}']


@pytest.mark.parametrize(
    ("format_name", "good", "bad"),
    [
        ("date-time", "2026-11-23T19:00:00Z", "yesterday"),
        ("date", "2026-02-28", "2026-02-30"),
        ("duration", "1h30m", "forever"),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", "123"),
        ("ipv4", "10.0.0.1", "10.0.0.256"),
        ("ipv6", "::1", "10.0.0.1"),
        ("cidr", "10.0.0.0/8", "10.0.0.0"),
        ("byte", "aGVsbG8=", "not base64!"),
        ("hostname", "models.example.com", "-bad-.example"),
        ("email", "ml@example.com", "not-an-email"),
        ("mac", "00:1a:2b:3c:4d:5e", "00:1a"),
    ],
)
def test_formats(format_name: str, good: str, bad: str) -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "format": format_name}}}
    assert messages(schema, {"x": good}) == []
    _, causes = schema_for(schema).admit(widget({"x": bad}), None)
    assert causes[0].reason == "FieldValueTypeInvalid"
    assert (
        causes[0].message
        == f'Invalid value: "{bad}": spec.x in body must be of type {format_name}: "{bad}"'
    )


def test_unknown_format_is_not_checked() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "format": "int-or-banana"}}}
    assert messages(schema, {"x": "anything"}) == []


def test_int32_format_is_not_a_string_check() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer", "format": "int32"}}}
    assert messages(schema, {"x": 7}) == []


def test_one_of_and_not() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
        "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
        "not": {"required": ["a", "b"]},
    }
    assert messages(schema, {"a": "x"}) == []
    found = messages(schema, {"a": "x", "b": "y"})
    assert any(
        m.endswith("spec in body must validate one and only one schema (oneOf)") for m in found
    )
    assert any(m.endswith("spec in body must not validate the schema (not)") for m in found)


def test_metadata_name_checked_against_the_schema() -> None:
    crd = make_crd({"type": "object"})
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    root["properties"]["metadata"] = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 3}},
    }
    obj = widget({})
    obj["metadata"]["name"] = "much-too-long"
    _, causes = CustomResourceSchema.from_crd(crd, "v1").admit(obj, None)
    assert str(causes[0]) == "metadata.name: Too long: may not be more than 3 bytes"


def test_embedded_resource_needs_api_version_and_kind() -> None:
    schema = with_template(**{"x-kubernetes-preserve-unknown-fields": True})
    found = messages(schema, {"template": {"metadata": {"name": "x"}}})
    assert found[:2] == [
        "spec.template.apiVersion: Required value: must not be empty",
        "spec.template.kind: Required value: must not be empty",
    ]


def test_update_ratchets_errors_of_unchanged_values() -> None:
    # Stored under an older, looser schema: weight 150 is now too high.
    stored = {"rollout": {"steps": [{"weight": 150, "pause": "10s"}]}}
    touched = {"rollout": {"steps": [{"weight": 150, "pause": "20s"}]}}
    assert messages(STEPS, touched, old_spec=stored) != []  # a plain list is atomic: it changed
    assert messages(STEPS, stored, old_spec=stored) == []
    raised = {"rollout": {"steps": [{"weight": 151, "pause": "10s"}]}}
    assert messages(STEPS, raised, old_spec=stored)[0].startswith("spec.rollout.steps[0].weight:")


def test_update_ratchets_an_unchanged_field_beside_a_changed_one() -> None:
    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer", "maximum": 3}, "note": {"type": "string"}},
    }
    assert messages(schema, {"count": 9, "note": "new"}, old_spec={"count": 9, "note": "old"}) == []
    assert messages(schema, {"count": 9, "note": "new"}, old_spec={"count": 8})[0].startswith(
        "spec.count: Invalid value: 9"
    )
