"""The checks kube-apiserver makes on a CRD version's `openAPIV3Schema`.

A structural schema (the only kind apiextensions.k8s.io/v1 accepts): every node typed
(except int-or-string and preserve-unknown-fields nodes), no `$ref`, arrays with
`items`, no `properties` beside `additionalProperties`, valid Kubernetes extensions,
regular expressions that compile, defaults that are pruned and valid, and CEL rules
that compile (transition rules only where old values correlate).
"""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.sandbox.apiserver.crd import causes, paths
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.cel_rules import (
    RuleCompileError,
    compile_rules,
    evaluate_rules,
)
from modeldeploy.sandbox.apiserver.crd.prune import prune_value
from modeldeploy.sandbox.apiserver.crd.rule_checks import check_rules
from modeldeploy.sandbox.apiserver.crd.schema import as_list, as_mapping, parse
from modeldeploy.sandbox.apiserver.crd.validation import compiled_pattern, validate_value
from modeldeploy.sandbox.apiserver.crd.value_validations import (
    INVALID_PATTERN,
    check_value_validations,
)

TYPES = ("array", "boolean", "integer", "number", "object", "string")
LIST_TYPES = ("atomic", "map", "set")
MAP_TYPES = ("atomic", "granular")
METADATA_ALLOWED = frozenset({"name", "generateName"})


def check_schema(raw: Any, path: str) -> list[Cause]:
    """Every reason a real API server would refuse this version schema."""
    if not isinstance(raw, dict):
        return [causes.required(path, "schemas are required")]
    found: list[Cause] = []
    root_type = raw.get("type")
    if not root_type:
        found.append(causes.required(paths.child(path, "type"), "must not be empty at the root"))
    elif root_type != "object":
        found.append(
            causes.invalid(paths.child(path, "type"), root_type, "must be object at the root")
        )
    _check_metadata(raw, path, found)
    _SchemaChecker(found).check(raw, path, correlatable=True, typed_position=False)
    return found


def _check_metadata(raw: dict[str, Any], path: str, found: list[Cause]) -> None:
    properties = raw.get("properties")
    metadata = properties.get("metadata") if isinstance(properties, dict) else None
    if not isinstance(metadata, dict):
        return
    extra_keywords = set(metadata) - {"type", "properties", "description"}
    named = as_mapping(metadata.get("properties"))
    if (
        extra_keywords
        or set(named) - METADATA_ALLOWED
        or metadata.get("type", "object") != "object"
    ):
        detail = (
            "must not specify anything other than name and generateName, "
            "but metadata is implicitly specified"
        )
        found.append(causes.forbidden(paths.child(path, "properties[metadata]"), detail))


