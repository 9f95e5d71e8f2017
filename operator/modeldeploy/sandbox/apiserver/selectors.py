"""Label and field selectors, parsed as kube-apiserver parses them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.apiserver.errors import bad_request

_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_SET_REQUIREMENT = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        return not present


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `( ... )`."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _check_key(key: str, selector: str) -> str:
    if not _LABEL_KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise bad_request(
            f'unable to parse requirement: invalid label key "{key}" in selector "{selector}"'
        )
    return key


def _check_value(value: str, selector: str) -> str:
    if not _LABEL_VALUE.match(value) or len(value) > 63:
        raise bad_request(
            f'unable to parse requirement: invalid label value "{value}" in selector "{selector}"'
        )
    return value


def _parse_requirement(term: str, selector: str) -> Requirement:
    set_match = _SET_REQUIREMENT.match(term)
    if set_match:
        key, operator, raw_values = set_match.groups()
        values = frozenset(
            _check_value(v.strip(), selector) for v in raw_values.split(",") if v.strip()
        )
        return Requirement(_check_key(key, selector), operator, values)
    for operator in ("!=", "==", "="):
        if operator in term:
            key, value = (part.strip() for part in term.split(operator, 1))
            normalized = "=" if operator == "==" else operator
            values = frozenset({_check_value(value, selector)})
            return Requirement(_check_key(key, selector), normalized, values)
    if term.startswith("!"):
        return Requirement(_check_key(term[1:].strip(), selector), "!")
    return Requirement(_check_key(term, selector), "exists")


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        if not text:
            return cls(())
        return cls(tuple(_parse_requirement(term, text) for term in _split_top_level(text)))

    @classmethod
    def from_label_selector(cls, selector: Mapping[str, Any]) -> LabelSelector:
        """From a `metav1.LabelSelector` object (matchLabels + matchExpressions)."""
        requirements = [
            Requirement(key, "=", frozenset({str(value)}))
            for key, value in (selector.get("matchLabels") or {}).items()
        ]
        operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expression in selector.get("matchExpressions") or []:
            operator = operators.get(str(expression.get("operator")))
            if operator is None:
                raise bad_request(f"invalid label selector operator {expression.get('operator')}")
            values = frozenset(str(v) for v in expression.get("values") or [])
            requirements.append(Requirement(str(expression.get("key")), operator, values))
        return cls(tuple(requirements))

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return all(req.matches(labels or {}) for req in self.requirements)

    def __str__(self) -> str:
        terms = []
        for req in self.requirements:
            if req.operator in ("=", "!="):
                terms.append(f"{req.key}{req.operator}{next(iter(req.values))}")
            elif req.operator in ("in", "notin"):
                terms.append(f"{req.key} {req.operator} ({','.join(sorted(req.values))})")
            else:
                terms.append(req.key if req.operator == "exists" else f"!{req.key}")
        return ",".join(terms)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The string form of a field for selector matching (missing -> "")."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, Mapping):
        # `source` on events is an object; kube selects on its component.
        return str(current.get("component", ""))
    return str(current)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, str, str], ...]  # (field, operator, value)

    @classmethod
    def parse(cls, text: str | None, allowed: tuple[str, ...]) -> FieldSelector:
        if not text:
            return cls(())
        terms = []
        for term in _split_top_level(text):
            for operator in ("!=", "==", "="):
                if operator in term:
                    field, value = (part.strip() for part in term.split(operator, 1))
                    break
            else:
                raise bad_request(f'invalid field selector: "{term}" has no operator')
            if field not in ("metadata.name", "metadata.namespace", *allowed):
                raise bad_request(f'field label not supported: "{field}"')
            terms.append((field, "!=" if operator == "!=" else "=", value))
        return cls(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(
            (field_value(obj, field) == value) == (operator == "=")
            for field, operator, value in self.terms
        )


def object_filter(labels: LabelSelector, fields: FieldSelector) -> Callable[[dict[str, Any]], bool]:
    def matches(obj: dict[str, Any]) -> bool:
        return labels.matches(obj.get("metadata", {}).get("labels")) and fields.matches(obj)

    return matches
