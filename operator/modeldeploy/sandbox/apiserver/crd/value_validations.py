"""The structural rules for value validations (`allOf`, `anyOf`, `oneOf`, `not`).

They may only add value checks to fields the outer schema defines: no types (but the
int-or-string pattern), defaults, nullability, descriptions or Kubernetes extensions.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver.crd import causes, paths
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.schema import as_list, as_mapping
from modeldeploy.sandbox.apiserver.crd.validation import compiled_pattern

INVALID_PATTERN = "must be a valid regular expression, but isn't"

# Keywords a value validation (inside allOf, anyOf, oneOf, not) must leave to the outer schema.
_NOT_IN_VALUE_VALIDATIONS = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be undefined to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
)
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]
_JUNCTORS = ("allOf", "anyOf", "oneOf")


def check_value_validations(raw: dict[str, Any], path: str, found: list[Cause]) -> None:
    """allOf/anyOf/oneOf/not only add value checks to fields the outer schema defines."""
    for junctor, position, sub in _junctor_schemas(raw):
        sub_path = (
            paths.child(path, junctor)
            if position < 0
            else paths.index(paths.child(path, junctor), position)
        )
        int_or_string_pattern = raw.get("x-kubernetes-int-or-string") is True and (
            (junctor == "anyOf" and raw.get("anyOf") == INT_OR_STRING_ANY_OF)
            or (junctor == "allOf" and position == 0 and sub.get("anyOf") == INT_OR_STRING_ANY_OF)
        )
        if not int_or_string_pattern:
            _check_value_validation(sub, sub_path, found)
        for name in as_mapping(sub.get("properties")):
            if name not in as_mapping(raw.get("properties")):
                detail = f"because it is defined in {sub_path}.properties[{name}]"
                found.append(causes.required(paths.child(path, f"properties[{name}]"), detail))


def _junctor_schemas(raw: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """(junctor, position or -1 for `not`, schema) of every value validation of a node."""
    found = [
        (junctor, position, sub)
        for junctor in _JUNCTORS
        for position, sub in enumerate(as_list(raw.get(junctor)))
        if isinstance(sub, dict)
    ]
    if isinstance(raw.get("not"), dict):
        found.append(("not", -1, raw["not"]))
    return found


def _check_value_validation(raw: dict[str, Any], path: str, found: list[Cause]) -> None:
    for keyword, detail in _NOT_IN_VALUE_VALIDATIONS:
        if keyword in raw and raw[keyword] not in (None, False, "", []):
            found.append(causes.forbidden(paths.child(path, keyword), detail))
    pattern = raw.get("pattern")
    if pattern is not None and (not isinstance(pattern, str) or compiled_pattern(pattern) is None):
        found.append(causes.invalid(paths.child(path, "pattern"), pattern, INVALID_PATTERN))
    for name, sub in as_mapping(raw.get("properties")).items():
        if isinstance(sub, dict):
            _check_value_validation(sub, paths.child(path, f"properties[{name}]"), found)
    if isinstance(raw.get("items"), dict):
        _check_value_validation(raw["items"], paths.child(path, "items"), found)
    for junctor, position, sub in _junctor_schemas(raw):
        sub_path = (
            paths.child(path, junctor)
            if position < 0
            else paths.index(paths.child(path, junctor), position)
        )
        _check_value_validation(sub, sub_path, found)