class _SchemaChecker:
    def __init__(self, found: list[Cause]) -> None:
        self.found = found

    def check(
        self, raw: Any, path: str, *, correlatable: bool, typed_position: bool, where: str = ""
    ) -> None:
        if not isinstance(raw, dict):
            self.found.append(causes.invalid(path, raw, "must be a schema object"))
            return
        self._check_type(raw, path, typed_position, where)
        self._check_keywords(raw, path)
        self._check_extensions(raw, path)
        self._check_default(raw, path)
        check_rules(raw, path, correlatable, self.found)
        self._check_children(raw, path, correlatable)

    def _check_type(self, raw: dict[str, Any], path: str, typed_position: bool, where: str) -> None:
        schema_type = raw.get("type")
        type_path = paths.child(path, "type")
        untyped_allowed = raw.get("x-kubernetes-int-or-string") is True or (
            raw.get("x-kubernetes-preserve-unknown-fields") is True
        )
        if schema_type is None or schema_type == "":
            if typed_position and not untyped_allowed:
                self.found.append(
                    causes.required(type_path, f"must not be empty for specified {where}")
                )
        elif schema_type not in TYPES:
            self.found.append(causes.not_supported(type_path, schema_type, TYPES))
        elif raw.get("x-kubernetes-int-or-string") is True:
            self.found.append(
                causes.invalid(
                    type_path, schema_type, "must be empty if x-kubernetes-int-or-string is true"
                )
            )
        if schema_type == "array" and not isinstance(raw.get("items"), dict):
            self.found.append(causes.required(paths.child(path, "items"), "must be specified"))

    def _check_keywords(self, raw: dict[str, Any], path: str) -> None:
        if "$ref" in raw:
            self.found.append(causes.forbidden(paths.child(path, "$ref"), "$ref is not supported"))
        additional = raw.get("additionalProperties")
        if additional is not None and raw.get("properties"):
            self.found.append(
                causes.forbidden(
                    paths.child(path, "additionalProperties"),
                    "additionalProperties and properties are mutual exclusive",
                )
            )
        if additional is False:
            self.found.append(
                causes.forbidden(paths.child(path, "additionalProperties"), "must not be false"),
            )
        if raw.get("uniqueItems") is True:
            detail = (
                "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"
            )
            self.found.append(causes.forbidden(paths.child(path, "uniqueItems"), detail))
        pattern = raw.get("pattern")
        if pattern is not None and (
            not isinstance(pattern, str) or compiled_pattern(pattern) is None
        ):
            self.found.append(
                causes.invalid(paths.child(path, "pattern"), pattern, INVALID_PATTERN)
            )
        for bound in ("maximum", "minimum", "multipleOf"):
            value = raw.get(bound)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                self.found.append(
                    causes.invalid(paths.child(path, bound), value, "must be a number")
                )
        for count in (
            "maxLength",
            "minLength",
            "maxItems",
            "minItems",
            "maxProperties",
            "minProperties",
        ):
            value = raw.get(count)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                detail = "must be a non-negative integer"
                self.found.append(causes.invalid(paths.child(path, count), value, detail))

    def _check_extensions(self, raw: dict[str, Any], path: str) -> None:
        schema_type = raw.get("type")
        preserve = raw.get("x-kubernetes-preserve-unknown-fields")
        if preserve is not None and preserve is not True:
            self.found.append(
                causes.invalid(
                    paths.child(path, "x-kubernetes-preserve-unknown-fields"),
                    preserve,
                    "must be true or undefined",
                )
            )
        if raw.get("x-kubernetes-embedded-resource") is True:
            if schema_type != "object":
                detail = "must be object if x-kubernetes-embedded-resource is true"
                self.found.append(causes.invalid(paths.child(path, "type"), schema_type, detail))
            if not raw.get("properties") and preserve is not True:
                detail = (
                    "must not be empty if x-kubernetes-embedded-resource is true "
                    "without x-kubernetes-preserve-unknown-fields"
                )
                self.found.append(causes.required(paths.child(path, "properties"), detail))
        self._check_list_type(raw, path)
        map_type = raw.get("x-kubernetes-map-type")
        if map_type is not None:
            map_path = paths.child(path, "x-kubernetes-map-type")
            if map_type not in MAP_TYPES:
                self.found.append(causes.not_supported(map_path, map_type, MAP_TYPES))
            elif schema_type != "object":
                self.found.append(
                    causes.invalid(map_path, map_type, "must only be used if type is object")
                )

    def _check_list_type(self, raw: dict[str, Any], path: str) -> None:
        list_type = raw.get("x-kubernetes-list-type")
        keys = raw.get("x-kubernetes-list-map-keys")
        type_path = paths.child(path, "x-kubernetes-list-type")
        keys_path = paths.child(path, "x-kubernetes-list-map-keys")
        if keys is not None and list_type != "map":
            self.found.append(
                causes.forbidden(
                    keys_path, "must not be specified if x-kubernetes-list-type is not map"
                )
            )
        if list_type is None:
            return
        if list_type not in LIST_TYPES:
            self.found.append(causes.not_supported(type_path, list_type, LIST_TYPES))
            return
        if raw.get("type") != "array":
            self.found.append(
                causes.invalid(type_path, list_type, "must only be used if type is array")
            )
            return
        items = as_mapping(raw.get("items"))
        if (
            list_type == "set"
            and items.get("type") in ("object", "array")
            and items.get("x-kubernetes-map-type") != "atomic"
        ):
            detail = "must only be used with scalar or atomic items"
            self.found.append(causes.invalid(type_path, list_type, detail))
        if list_type == "map":
            self._check_map_keys(items, keys, path)

    def _check_map_keys(self, items: dict[str, Any], keys: Any, path: str) -> None:
        keys_path = paths.child(path, "x-kubernetes-list-map-keys")
        if items.get("type") != "object":
            detail = "must be object if parent array's x-kubernetes-list-type is map"
            self.found.append(
                causes.invalid(paths.child(path, "items.type"), items.get("type"), detail)
            )
        if not isinstance(keys, list) or not keys:
            self.found.append(
                causes.required(keys_path, "must not be empty if x-kubernetes-list-type is map")
            )
            return
        properties = as_mapping(items.get("properties"))
        required = as_list(items.get("required"))
        for position, key in enumerate(keys):
            key_schema = properties.get(key) if isinstance(key, str) else None
            if not isinstance(key_schema, dict):
                detail = "entries must all be names of item properties"
                self.found.append(causes.invalid(paths.index(keys_path, position), key, detail))
            elif key_schema.get("type") not in ("string", "integer", "number", "boolean"):
                detail = "must be a scalar property of the items"
                self.found.append(causes.invalid(paths.index(keys_path, position), key, detail))
            elif key not in required and "default" not in key_schema:
                detail = (
                    "this property is in x-kubernetes-list-map-keys, "
                    "so it must have a default or be a required property"
                )
                self.found.append(
                    causes.required(paths.child(path, f"items.properties[{key}]"), detail)
                )

    def _check_default(self, raw: dict[str, Any], path: str) -> None:
        if "default" not in raw:
            return
        default_path = paths.child(path, "default")
        value = copy.deepcopy(raw["default"])
        node = parse(raw)
        unknown = prune_value(value, node, default_path)
        if unknown:
            detail = f'must not have unknown fields, got: "{unknown[0]}"'
            self.found.append(causes.invalid(default_path, raw["default"], detail))
            return
        schema_errors: list[Cause] = []
        validate_value(value, node, default_path, schema_errors)
        self.found.extend(schema_errors)
        if schema_errors:
            return
        try:
            rules = compile_rules(node)
        except RuleCompileError:
            return  # reported where the rule is
        # The server evaluates the rules at and below the node on the default as written
        # (nested defaults are not filled in: a rule reading a field it lacks fails with
        # "no such key"), as an update of itself without ratcheting: transition rules see
        # oldSelf == self and every failure is an error.
        self.found.extend(evaluate_rules(value, value, node, rules, default_path, ratcheting=False))

    def _check_children(self, raw: dict[str, Any], path: str, correlatable: bool) -> None:
        # Items of a list correlate with the old list's only by the keys of a list-type=map.
        items_correlate = correlatable and raw.get("x-kubernetes-list-type") == "map"
        typed_children: list[tuple[Any, str, bool, str]] = [
            (sub, paths.child(path, f"properties[{name}]"), correlatable, "object fields")
            for name, sub in as_mapping(raw.get("properties")).items()
        ]
        if isinstance(raw.get("items"), dict):
            typed_children.append(
                (raw["items"], paths.child(path, "items"), items_correlate, "array items")
            )
        if isinstance(raw.get("additionalProperties"), dict):
            additional_path = paths.child(path, "additionalProperties")
            typed_children.append(
                (raw["additionalProperties"], additional_path, correlatable, "object fields")
            )
        for sub, sub_path, sub_correlatable, where in typed_children:
            self.check(
                sub, sub_path, correlatable=sub_correlatable, typed_position=True, where=where
            )
        check_value_validations(raw, path, self.found)
