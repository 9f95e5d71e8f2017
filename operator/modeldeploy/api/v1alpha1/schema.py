"""Turn pydantic's JSON Schema into a Kubernetes structural schema.

A structural schema (what apiextensions.k8s.io/v1 requires) is OpenAPI v3.0: a type on every
node, no `$ref`, no `anyOf` carrying types, no `additionalProperties: false` (unknown fields are
pruned instead), boolean `exclusiveMinimum`/`exclusiveMaximum`, and no titles or examples.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_DROPPED = frozenset({"title", "examples", "$defs"})
_NULL = {"type": "null"}
_EXCLUSIVE_BOUNDS = {"exclusiveMinimum": "minimum", "exclusiveMaximum": "maximum"}


class SchemaError(ValueError):
    """The models use a construct that has no structural equivalent."""


def structural(node: Schema, definitions: Schema) -> Schema:
    """The structural form of one node of a pydantic JSON Schema."""
    node = _inline(node, definitions)
    result: Schema = {}
    for key, value in node.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "additionalProperties":
            if isinstance(value, dict):
                result[key] = structural(value, definitions)
            continue
        if key == "properties":
            result[key] = {name: structural(sub, definitions) for name, sub in value.items()}
        elif key == "items":
            result[key] = structural(value, definitions)
        elif key == "const":
            result["enum"] = [value]
        elif key in _EXCLUSIVE_BOUNDS:
            # OpenAPI v3.0 (what CRDs use) marks a bound exclusive with a boolean.
            result[_EXCLUSIVE_BOUNDS[key]] = value
            result[key] = True
        else:
            result[key] = value
    if "type" not in result and not result.get("x-kubernetes-int-or-string"):
        raise SchemaError(f"schema node without a type: {sorted(node)}")
    if result.get("x-kubernetes-preserve-unknown-fields"):
        result.pop("additionalProperties", None)
    return result


def _inline(node: Schema, definitions: Schema) -> Schema:
    """Resolve `$ref` and optional (`anyOf [X, null]`) nodes, keeping the outer annotations."""
    if "$ref" in node:
        target = definitions[node["$ref"].removeprefix("#/$defs/")]
        outer = {k: v for k, v in node.items() if k != "$ref"}
        return _inline({**target, **outer}, definitions)
    if "anyOf" in node:
        branches = [_inline(b, definitions) for b in node["anyOf"] if b != _NULL]
        outer = {k: v for k, v in node.items() if k != "anyOf"}
        if len(branches) == 1:
            return {**branches[0], **outer}
        if sorted(b.get("type", "") for b in branches) == ["integer", "string"]:
            return {"x-kubernetes-int-or-string": True, **outer}
        raise SchemaError(f"union with no structural equivalent: {node['anyOf']}")
    return node
