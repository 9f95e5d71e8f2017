"""JSON value kinds as the OpenAPI validator names them, and JSON equality."""

from __future__ import annotations

from typing import Any, TypeGuard

# Checked in order: bool before int, since a Python bool is an int.
_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """The OpenAPI type name of a decoded JSON value (`null` for None)."""
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches_type(value: Any, type_name: str) -> bool:
    """Whether `value` is of OpenAPI `type_name`; an integral float counts as an integer."""
    actual = json_type(value)
    if actual == type_name:
        return True
    if type_name == "number":
        return actual == "integer"
    if type_name == "integer":
        return actual == "number" and float(value).is_integer()
    return False


def json_equal(left: Any, right: Any) -> bool:
    """Equality of decoded JSON values: numbers by value, never a bool equal to a number."""
    if is_number(left) and is_number(right):
        return bool(left == right)
    if json_type(left) != json_type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(json_equal, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(json_equal(left[k], right[k]) for k in left)
    return bool(left == right)
