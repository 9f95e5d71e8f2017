"""validate_crd: the CRDs a real API server refuses, and why, in its words."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.apiserver.crd import validate_crd

from .helpers import make_crd


def schema_causes(spec_schema: dict[str, Any]) -> list[str]:
    return [str(c) for c in validate_crd(make_crd(spec_schema))]


# A schema every version shares is checked once, where kube-apiserver's internal form has it.
ROOT = "spec.validation.openAPIV3Schema"


def test_a_valid_crd_has_no_causes() -> None:
    assert validate_crd(make_crd({"type": "object", "properties": {"a": {"type": "string"}}})) == []


def test_name_must_be_plural_dot_group() -> None:
    crd = make_crd({"type": "object"})
    crd["metadata"]["name"] = "widget.example.com"
    assert [str(c) for c in validate_crd(crd)] == [
        'metadata.name: Invalid value: "widget.example.com": must be '
        'spec.names.plural+"."+spec.group'
    ]


def test_group_needs_a_dot() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["group"] = "example"
    crd["metadata"]["name"] = "widgets.example"
    assert 'spec.group: Invalid value: "example": should be a domain with at least one dot' in [
        str(c) for c in validate_crd(crd)
    ]


def test_scope_is_an_enum() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["scope"] = "Global"
    assert [str(c) for c in validate_crd(crd)] == [
        'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'
    ]


def test_exactly_one_storage_version() -> None:
    crd = make_crd({"type": "object"})
    second = {**crd["spec"]["versions"][0], "name": "v2"}
    crd["spec"]["versions"].append(second)
    causes = validate_crd(crd)
    assert [(c.field, c.reason) for c in causes] == [("spec.versions", "FieldValueInvalid")]
    assert causes[0].message.endswith("must have exactly one version marked as storage version")


def test_version_names_unique_and_dns_labels() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["versions"][0]["name"] = "V1"
    assert validate_crd(crd)[0].field == "spec.versions[0].name"


def test_plural_must_be_lowercase() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["names"]["plural"] = "Widgets"
    crd["metadata"]["name"] = "Widgets.example.com"
    assert "spec.names.plural" in [c.field for c in validate_crd(crd)]


def test_schema_is_required() -> None:
    crd = make_crd({"type": "object"})
    del crd["spec"]["versions"][0]["schema"]
    assert [str(c) for c in validate_crd(crd)] == [
        "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"
    ]


def test_root_must_be_an_object() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["type"] = "string"
    assert f'{ROOT}.type: Invalid value: "string": must be object at the root' in [
        str(c) for c in validate_crd(crd)
    ]


@pytest.mark.parametrize(
    ("spec_schema", "expected"),
    [
        (
            {"type": "object", "properties": {"a": {"description": "untyped"}}},
            f"{ROOT}.properties[spec].properties[a].type: Required value: must not be empty for "
            f"specified object fields",
        ),
        (
            {"type": "array"},
            f"{ROOT}.properties[spec].items: Required value: must be specified",
        ),
        (
            {"type": "array", "items": {}},
            f"{ROOT}.properties[spec].items.type: Required value: must not be empty for "
            f"specified array items",
        ),
        (
            {"type": "object", "properties": {"a": {"$ref": "#/definitions/x", "type": "string"}}},
            f"{ROOT}.properties[spec].properties[a].$ref: Forbidden: $ref is not supported",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
            f"{ROOT}.properties[spec].additionalProperties: Forbidden: additionalProperties and "
            f"properties are mutual exclusive",
        ),
        (
            {"type": "object", "x-kubernetes-preserve-unknown-fields": False},
            f"{ROOT}.properties[spec].x-kubernetes-preserve-unknown-fields: Invalid value: "
            f"false: must be true or undefined",
        ),
        (
            {"type": "array", "uniqueItems": True, "items": {"type": "string"}},
            f"{ROOT}.properties[spec].uniqueItems: Forbidden: uniqueItems cannot be set to true "
            f"since the runtime complexity becomes quadratic",
        ),
        (
            {"type": "date"},
            f'{ROOT}.properties[spec].type: Unsupported value: "date": supported values: '
            f'"array", "boolean", "integer", "number", "object", "string"',
        ),
        (
            {"type": "string", "x-kubernetes-int-or-string": True},
            f'{ROOT}.properties[spec].type: Invalid value: "string": must be empty if '
            f"x-kubernetes-int-or-string is true",
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "items": {"type": "object", "properties": {"k": {"type": "string"}}},
            },
            f"{ROOT}.properties[spec].x-kubernetes-list-map-keys: Required value: must not be "
            f"empty if x-kubernetes-list-type is map",
        ),
        (
            {
                "type": "array",
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["k"],
                "items": {"type": "object", "properties": {"k": {"type": "string"}}},
            },
            f"{ROOT}.properties[spec].items.properties[k]: Required value: this property is in "
            f"x-kubernetes-list-map-keys, so it must have a default or be a required property",
        ),
        (
            {"type": "string", "pattern": "(unclosed"},
            f'{ROOT}.properties[spec].pattern: Invalid value: "(unclosed": must be a valid '
            f"regular expression, but isn't",
        ),
    ],
)
def test_structural_schema_rules(spec_schema: dict[str, Any], expected: str) -> None:
    assert expected in schema_causes(spec_schema)


def test_untyped_is_fine_with_int_or_string_or_preserve_unknown() -> None:
    schema = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True},
            "free": {"x-kubernetes-preserve-unknown-fields": True},
        },
    }
    assert schema_causes(schema) == []


def test_metadata_may_only_constrain_name_and_generate_name() -> None:
    crd = make_crd({"type": "object"})
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    root["properties"]["metadata"] = {
        "type": "object",
        "properties": {"labels": {"type": "object"}},
    }
    assert [str(c) for c in validate_crd(crd)] == [
        f"{ROOT}.properties[metadata]: Forbidden: must not specify anything other than name and "
        "generateName, but metadata is implicitly specified"
    ]


def test_default_must_validate_against_its_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"replicas": {"type": "integer", "minimum": 1, "default": 0}},
    }
    path = f"{ROOT}.properties[spec].properties[replicas].default"
    assert schema_causes(schema) == [
        f"{path}: Invalid value: 0: {path} in body should be greater than or equal to 1"
    ]


def test_default_must_be_pruned() -> None:
    schema = {
        "type": "object",
        "properties": {
            "batching": {
                "type": "object",
                "properties": {"size": {"type": "integer"}},
                "default": {"sise": 3},
            }
        },
    }
    causes = validate_crd(make_crd(schema))
    assert causes[0].field == f"{ROOT}.properties[spec].properties[batching].default"
    assert "must not have unknown fields" in causes[0].message


def test_rule_must_compile() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.a =="}]}
    causes = validate_crd(make_crd(schema))
    assert causes[0].field == f"{ROOT}.properties[spec].x-kubernetes-validations[0].rule"
    assert causes[0].message.startswith(
        'Invalid value: "self.a ==": compilation failed: ERROR: <input>:1:'
    )


def test_rule_may_only_reference_self_and_old_self() -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.all(k, k != other)"}]}
    (cause,) = validate_crd(make_crd(schema))
    assert "undeclared reference to 'other'" in cause.message


def test_transition_rule_inside_an_atomic_list_is_refused() -> None:
    schema = {
        "type": "array",
        "items": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf"}]},
    }
    (cause,) = validate_crd(make_crd(schema))
    assert "oldSelf cannot be used on the uncorrelatable portion of the schema" in cause.message


def test_rule_reason_and_field_path() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "x-kubernetes-validations": [
            {"rule": "true", "reason": "FieldValueWrong"},
            {"rule": "true", "fieldPath": ".b"},
            {"rule": "true", "fieldPath": ".a"},
        ],
    }
    assert [c.field for c in validate_crd(make_crd(schema))] == [
        f"{ROOT}.properties[spec].x-kubernetes-validations[0].reason",
        f"{ROOT}.properties[spec].x-kubernetes-validations[1].fieldPath",
    ]


def test_scale_subresource_paths() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["versions"][0]["subresources"]["scale"] = {"specReplicasPath": ".status.replicas"}
    assert [str(c) for c in validate_crd(crd)] == [
        'spec.subresources.scale.specReplicasPath: Invalid value: ".status.replicas": '
        "should be a json path under .spec",
        "spec.subresources.scale.statusReplicasPath: Required value",
    ]


def test_printer_column_type() -> None:
    crd = make_crd({"type": "object"})
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Age", "type": "time", "jsonPath": ".x"}
    ]
    assert [c.field for c in validate_crd(crd)] == ["spec.additionalPrinterColumns[0].type"]


def test_garbage_is_refused_not_raised() -> None:
    assert validate_crd({"spec": "nope"}) == validate_crd({"spec": "nope"})
    assert [c.field for c in validate_crd({"spec": "nope"})] == ["spec"]
    crd = make_crd({"type": "object"})
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"] = {
        "spec": ["not", "a", "schema"]
    }
    assert validate_crd(crd)[0].field == f"{ROOT}.properties[spec]"


def test_default_is_checked_by_every_rule_as_an_update_of_itself() -> None:
    rules = [
        {"rule": "self % 2 == 0", "message": "must be even"},
        {"rule": "self != oldSelf", "message": "must change"},
    ]
    schema = {
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "default": 7, "x-kubernetes-validations": rules}
        },
    }
    path = f"{ROOT}.properties[spec].properties[replicas].default"
    # kube-apiserver evaluates with oldSelf == self and no ratcheting: both rules fail.
    assert schema_causes(schema) == [
        f"{path}: Invalid value: 7: must be even",
        f"{path}: Invalid value: 7: must change",
    ]


FIELDS = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer"},
        "max-drop": {"type": "number"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "steps": {
            "type": "array",
            "items": {"type": "object", "properties": {"weight": {"type": "integer"}}},
        },
        "metrics": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def rule_causes(rule: str) -> list[str]:
    return schema_causes({**FIELDS, "x-kubernetes-validations": [{"rule": rule}]})


@pytest.mark.parametrize(
    ("rule", "undefined"),
    [
        ("self.replica > 1", "ERROR: <input>:1:5: undefined field 'replica'"),
        (
            "has(self.replicas) && has(self.replica)",
            "ERROR: <input>:1:31: undefined field 'replica'",
        ),
        ("self.steps.all(s, s.wieght < 100)", "ERROR: <input>:1:20: undefined field 'wieght'"),
        (
            "oldSelf.steps.size() == self.stepz.size()",
            "ERROR: <input>:1:29: undefined field 'stepz'",
        ),
    ],
)
def test_rules_selecting_undefined_fields_are_refused(rule: str, undefined: str) -> None:
    path = f"{ROOT}.properties[spec].x-kubernetes-validations[0].rule"
    assert rule_causes(rule) == [
        f'{path}: Invalid value: "{rule}": compilation failed: {undefined}'
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "self.replicas > 1 && self.max__dash__drop < 1.0",
        "self.labels.team == 'ml' && self.free.anything.goes",
        "self.steps.all(s, s.weight < 100) && self.metrics.all(s, s.name != '')",
        "self.steps.map(s, s.weight).isSorted() && 'self.nope' != ''",
        "self.metrics.exists(m, m.name == 'x') || self.replicas.string() == '1'",
    ],
)
def test_rules_selecting_known_fields_are_accepted(rule: str) -> None:
    assert rule_causes(rule) == []


def test_value_validations_may_not_set_types_or_defaults() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "anyOf": [{"type": "object", "required": ["a"]}, {"properties": {"a": {"default": "x"}}}],
        "not": {"properties": {"b": {"nullable": True}}},
    }
    at = f"{ROOT}.properties[spec]"
    assert schema_causes(schema) == [
        f"{at}.anyOf[0].type: Forbidden: must be empty to be structural",
        f"{at}.anyOf[1].properties[a].default: Forbidden: must be undefined to be structural",
        f"{at}.not.properties[b].nullable: Forbidden: must be false to be structural",
        f"{at}.properties[b]: Required value: because it is defined in {at}.not.properties[b]",
    ]


def test_int_or_string_may_spell_out_its_types() -> None:
    any_of = [{"type": "integer"}, {"type": "string"}]
    schema = {
        "type": "object",
        "properties": {
            "port": {"x-kubernetes-int-or-string": True, "anyOf": any_of},
            "size": {
                "x-kubernetes-int-or-string": True,
                "allOf": [{"anyOf": any_of}, {"pattern": "^[0-9]+"}],
            },
        },
    }
    assert schema_causes(schema) == []
