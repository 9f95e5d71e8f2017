"""x-kubernetes-validations CEL rules: messages, paths, reasons, transition rules, libraries."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import messages, metrics_list, schema_for, widget


def rule_schema(*rules: dict[str, Any], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties
        or {
            "type": {"type": "string"},
            "mode": {"type": "string"},
            "calibrationUri": {"type": "string"},
            "replicas": {"type": "integer"},
            "maxDrop": {"type": "number"},
        },
        "x-kubernetes-validations": list(rules),
    }


QUANTIZE = {"rule": "self.type != 'quantize' || self.mode != 'static' || has(self.calibrationUri)"}


def test_failed_rule_default_message() -> None:
    assert messages(rule_schema(QUANTIZE), {"type": "quantize", "mode": "static"}) == [
        "spec: Invalid value: failed rule: self.type != 'quantize' || self.mode != "
        "'static' "
        "|| has(self.calibrationUri)"
    ]


def test_passing_rule() -> None:
    spec = {"type": "quantize", "mode": "static", "calibrationUri": "file:///c.npz"}
    assert messages(rule_schema(QUANTIZE), spec) == []


def test_message_and_field_path_and_reason() -> None:
    rule = {
        **QUANTIZE,
        "message": "static quantization needs calibrationUri",
        "fieldPath": ".calibrationUri",
        "reason": "FieldValueRequired",
    }
    _, causes = schema_for(rule_schema(rule)).admit(
        widget({"type": "quantize", "mode": "static"}), None
    )
    assert [(c.field, c.reason, c.message) for c in causes] == [
        (
            "spec.calibrationUri",
            "FieldValueRequired",
            "Required value: static quantization needs calibrationUri",
        )
    ]


def test_forbidden_reason() -> None:
    rule = {"rule": "self.replicas <= 10", "message": "too many", "reason": "FieldValueForbidden"}
    _, causes = schema_for(rule_schema(rule)).admit(widget({"replicas": 11}), None)
    assert (causes[0].reason, causes[0].message) == ("FieldValueForbidden", "Forbidden: too many")


def test_message_expression() -> None:
    rule = {
        "rule": "self.replicas <= 10",
        "messageExpression": "'replicas ' + string(self.replicas) + ' is over 10'",
    }
    assert messages(rule_schema(rule), {"replicas": 12}) == [
        "spec: Invalid value: replicas 12 is over 10"
    ]


def test_failing_message_expression_falls_back_to_the_message() -> None:
    rule = {"rule": "self.replicas <= 10", "message": "static", "messageExpression": "self.nope"}
    assert messages(rule_schema(rule), {"replicas": 12}) == ["spec: Invalid value: static"]


def test_evaluation_error_names_the_rule() -> None:
    rule = {"rule": "self.mode == 'static'"}
    assert messages(rule_schema(rule), {"type": "prune"}) == [
        "spec: Invalid value: \"object\": no such key: mode evaluating rule: self.mode == 'static'"
    ]


def test_number_fields_are_doubles_and_compare_with_ints() -> None:
    rule = {"rule": "self.maxDrop < 1"}
    assert messages(rule_schema(rule), {"maxDrop": 0}) == []
    assert messages(rule_schema(rule), {"maxDrop": 2}) != []


STEPS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"weight": {"type": "integer"}, "pause": {"type": "string"}},
    },
    "x-kubernetes-validations": [
        {"rule": "self.map(s, s.weight).isSorted()", "message": "weights must increase"},
        {"rule": "self.all(s, s.weight < 100)"},
    ],
}


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([10, 50], []),
        ([50, 10], ["spec.steps: Invalid value: weights must increase"]),
        (
            [10, 100],
            ["spec.steps: Invalid value: failed rule: self.all(s, s.weight < 100)"],
        ),
    ],
)
def test_list_rules(weights: list[int], expected: list[str]) -> None:
    spec = {"steps": [{"weight": w} for w in weights]}
    assert messages({"type": "object", "properties": {"steps": STEPS}}, spec) == expected


def test_rules_on_items_run_per_item_with_the_item_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"weight": {"type": "integer"}},
                    "x-kubernetes-validations": [{"rule": "self.weight % 5 == 0"}],
                },
            }
        },
    }
    assert messages(schema, {"steps": [{"weight": 5}, {"weight": 7}]}) == [
        "spec.steps[1]: Invalid value: failed rule: self.weight % 5 == 0"
    ]


def test_rules_on_map_values_use_the_key_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "limits": {
                "type": "object",
                "additionalProperties": {
                    "type": "string",
                    "x-kubernetes-validations": [{"rule": "self.matches('^[0-9]+$')"}],
                },
            }
        },
    }
    assert messages(schema, {"limits": {"gpu": "1", "cpu": "lots"}}) == [
        "spec.limits[cpu]: Invalid value: \"lots\": failed rule: self.matches('^[0-9]+$')"
    ]


IMMUTABLE = {
    "type": "object",
    "properties": {
        "uri": {
            "type": "string",
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "uri is immutable"}
            ],
        }
    },
}


def test_transition_rule_is_skipped_on_create() -> None:
    assert messages(IMMUTABLE, {"uri": "a"}) == []


def test_transition_rule_runs_on_update() -> None:
    assert messages(IMMUTABLE, {"uri": "b"}, old_spec={"uri": "a"}) == [
        'spec.uri: Invalid value: "b": uri is immutable'
    ]
    assert messages(IMMUTABLE, {"uri": "a"}, old_spec={"uri": "a"}) == []


def test_transition_rule_is_skipped_when_the_old_field_was_absent() -> None:
    assert messages(IMMUTABLE, {"uri": "b"}, old_spec={}) == []


def test_transition_rule_in_list_type_map_items_correlates_by_key() -> None:
    rule = {"rule": "self.max <= oldSelf.max", "message": "max may only go down"}
    schema = {
        "type": "object",
        "properties": {"metrics": metrics_list(**{"x-kubernetes-validations": [rule]})},
    }
    old = {"metrics": [{"name": "a", "max": 1}, {"name": "b", "max": 1}]}
    new = {"metrics": [{"name": "b", "max": 2}, {"name": "a", "max": 0.5}, {"name": "c", "max": 9}]}
    assert messages(schema, new, old_spec=old) == [
        "spec.metrics[0]: Invalid value: max may only go down"
    ]


def test_root_rules_see_metadata_name() -> None:
    schema = schema_for(
        {"type": "object"},
        **{"x-kubernetes-validations": [{"rule": "self.metadata.name.startsWith('w')"}]},
    )
    assert schema.admit(widget({}), None)[1] == []
    obj = widget({})
    obj["metadata"]["name"] = "x"
    assert [str(c) for c in schema.admit(obj, None)[1]] == [
        "<nil>: Invalid value: failed rule: self.metadata.name.startsWith('w')"
    ]


def test_reserved_and_dashed_property_names_are_escaped() -> None:
    schema = rule_schema(
        {"rule": "self.__namespace__ == 'ml' && self.max__dash__drop == 1"},
        namespace={"type": "string"},
        **{"max-drop": {"type": "integer"}},
    )
    assert messages(schema, {"namespace": "ml", "max-drop": 1}) == []
    assert messages(schema, {"namespace": "ml", "max-drop": 2}) != []


def test_duration_format_becomes_a_cel_duration() -> None:
    schema = rule_schema(
        {"rule": "self.pause <= duration('10m')"},
        pause={"type": "string", "format": "duration"},
    )
    assert messages(schema, {"pause": "90s"}) == []
    assert messages(schema, {"pause": "1h"}) != []


def test_date_time_format_becomes_a_timestamp() -> None:
    schema = rule_schema(
        {"rule": "self.at > timestamp('2020-01-01T00:00:00Z')"},
        at={"type": "string", "format": "date-time"},
    )
    assert messages(schema, {"at": "2026-11-23T19:00:00Z"}) == []
    assert messages(schema, {"at": "2019-11-23T19:00:00+02:00"}) != []


@pytest.mark.parametrize(
    "rule",
    [
        "[3, 1, 2].max() == 3 && [3, 1, 2].min() == 1 && [1, 2, 3].sum() == 6",
        "[1.5, 2.5].sum() == 4.0 && [1, 2, 2].isSorted() && ![2, 1].isSorted()",
        "['a', 'b', 'a'].indexOf('a') == 0 && ['a', 'b', 'a'].lastIndexOf('a') == 2",
        "'hello'.indexOf('l') == 2 && 'hello'.lastIndexOf('l') == 3 && 'hello'.charAt(1) == 'e'",
        "'Hello'.lowerAscii() == 'hello' && 'Hello'.upperAscii() == 'HELLO'",
        "'a,b,c'.split(',') == ['a', 'b', 'c'] && 'a,b,c'.split(',', 2) == ['a', 'b,c']",
        "'hello'.substring(1, 3) == 'el' && '  x '.trim() == 'x' && ['a', 'b'].join('-') == 'a-b'",
        "'aaa'.replace('a', 'b', 2) == 'bba' && 'abc'.reverse() == 'cba'",
        "'x1y22'.find('[0-9]+') == '1' && 'x1y22'.findAll('[0-9]+') == ['1', '22']",
        "size('abc') == 3 && 'abc'.startsWith('a') && 'abc'.endsWith('c') && 'abc'.contains('b')",
        "[1, 2, 3].exists_one(x, x == 2) && [1, 2, 3].filter(x, x > 1).size() == 2",
        "duration('1h') > duration('59m') && 'abc'.matches('^a')",
        "quantity('1Gi') == quantity('1024Mi') && quantity('1') != quantity('2')",
        "quantity('500m').isLessThan(quantity('1'))",
        "quantity('2k').isGreaterThan(quantity('1.5k'))",
        "quantity('1.5').compareTo(quantity('1500m')) == 0 && quantity('-1').sign() == -1",
        "quantity('1Ki').asInteger() == 1024 && !quantity('0.5').isInteger()",
        "quantity('1e3').add(quantity('24')).asInteger() == 1024",
        "quantity('1').sub(3).sign() == -1",
        "quantity('250m').asApproximateFloat() == 0.25",
        "isQuantity('10Gi') && !isQuantity('10 Gi') && !isQuantity('1Xi')",
    ],
)
def test_kubernetes_cel_libraries(rule: str) -> None:
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": rule}]}
    assert messages(schema, {}) == []


def test_overload_error_is_reported_not_raised() -> None:
    schema = rule_schema({"rule": "self.replicas + 'x' == 1"})
    assert messages(schema, {"replicas": 1}) == [
        "spec: Invalid value: \"object\": 'no such overload': call arguments did not match a "
        "supported operator, function or macro signature for rule: self.replicas + 'x' == 1"
    ]


def test_blocking_schema_error_skips_rules() -> None:
    schema = rule_schema({"rule": "self.replicas < 5"})
    found = messages(schema, {"replicas": "many"})
    assert len(found) == 2
    assert found[1].startswith("<nil>: Invalid value: null: some validation rules were not checked")


def test_unchanged_value_is_not_rechecked_by_plain_rules() -> None:
    schema = {
        "type": "object",
        "properties": {
            "replicas": {
                "type": "integer",
                "x-kubernetes-validations": [{"rule": "self <= 10"}, {"rule": "self >= oldSelf"}],
            },
            "note": {"type": "string"},
        },
    }
    assert messages(schema, {"replicas": 20, "note": "b"}, old_spec={"replicas": 20}) == []
    assert messages(schema, {"replicas": 19}, old_spec={"replicas": 20}) == [
        "spec.replicas: Invalid value: 19: failed rule: self <= 10",
        "spec.replicas: Invalid value: 19: failed rule: self >= oldSelf",
    ]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("self.mode.substring(5) == ''", "index out of range: 5 evaluating rule"),
        ("self.replicas.lowerAscii() == 'x'", "'no such overload': call arguments did not match"),
        ("[1, 2][5] == 1", "index out of bounds: 5 evaluating rule"),
        ("self.replicas / 0 == 1", "division by zero evaluating rule"),
    ],
)
def test_evaluation_failures_are_field_errors(rule: str, reason: str) -> None:
    (found,) = messages(rule_schema({"rule": rule}), {"mode": "abc", "replicas": 1})
    assert found.startswith(f'spec: Invalid value: "object": {reason}')


NUMBERS = {
    "type": "object",
    "properties": {"values": {"type": "array", "items": {"type": "integer"}}},
}


def library_rule_holds(rule: str, values: list[int]) -> bool:
    schema = {**NUMBERS, "x-kubernetes-validations": [{"rule": rule}]}
    return messages(schema, {"values": values}) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=8))
def test_list_library_agrees_with_python(values: list[int]) -> None:
    assert library_rule_holds("self.values.isSorted()", values) == (values == sorted(values))
    assert library_rule_holds(f"self.values.sum() == {sum(values)}", values)
    assert library_rule_holds(
        f"self.values.min() == {min(values)} && self.values.max() == {max(values)}", values
    )
    first = values[len(values) // 2]
    assert library_rule_holds(f"self.values.indexOf({first}) == {values.index(first)}", values)
    last = len(values) - 1 - values[::-1].index(first)
    assert library_rule_holds(f"self.values.lastIndexOf({first}) == {last}", values)


def test_quantity_of_a_field() -> None:
    schema = rule_schema(
        {"rule": "quantity(self.memory).isLessThan(quantity('4Gi'))", "message": "at most 4Gi"},
        memory={"type": "string"},
    )
    assert messages(schema, {"memory": "512Mi"}) == []
    assert messages(schema, {"memory": "8Gi"}) == ["spec: Invalid value: at most 4Gi"]
    assert messages(schema, {"memory": "lots"}) == [
        'spec: Invalid value: "object": quantities must match the regular expression '
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' evaluating rule: at most 4Gi"
    ]
