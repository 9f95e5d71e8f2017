"""`x-kubernetes-validations` rules: compiled once per CRD, evaluated on every write.

Errors are worded as `apiextensions-apiserver/pkg/apiserver/schema/cel/validation.go`
words them: a false rule gives `Invalid value: failed rule: <rule>` (or its `message` /
`messageExpression`) at the rule's field, or at `fieldPath` below it, showing the value
only when the rule's node is a scalar (`Invalid value: 7: must be even`); a `reason` turns
it into a Forbidden / Required / Duplicate error. A rule that fails to evaluate gives
`Invalid value: "<type>": <error> evaluating rule: <message>`. Transition rules (those that
read `oldSelf`) run only where the old value at the same place exists.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import cel

from modeldeploy.sandbox.apiserver.crd import causes, cel_library, cel_logic, cel_quantity, paths
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.cel_values import to_cel
from modeldeploy.sandbox.apiserver.crd.correlation import NO_OLD, old_field, old_items, unchanged
from modeldeploy.sandbox.apiserver.crd.schema import Schema, ValidationRule

LIBRARY = {**cel_library.FUNCTIONS, **cel_quantity.FUNCTIONS}
NO_OVERLOAD = "call arguments did not match a supported operator, function or macro signature"
RULE_VARIABLES = frozenset({"self", "oldSelf"})
REASONS = ("FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired")
_MACRO_BINDING = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")
_PARSE_ERROR_PREFIX = re.compile(r"^Failed to parse expression .*?: (?=ERROR:)", re.S)


class RuleCompileError(ValueError):
    """A rule or messageExpression that a real API server would refuse in the CRD."""


@dataclass
class CompiledRule:
    rule: ValidationRule
    program: Any
    message_program: Any | None
    uses_old_self: bool


@dataclass
class CompiledRules:
    """The compiled rules of every schema node that has some, keyed by node identity."""

    by_node: dict[int, list[CompiledRule]] = field(default_factory=dict)

    def of(self, schema: Schema) -> list[CompiledRule]:
        return self.by_node.get(id(schema), [])


def compile_expression(expression: str) -> tuple[Any, bool]:
    """Compile a CEL expression that may only read `self` and `oldSelf`.

    Returns the program and whether it reads `oldSelf`; raises RuleCompileError with the
    evaluator's message (`ERROR: <input>:1:9: Syntax error: ...`).
    """
    try:
        program = cel.compile(expression)
    except ValueError as error:
        raise RuleCompileError(_PARSE_ERROR_PREFIX.sub("", str(error))) from error
    bound = set(_MACRO_BINDING.findall(expression))
    for name in sorted(set(program.variables()) - RULE_VARIABLES - bound):
        raise RuleCompileError(
            f"ERROR: <input>: undeclared reference to '{name}' (in container '')"
        )
    return program, "oldSelf" in program.variables()


def compile_rules(root: Schema) -> CompiledRules:
    """Compile every rule of the schema tree (the CRD has been checked: they compile)."""
    compiled = CompiledRules()
    for node in _nodes(root):
        node_rules = []
        for rule in node.rules:
            program, uses_old_self = compile_expression(rule.rule)
            message_program = None
            if rule.message_expression:
                message_program, _ = compile_expression(rule.message_expression)
            node_rules.append(CompiledRule(rule, program, message_program, uses_old_self))
        if node_rules:
            compiled.by_node[id(node)] = node_rules
    return compiled


def _nodes(schema: Schema) -> Iterator[Schema]:
    yield schema
    children = [*schema.properties.values(), *schema.all_of, *schema.any_of, *schema.one_of]
    children += [
        s for s in (schema.items, schema.additional_properties, schema.not_) if s is not None
    ]
    for child in children:
        yield from _nodes(child)


def evaluate_rules(
    value: Any,
    old: Any,
    schema: Schema,
    rules: CompiledRules,
    path: str,
    *,
    ratcheting: bool = True,
) -> list[Cause]:
    """Every failed rule of `value` (and its old value, `NO_OLD` on create) under `schema`.

    With `ratcheting`, as on an update of a custom resource, a value equal to its old value
    is not re-checked by the rules that do not read `oldSelf`.
    """
    found: list[Cause] = []
    _evaluate(value, old, schema, rules, path, found, ratcheting)
    return found


def _evaluate(
    value: Any,
    old: Any,
    schema: Schema,
    rules: CompiledRules,
    path: str,
    found: list[Cause],
    ratcheting: bool,
) -> None:
    if value is None:
        return
    ratcheted = ratcheting and unchanged(value, old)
    for compiled in rules.of(schema):
        if compiled.uses_old_self and old is NO_OLD:
            continue
        if ratcheted and not compiled.uses_old_self:
            continue  # an unchanged value is not re-checked by rules that ignore oldSelf
        cause = _run_rule(compiled, value, old, schema, path)
        if cause is not None:
            found.append(cause)
    if isinstance(value, dict):
        for key, item in value.items():
            child_schema = schema.child(key)
            if child_schema is None:
                continue
            child_old = old_field(old, key)
            child_path = paths.key(path, key) if schema.is_map else paths.child(path, key)
            _evaluate(item, child_old, child_schema, rules, child_path, found, ratcheting)
    elif isinstance(value, list) and schema.items is not None:
        item_olds = old_items(value, old, schema)
        for position, (item, item_old) in enumerate(zip(value, item_olds, strict=True)):
            item_path = paths.index(path, position)
            _evaluate(item, item_old, schema.items, rules, item_path, found, ratcheting)


def _run_rule(
    compiled: CompiledRule, value: Any, old: Any, schema: Schema, path: str
) -> Cause | None:
    rule = compiled.rule
    resource_root = path == ""
    activation = {"self": to_cel(value, schema, resource_root=resource_root)}
    if old is not NO_OLD:
        activation["oldSelf"] = to_cel(old, schema, resource_root=resource_root)
    shown = rule.message.strip() or rule.rule.strip()
    try:
        context = _context(activation)
        result = cel_logic.execute(compiled.program, rule.rule, context)
    except Exception as error:  # a rule that cannot be evaluated is a field error, never a crash
        return causes.invalid(path, schema.type, _evaluation_failure(error, shown))
    if result is True:
        return None
    if result is not False:
        return causes.invalid(path, schema.type, f"rule did not evaluate to a bool: {shown}")
    message = rule.message or f"failed rule: {shown}"
    if compiled.message_program is not None:
        message = _message_from_expression(compiled.message_program, context) or message
    steps = field_path_suffix(schema, rule.field_path) or []
    # kube-apiserver shows the value of a scalar node only, never an object or a list.
    shown_value = causes.OMIT_VALUE if schema.type in ("object", "array") else value
    return _cause_for_reason(_below(path, steps), shown_value, message, rule.reason)


def _context(activation: dict[str, Any]) -> Any:
    context = cel.Context()
    for name, function in LIBRARY.items():
        context.add_function(name, function)
    for name, variable in activation.items():
        context.add_variable(name, variable)
    return context


def _message_from_expression(program: Any, context: Any) -> str:
    """The messageExpression's text; empty when it fails or is not a one-line string."""
    try:
        message = program.execute(context)
    except Exception:  # any evaluation failure falls back to the static message, as k8s does
        return ""
    if not isinstance(message, str) or "\n" in message or not message.strip():
        return ""
    return message


