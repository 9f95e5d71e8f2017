"""Pruning of unknown fields and structural defaulting, as kube-apiserver does them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from .helpers import admitted_spec, schema_for, widget, with_template

SERVING = {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer", "default": 1},
        "image": {"type": "string", "default": ""},
        "batching": {
            "type": "object",
            "properties": {
                "maxBatchSize": {"type": "integer", "default": 32},
                "maxDelayMs": {"type": "integer", "default": 5},
            },
        },
        "resources": {
            "type": "object",
            "default": {},
            "properties": {
                "limits": {
                    "type": "object",
                    "default": {"cpu": "1"},
                    "additionalProperties": {"type": "string"},
                }
            },
        },
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": "string", "default": "on"},
                },
            },
        },
        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def test_unknown_fields_are_pruned_and_reported() -> None:
    obj: dict[str, Any] = widget(
        {"replicas": 2, "colour": "blue", "batching": {"maxBatchSize": 8, "x": 1}}
    )
    obj["status"] = {"anything": 1}
    obj["topLevel"] = True
    admission = schema_for(SERVING).review(obj, None)
    assert "colour" not in admission.object["spec"]
    assert "x" not in admission.object["spec"]["batching"]
    assert "topLevel" not in admission.object
    # status has no schema in this CRD, so all of it is unknown.
    assert "status" not in admission.object
    assert sorted(admission.unknown_fields) == [
        "spec.batching.x",
        "spec.colour",
        "status",
        "topLevel",
    ]
    assert admission.causes == []


def test_resource_fields_survive_pruning_at_the_root() -> None:
    obj = widget({})
    obj["metadata"]["labels"] = {"a": "b"}
    admitted, _ = schema_for(SERVING).admit(obj, None)
    assert admitted["apiVersion"] == "example.com/v1"
    assert admitted["kind"] == "Widget"
    assert admitted["metadata"] == obj["metadata"]


def test_the_input_object_is_left_alone() -> None:
    obj = widget({"colour": "blue"})
    schema_for(SERVING).admit(obj, None)
    assert obj["spec"] == {"colour": "blue"}


def test_preserve_unknown_fields_keeps_everything_below() -> None:
    spec = admitted_spec(SERVING, {"extra": {"free": {"form": [1, 2]}}})
    assert spec["extra"] == {"free": {"form": [1, 2]}}


def test_preserve_unknown_fields_still_prunes_inside_known_properties() -> None:
    schema = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"known": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    admission = schema_for(schema).review(widget({"free": 1, "known": {"a": "x", "b": "y"}}), None)
    assert admission.object["spec"] == {"free": 1, "known": {"a": "x"}}
    assert admission.unknown_fields == ["spec.known.b"]


def test_embedded_resource_keeps_its_type_fields_and_object_meta_only() -> None:
    free_spec = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema = with_template(properties={"spec": free_spec})
    template = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "bogus": 1},
        "spec": {"containers": []},
        "status": {},
    }
    admission = schema_for(schema).review(widget({"template": template}), None)
    assert admission.object["spec"]["template"] == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}},
        "spec": {"containers": []},
    }
    assert sorted(admission.unknown_fields) == [
        "spec.template.metadata.bogus",
        "spec.template.status",
    ]


def test_defaults_fill_missing_fields_only() -> None:
    spec = admitted_spec(SERVING, {"replicas": 3})
    assert spec["replicas"] == 3
    assert spec["image"] == ""


def test_missing_object_without_default_is_not_created() -> None:
    spec = admitted_spec(SERVING, {})
    assert "batching" not in spec


def test_defaults_apply_inside_a_present_object() -> None:
    spec = admitted_spec(SERVING, {"batching": {"maxBatchSize": 4}})
    assert spec["batching"] == {"maxBatchSize": 4, "maxDelayMs": 5}


def test_object_default_gets_its_own_fields_defaults() -> None:
    spec = admitted_spec(SERVING, {})
    assert spec["resources"] == {"limits": {"cpu": "1"}}


def test_defaults_apply_to_every_list_item() -> None:
    spec = admitted_spec(SERVING, {"env": [{"name": "A"}, {"name": "B", "value": "off"}]})
    assert spec["env"] == [{"name": "A", "value": "on"}, {"name": "B", "value": "off"}]


def test_null_of_a_defaulted_field_gets_the_default() -> None:
    spec = admitted_spec(SERVING, {"replicas": None})
    assert spec["replicas"] == 1


def test_nullable_null_keeps_null_even_with_a_default() -> None:
    schema = {
        "type": "object",
        "properties": {"x": {"type": "string", "nullable": True, "default": "d"}},
    }
    assert admitted_spec(schema, {"x": None}) == {"x": None}


def test_defaults_are_copies() -> None:
    schema_object = schema_for(SERVING)
    first, _ = schema_object.admit(widget({}), None)
    first["spec"]["resources"]["limits"]["cpu"] = "changed"
    second, _ = schema_object.admit(widget({}), None)
    assert second["spec"]["resources"]["limits"] == {"cpu": "1"}


def test_defaulted_value_is_validated() -> None:
    schema = {
        "type": "object",
        "properties": {"spec2": {"type": "object", "required": ["a"], "default": {}}},
    }
    _, causes = schema_for(schema).admit(widget({}), None)
    assert str(causes[0]) == "spec.spec2.a: Required value"


EXTRA_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6).filter(
    lambda name: name not in SERVING["properties"] and name not in ("maxBatchSize", "maxDelayMs")
)


@settings(max_examples=60, deadline=None)
@given(
    replicas=st.integers(0, 10),
    batch_size=st.none() | st.integers(1, 64),
    extra_top=st.dictionaries(EXTRA_NAMES, st.integers(), max_size=3),
    extra_batching=st.dictionaries(EXTRA_NAMES, st.text(max_size=3), max_size=3),
)
def test_exactly_the_unknown_fields_are_pruned(
    replicas: int, batch_size: int | None, extra_top: dict[str, int], extra_batching: dict[str, str]
) -> None:
    batching: dict[str, Any] = {} if batch_size is None else {"maxBatchSize": batch_size}
    spec = {"replicas": replicas, "batching": {**batching, **extra_batching}, **extra_top}
    admission = schema_for(SERVING).review(widget(spec), None)
    expected = {f"spec.{name}" for name in extra_top} | {
        f"spec.batching.{name}" for name in extra_batching
    }
    assert set(admission.unknown_fields) == expected
    assert admission.object["spec"]["replicas"] == replicas
    assert admission.object["spec"]["batching"]["maxBatchSize"] == (batch_size or 32)
    assert admission.causes == []
