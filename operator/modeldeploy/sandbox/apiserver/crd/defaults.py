"""Structural defaulting (`apiextensions-apiserver/pkg/apiserver/schema/defaulting`).

A missing field with a `default` gets a copy of it, and so does a null one unless the
schema is `nullable`; defaulting then goes on inside the value, so an object default
gets its own fields' defaults, but a missing object without a default is not created.
Nulls of non-nullable fields without a default are dropped first, as the server does.
"""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.sandbox.apiserver.crd.schema import Schema


def apply_defaults(value: Any, schema: Schema) -> None:
    """Default `value` in place (nulls without a default are dropped first)."""
    _drop_undefaultable_nulls(value, schema)
    _default(value, schema)


def _is_non_nullable_null(value: Any, schema: Schema | None) -> bool:
    return value is None and schema is not None and not schema.nullable


def _drop_undefaultable_nulls(value: Any, schema: Schema | None) -> None:
    if isinstance(value, dict):
        for name in list(value):
            field_schema = schema.child(name) if schema is not None else None
            if _is_non_nullable_null(value[name], field_schema) and not (
                field_schema is not None and field_schema.has_default
            ):
                del value[name]
            else:
                _drop_undefaultable_nulls(value[name], field_schema)
    elif isinstance(value, list):
        items = schema.items if schema is not None else None
        for item in value:
            _drop_undefaultable_nulls(item, items)


def _default(value: Any, schema: Schema | None) -> None:
    if schema is None:
        return
    if isinstance(value, dict):
        for name, property_schema in schema.properties.items():
            if property_schema.has_default and (
                name not in value or _is_non_nullable_null(value[name], property_schema)
            ):
                value[name] = copy.deepcopy(property_schema.default)
        for name, item in value.items():
            field_schema = schema.child(name)
            if field_schema is None:
                continue
            if (
                name not in schema.properties
                and _is_non_nullable_null(item, field_schema)
                and field_schema.has_default
            ):
                value[name] = copy.deepcopy(field_schema.default)
            _default(value[name], field_schema)
    elif isinstance(value, list) and schema.items is not None:
        for position, item in enumerate(value):
            if _is_non_nullable_null(item, schema.items) and schema.items.has_default:
                value[position] = copy.deepcopy(schema.items.default)
            _default(value[position], schema.items)