# How the evaluator reports an exception raised by one of our library functions.
_LIBRARY_FAILURE = re.compile(r"Python function call failed: \w+: (.*?)\. Check function", re.S)


def _evaluation_failure(error: Exception, shown: str) -> str:
    """kube-apiserver's words for a rule that failed to evaluate."""
    if isinstance(error, KeyError):
        reason = f"no such key: {error.args[0] if error.args else ''}"
    elif isinstance(error, ZeroDivisionError):
        reason = "division by zero"
    elif isinstance(error, OverflowError):
        reason = "integer overflow"
    else:
        library = _LIBRARY_FAILURE.search(str(error))
        reason = library.group(1) if library else str(error)
    if isinstance(error, TypeError) or reason == "no such overload":
        return f"'no such overload': {NO_OVERLOAD} for rule: {shown}"
    return f"{reason} evaluating rule: {shown}"


_FIELD_PATH_SEGMENT = re.compile(r"\.([A-Za-z_][\w-]*)|\['((?:[^'\\]|\\.)*)'\]")


def field_path_suffix(schema: Schema, field_path: str) -> list[tuple[str, str]] | None:
    """The steps of a rule's `fieldPath` below its node: ("child"|"key", name).

    Only property and map-key access is allowed, and every step must exist in the
    schema; None when the path is not valid there.
    """
    steps: list[tuple[str, str]] = []
    position = 0
    current: Schema | None = schema
    while position < len(field_path):
        match = _FIELD_PATH_SEGMENT.match(field_path, position)
        if match is None or current is None:
            return None
        name = (
            match.group(1)
            if match.group(1) is not None
            else re.sub(r"\\(.)", r"\1", match.group(2))
        )
        if name in current.properties:
            steps.append(("child", name))
            current = current.properties[name]
        elif current.is_map:
            steps.append(("key", name))
            current = current.additional_properties
        else:
            return None
        position = match.end()
    return steps


def _below(path: str, steps: list[tuple[str, str]]) -> str:
    for kind, name in steps:
        path = paths.child(path, name) if kind == "child" else paths.key(path, name)
    return path


def _cause_for_reason(path: str, value: Any, message: str, reason: str) -> Cause:
    if reason == "FieldValueForbidden":
        return causes.forbidden(path, message)
    if reason == "FieldValueRequired":
        return causes.required(path, message)
    if reason == "FieldValueDuplicate":
        return causes.duplicate(path, value)
    return causes.invalid(path, value, message)
