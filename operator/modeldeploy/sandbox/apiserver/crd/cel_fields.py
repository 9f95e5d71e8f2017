"""A light static check of CEL rules against the schema: fields that do not exist.

kube-apiserver type-checks rules when a CRD is written and refuses `self.replica` when the
schema has `replicas` (`undefined field 'replica'`). The evaluator used here only parses, so
this walks the field selections that start at `self` / `oldSelf`, or at a variable a macro
binds to their list items or map keys (`self.steps.all(s, s.weight < 100)`), and checks each
against the schema. Selections it cannot follow (through functions, indexes...) are left alone.
"""

from __future__ import annotations

import re

from modeldeploy.sandbox.apiserver.crd.cel_values import escape_property
from modeldeploy.sandbox.apiserver.crd.schema import RESOURCE_FIELDS, Schema

_STRING_LITERAL = re.compile(
    r"""(?:[rRbB]{0,2})(?:'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""", re.S
)
_SELECTION = re.compile(r"(?<![\w.])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)+)")
_MACRO = re.compile(
    r"(?<![\w.])([A-Za-z_]\w*)((?:\s*\.\s*[A-Za-z_]\w*)*)\s*\.\s*(?:all|exists|exists_one|map|filter)"
    r"\s*\(\s*([A-Za-z_]\w*)\s*,"
)
_STEP = re.compile(r"\s*\.\s*([A-Za-z_]\w*)")


def undefined_fields(expression: str, schema: Schema) -> list[str]:
    """cel-go style errors (`ERROR: <input>:1:6: undefined field 'x'`) for unknown fields."""
    text = blank_strings(expression)
    variables: dict[str, Schema | None] = {"self": schema, "oldSelf": schema}
    for macro in _MACRO.finditer(text):
        target = _follow(variables, macro.group(1), macro.group(2))
        element = target.items if target is not None and target.type == "array" else None
        bound = macro.group(3)
        # A name bound to two different things (or shadowing self) is not followed.
        variables[bound] = element if bound not in variables else None
    errors: list[str] = []
    for selection in _SELECTION.finditer(text):
        root = variables.get(selection.group(1))
        if root is None:
            continue
        offset = selection.start(2)
        node: Schema | None = root
        for step in _STEP.finditer(selection.group(2)):
            name = step.group(1)
            followed_by_call = text[offset + step.end() :].lstrip().startswith("(")
            if node is None or followed_by_call:
                break
            if not _names_field(node, name):
                # cel-go places a selection at its dot: 1-based line and column.
                dot = text.index(".", offset + step.start())
                line = text.count("\n", 0, dot) + 1
                column = dot - (text.rfind("\n", 0, dot) + 1) + 1
                errors.append(f"ERROR: <input>:{line}:{column}: undefined field '{name}'")
                break
            node = _field(node, name)
    return errors


def blank_strings(expression: str) -> str:
    """The expression with string literals blanked out, keeping every offset."""
    return _STRING_LITERAL.sub(lambda match: " " * len(match.group(0)), expression)


def _follow(variables: dict[str, Schema | None], root: str, steps: str) -> Schema | None:
    node = variables.get(root)
    for step in _STEP.finditer(steps):
        if node is None:
            return None
        node = _field(node, step.group(1))
    return node


def _is_closed_object(node: Schema) -> bool:
    """An object whose fields are all named by the schema (so an unknown name is an error)."""
    return bool(node.properties) and not node.is_map and not node.preserve_unknown_fields


def _names_field(node: Schema, name: str) -> bool:
    if not _is_closed_object(node) or name in RESOURCE_FIELDS:
        return True
    return any(escape_property(prop) == name for prop in node.properties)


def _field(node: Schema, name: str) -> Schema | None:
    if node.is_map:
        return node.additional_properties
    for prop, sub in node.properties.items():
        if escape_property(prop) == name:
            return sub
    return None
