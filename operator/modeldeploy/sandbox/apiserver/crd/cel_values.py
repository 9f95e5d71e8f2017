"""Custom resource values as CEL sees them (`k8s.io/apiserver/pkg/cel/common/values.go`).

Numbers of `type: number` are doubles and of `type: integer` ints; strings with the
`duration`, `date`, `date-time` and `byte` formats become durations, timestamps and
bytes; object property names that are not CEL identifiers are escaped (`__dash__`...).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from modeldeploy.sandbox.apiserver.crd.durations import parse_openapi_duration
from modeldeploy.sandbox.apiserver.crd.formats import decode_base64, parse_date, parse_date_time
from modeldeploy.sandbox.apiserver.crd.schema import RESOURCE_FIELDS, Schema

CEL_RESERVED = frozenset(
    {
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    }
)
_ESCAPABLE = re.compile(r"[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*")
_ESCAPES = (("__", "__underscores__"), (".", "__dot__"), ("-", "__dash__"), ("/", "__slash__"))


def escape_property(name: str) -> str | None:
    """The CEL field name of an object property; None when CEL cannot name it."""
    if name in CEL_RESERVED:
        return f"__{name}__"
    if _ESCAPABLE.fullmatch(name) is None:
        return None
    for plain, escaped in _ESCAPES:
        name = name.replace(plain, escaped)
    return name


def to_cel(value: Any, schema: Schema | None, *, resource_root: bool = False) -> Any:
    """The CEL value of a JSON value under its schema (a resource root keeps its metadata)."""
    if value is None or schema is None:
        return value
    if isinstance(value, dict):
        return _object(value, schema, resource_root)
    if isinstance(value, list):
        return [to_cel(item, schema.items) for item in value]
    if schema.type == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if schema.type == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if schema.type == "string" and isinstance(value, str):
        return _formatted_string(value, schema.format)
    return value


def _object(value: dict[str, Any], schema: Schema, resource_root: bool) -> dict[str, Any]:
    if schema.is_map:
        return {key: to_cel(item, schema.additional_properties) for key, item in value.items()}
    converted: dict[str, Any] = {}
    for name, item in value.items():
        field_schema = schema.properties.get(name)
        if (resource_root or schema.embedded_resource) and name in RESOURCE_FIELDS:
            converted[name] = _resource_field(name, item)
            continue
        if field_schema is None:
            continue
        escaped = escape_property(name)
        if escaped is not None:
            converted[escaped] = to_cel(item, field_schema)
    return converted


def _resource_field(name: str, value: Any) -> Any:
    """Rules see apiVersion, kind and only the name and generateName of metadata."""
    if name == "metadata" and isinstance(value, dict):
        return {k: value[k] for k in ("name", "generateName") if k in value}
    return value


def _formatted_string(text: str, format_name: str) -> Any:
    converted: Any = None
    if format_name == "duration":
        converted = parse_openapi_duration(text)
    elif format_name == "date":
        day = parse_date(text)
        converted = datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None
    elif format_name in ("date-time", "datetime"):
        converted = parse_date_time(text)
    elif format_name == "byte":
        converted = decode_base64(text)
    return text if converted is None else converted
