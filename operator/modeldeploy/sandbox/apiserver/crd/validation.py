"""OpenAPI v3 value validation of a custom resource, worded as kube-apiserver words it.

The messages are kube-openapi's (`spec.x in body should be less than or equal to 1`),
turned into field errors the way `apiextensions-apiserver/.../validation` does.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from functools import cache
from typing import Any

from modeldeploy.sandbox.apiserver.crd import causes, paths
from modeldeploy.sandbox.apiserver.crd.causes import Cause, go_float
from modeldeploy.sandbox.apiserver.crd.correlation import NO_OLD, old_field, old_items, unchanged
from modeldeploy.sandbox.apiserver.crd.formats import format_error
from modeldeploy.sandbox.apiserver.crd.schema import Schema
from modeldeploy.sandbox.apiserver.crd.values import is_number, json_equal, json_type, matches_type

METADATA_VALIDATED_FIELDS = ("name", "generateName")


@cache
def compiled_pattern(pattern: str) -> re.Pattern[str] | None:
    """The schema `pattern` as a regex; None when it does not compile."""
    try:
        return re.compile(pattern)
    except re.error:
        return None


def validate_resource(obj: dict[str, Any], root: Schema, old: Any = NO_OLD) -> list[Cause]:
    """Every schema violation of a whole resource (root metadata: only name/generateName).

    On update (`old` given), values left unchanged are not re-validated, as kube-apiserver's
    validation ratcheting lets objects stored under an older, looser schema be updated.
    """
    found: list[Cause] = []
    metadata_schema = root.properties.get("metadata")
    metadata = obj.get("metadata")
    if metadata_schema is not None and isinstance(metadata, dict):
        for name in METADATA_VALIDATED_FIELDS:
            field_schema = metadata_schema.properties.get(name)
            if field_schema is not None and name in metadata:
                old_name = old_field(old_field(old, "metadata"), name)
                validate_value(metadata[name], field_schema, f"metadata.{name}", found, old_name)
    body = {k: v for k, v in obj.items() if k != "metadata"}
    old_body = (
        {k: v for k, v in old.items() if k != "metadata"} if isinstance(old, dict) else NO_OLD
    )
    root_without_metadata = _without_property(root, "metadata")
    validate_value(body, root_without_metadata, "", found, old_body)
    return found


def _without_property(schema: Schema, name: str) -> Schema:
    if name not in schema.properties:
        return schema
    properties = {k: v for k, v in schema.properties.items() if k != name}
    required = [k for k in schema.required if k != name]
    return dataclasses.replace(schema, properties=properties, required=required)


def validate_value(
    value: Any, schema: Schema, path: str, found: list[Cause], old: Any = NO_OLD
) -> None:
    """Append the causes for `value` at `path` against `schema` (recursively) to `found`.

    `old` is the correlated value before an update; an unchanged value is not checked.
    """
    if (value is None and schema.nullable) or unchanged(value, old):
        return
    if not _check_type(value, schema, path, found):
        return
    _check_enum(value, schema, path, found)
    if is_number(value):
        _check_number(value, schema, path, found)
    elif isinstance(value, str):
        _check_string(value, schema, path, found)
    elif isinstance(value, list):
        _check_array(value, schema, path, found, old)
    elif isinstance(value, dict):
        _check_object(value, schema, path, found, old)
    _check_combinators(value, schema, path, found)


def _check_type(value: Any, schema: Schema, path: str, found: list[Cause]) -> bool:
    if schema.int_or_string:
        if isinstance(value, str) or matches_type(value, "integer"):
            return True
        expected = "integer,string"
    elif not schema.type or matches_type(value, schema.type):
        return True
    else:
        expected = schema.type
    actual = json_type(value)
    detail = f'{path} in body must be of type {expected}: "{actual}"'
    found.append(causes.type_invalid(path, actual, detail))
    return False


def _check_enum(value: Any, schema: Schema, path: str, found: list[Cause]) -> None:
    if schema.enum is None or any(json_equal(value, allowed) for allowed in schema.enum):
        return
    supported = [
        allowed if isinstance(allowed, str) else _json_text(allowed) for allowed in schema.enum
    ]
    found.append(causes.not_supported(path, value, supported))


def _json_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Go's json.Marshal writes 2.0 as 2
    return json.dumps(value, separators=(",", ":"))


def _bound(number: float) -> str:
    return go_float(float(number))


def _check_number(value: float, schema: Schema, path: str, found: list[Cause]) -> None:
    raw = schema.raw
    maximum, minimum = raw.get("maximum"), raw.get("minimum")
    if is_number(maximum):
        if raw.get("exclusiveMaximum") is True and value >= maximum:
            found.append(
                causes.invalid(path, value, f"{path} in body should be less than {_bound(maximum)}")
            )
        elif value > maximum:
            detail = f"{path} in body should be less than or equal to {_bound(maximum)}"
            found.append(causes.invalid(path, value, detail))
    if is_number(minimum):
        if raw.get("exclusiveMinimum") is True and value <= minimum:
            found.append(
                causes.invalid(
                    path, value, f"{path} in body should be greater than {_bound(minimum)}"
                )
            )
        elif value < minimum:
            detail = f"{path} in body should be greater than or equal to {_bound(minimum)}"
            found.append(causes.invalid(path, value, detail))
    factor = raw.get("multipleOf")
    if is_number(factor) and factor > 0 and not _is_multiple(value, factor):
        found.append(
            causes.invalid(path, value, f"{path} in body should be a multiple of {_bound(factor)}")
        )


def _is_multiple(value: float, factor: float) -> bool:
    if isinstance(value, int) and isinstance(factor, int):
        return value % factor == 0
    quotient = value / factor
    return math.isclose(quotient, round(quotient), rel_tol=1e-9, abs_tol=1e-9)


def _check_string(value: str, schema: Schema, path: str, found: list[Cause]) -> None:
    raw = schema.raw
    max_length, min_length = raw.get("maxLength"), raw.get("minLength")
    # OpenAPI lengths count characters, not bytes.
    if isinstance(max_length, int) and len(value) > max_length:
        found.append(causes.too_long(path, max_length))
    if isinstance(min_length, int) and len(value) < min_length:
        found.append(
            causes.invalid(
                path, value, f"{path} in body should be at least {min_length} chars long"
            )
        )
    pattern = raw.get("pattern")
    if isinstance(pattern, str):
        regex = compiled_pattern(pattern)
        if regex is not None and regex.search(value) is None:
            found.append(causes.invalid(path, value, f"{path} in body should match '{pattern}'"))
    if schema.format and format_error(schema.format, value):
        detail = f'{path} in body must be of type {schema.format}: "{value}"'
        found.append(causes.type_invalid(path, value, detail))


def _check_array(value: list[Any], schema: Schema, path: str, found: list[Cause], old: Any) -> None:
    raw = schema.raw
    max_items, min_items = raw.get("maxItems"), raw.get("minItems")
    if isinstance(max_items, int) and len(value) > max_items:
        found.append(causes.too_many(path, len(value), max_items))
    if isinstance(min_items, int) and len(value) < min_items:
        found.append(
            causes.invalid(
                path, len(value), f"{path} in body should have at least {min_items} items"
            )
        )
    if schema.items is not None:
        item_olds = old_items(value, old, schema)
        for position, (item, item_old) in enumerate(zip(value, item_olds, strict=True)):
            validate_value(item, schema.items, paths.index(path, position), found, item_old)
    _check_list_type(value, schema, path, found)


def _check_list_type(value: list[Any], schema: Schema, path: str, found: list[Cause]) -> None:
    """x-kubernetes-list-type set: no duplicate items; map: no two items with the same keys."""
    if schema.list_type == "set":
        seen: list[Any] = []
        for position, item in enumerate(value):
            if any(json_equal(item, earlier) for earlier in seen):
                found.append(causes.duplicate(paths.index(path, position), item))
            else:
                seen.append(item)
    elif schema.list_type == "map" and schema.list_map_keys:
        seen_keys: list[dict[str, Any]] = []
        for position, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            keys = {k: item[k] for k in schema.list_map_keys if k in item}
            if any(json_equal(keys, earlier) for earlier in seen_keys):
                found.append(causes.duplicate(paths.index(path, position), keys))
            else:
                seen_keys.append(keys)


def _check_object(
    value: dict[str, Any], schema: Schema, path: str, found: list[Cause], old: Any
) -> None:
    for required_name in schema.required:
        if required_name not in value:
            found.append(causes.required(paths.child(path, required_name)))
    raw = schema.raw
    max_properties, min_properties = raw.get("maxProperties"), raw.get("minProperties")
    if isinstance(max_properties, int) and len(value) > max_properties:
        found.append(causes.too_many(path, len(value), max_properties))
    if isinstance(min_properties, int) and len(value) < min_properties:
        detail = f"{path} in body should have at least {min_properties} properties"
        found.append(causes.invalid(path, len(value), detail))
    if schema.embedded_resource:
        _check_embedded_resource(value, path, found)
    for key, item in value.items():
        field_schema = schema.child(key)
        if field_schema is not None:
            validate_value(item, field_schema, paths.child(path, key), found, old_field(old, key))


def _check_embedded_resource(value: dict[str, Any], path: str, found: list[Cause]) -> None:
    for name in ("apiVersion", "kind"):
        if not value.get(name):
            found.append(causes.required(paths.child(path, name), "must not be empty"))


def _check_combinators(value: Any, schema: Schema, path: str, found: list[Cause]) -> None:

    def passes(sub: Schema) -> bool:
        trial: list[Cause] = []
        validate_value(value, sub, path, trial)
        return not trial

    for sub in schema.all_of:
        validate_value(value, sub, path, found)
    checks: list[tuple[bool, str]] = []
    if schema.any_of:
        checks.append(
            (any(map(passes, schema.any_of)), "must validate at least one schema (anyOf)")
        )
    if schema.one_of:
        passing = sum(map(passes, schema.one_of))
        checks.append((passing == 1, "must validate one and only one schema (oneOf)"))
    if schema.not_ is not None:
        checks.append((not passes(schema.not_), "must not validate the schema (not)"))
    for ok, what in checks:
        if not ok:
            found.append(causes.invalid(path, value, f"{path} in body {what}"))
