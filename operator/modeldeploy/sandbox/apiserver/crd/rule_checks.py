"""Checks of a CRD schema node's `x-kubernetes-validations`, as kube-apiserver makes them.

Each rule and messageExpression compiles, reads only `self`/`oldSelf`, selects only fields
the schema has; transition rules only where old values correlate; a known `reason`; a
`fieldPath` that exists; a one-line `message`.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver.crd import causes, paths
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.cel_fields import undefined_fields
from modeldeploy.sandbox.apiserver.crd.cel_rules import (
    REASONS,
    RuleCompileError,
    compile_expression,
    field_path_suffix,
)
from modeldeploy.sandbox.apiserver.crd.schema import Schema, parse


def _compile_against(expression: str, node: Schema) -> bool:
    """Compile a rule and check the fields it selects; whether it reads oldSelf."""
    _, uses_old_self = compile_expression(expression)
    undefined = undefined_fields(expression, node)
    if undefined:
        raise RuleCompileError(undefined[0])
    return uses_old_self


def check_rules(raw: dict[str, Any], path: str, correlatable: bool, found: list[Cause]) -> None:
    """The `x-kubernetes-validations` of one schema node (correlatable: oldSelf allowed)."""
    rules = raw.get("x-kubernetes-validations")
    if rules is None:
        return
    rules_path = paths.child(path, "x-kubernetes-validations")
    if not isinstance(rules, list):
        found.append(causes.invalid(rules_path, rules, "must be a list of rules"))
        return
    node = parse(raw)
    for position, rule in enumerate(rules):
        _check_rule(rule, paths.index(rules_path, position), node, correlatable, path, found)


def _check_rule(
    rule: Any, path: str, node: Schema, correlatable: bool, where: str, found: list[Cause]
) -> None:
    if not isinstance(rule, dict):
        found.append(causes.invalid(path, rule, "must be a rule object"))
        return
    text = rule.get("rule")
    rule_path = paths.child(path, "rule")
    if not isinstance(text, str) or not text.strip():
        found.append(causes.required(rule_path, ""))
    else:
        try:
            uses_old_self = _compile_against(text, node)
        except RuleCompileError as error:
            found.append(causes.invalid(rule_path, text, f"compilation failed: {error}"))
        else:
            if uses_old_self and not correlatable:
                detail = (
                    "oldSelf cannot be used on the uncorrelatable portion of the schema "
                    f"within {where}"
                )
                found.append(causes.invalid(rule_path, text, detail))
    message = rule.get("message")
    if isinstance(message, str) and ("\n" in message or (message and not message.strip())):
        detail = (
            "message must not contain line breaks"
            if "\n" in message
            else "message must be non-empty"
        )
        found.append(causes.invalid(paths.child(path, "message"), message, detail))
    expression = rule.get("messageExpression")
    if isinstance(expression, str) and expression:
        try:
            _compile_against(expression, node)
        except RuleCompileError as error:
            detail = f"messageExpression compilation failed: {error}"
            found.append(causes.invalid(paths.child(path, "messageExpression"), expression, detail))
    reason = rule.get("reason")
    if reason is not None and reason not in REASONS:
        found.append(causes.not_supported(paths.child(path, "reason"), reason, REASONS))
    field_path = rule.get("fieldPath")
    if isinstance(field_path, str) and field_path and field_path_suffix(node, field_path) is None:
        found.append(
            causes.invalid(
                paths.child(path, "fieldPath"), field_path, "fieldPath must be a valid path"
            )
        )
