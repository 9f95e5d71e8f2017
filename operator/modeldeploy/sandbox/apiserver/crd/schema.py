"""A structural OpenAPI v3 schema node, read once from a CRD's `openAPIV3Schema`.

Only the keywords kube-apiserver gives a meaning to are kept; the raw dict stays
available for the structural checks of `validate_crd`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The fields every Kubernetes object has, kept at a resource root and in embedded resources.
RESOURCE_FIELDS = frozenset({"apiVersion", "kind", "metadata"})


@dataclass
class ValidationRule:
    """One `x-kubernetes-validations` entry."""

    rule: str
    message: str = ""
    message_expression: str = ""
    field_path: str = ""
    reason: str = ""
    optional_old_self: bool = False


@dataclass
class Schema:
    """The keywords of one schema node that defaulting, pruning and validation use."""

    raw: dict[str, Any]
    type: str = ""
    format: str = ""
    properties: dict[str, Schema] = field(default_factory=dict)
    items: Schema | None = None
    additional_properties: Schema | None = None
    # additionalProperties: true (any value kept) or a schema; false/absent -> None.
    additional_properties_allowed: bool = False
    required: list[str] = field(default_factory=list)
    enum: list[Any] | None = None
    has_default: bool = False
    default: Any = None
    nullable: bool = False
    preserve_unknown_fields: bool = False
    embedded_resource: bool = False
    int_or_string: bool = False
    list_type: str = ""
    list_map_keys: list[str] = field(default_factory=list)
    all_of: list[Schema] = field(default_factory=list)
    any_of: list[Schema] = field(default_factory=list)
    one_of: list[Schema] = field(default_factory=list)
    not_: Schema | None = None
    rules: list[ValidationRule] = field(default_factory=list)

    def keyword(self, name: str) -> Any:
        return self.raw.get(name)

    @property
    def is_map(self) -> bool:
        """An object whose keys are free (`additionalProperties`), not named properties."""
        return self.additional_properties is not None or self.additional_properties_allowed

    def child(self, key: str) -> Schema | None:
        """The schema of an object's field `key`, named or through additionalProperties."""
        if key in self.properties:
            return self.properties[key]
        return self.additional_properties


def parse(raw: Any) -> Schema:
    """Read a schema dict (already checked by `validate_crd`, or at least a dict)."""
    if not isinstance(raw, dict):
        return Schema(raw={})
    additional = raw.get("additionalProperties")
    return Schema(
        raw=raw,
        type=raw.get("type", "") if isinstance(raw.get("type"), str) else "",
        format=raw.get("format", "") if isinstance(raw.get("format"), str) else "",
        properties={
            name: parse(sub)
            for name, sub in as_mapping(raw.get("properties")).items()
            if isinstance(name, str)
        },
        items=parse(raw["items"]) if isinstance(raw.get("items"), dict) else None,
        additional_properties=parse(additional) if isinstance(additional, dict) else None,
        additional_properties_allowed=additional is True,
        required=[name for name in as_list(raw.get("required")) if isinstance(name, str)],
        enum=list(raw["enum"]) if isinstance(raw.get("enum"), list) else None,
        has_default="default" in raw,
        default=raw.get("default"),
        nullable=raw.get("nullable") is True,
        preserve_unknown_fields=raw.get("x-kubernetes-preserve-unknown-fields") is True,
        embedded_resource=raw.get("x-kubernetes-embedded-resource") is True,
        int_or_string=raw.get("x-kubernetes-int-or-string") is True,
        list_type=raw.get("x-kubernetes-list-type") or "",
        list_map_keys=[
            k for k in as_list(raw.get("x-kubernetes-list-map-keys")) if isinstance(k, str)
        ],
        all_of=[parse(s) for s in as_list(raw.get("allOf"))],
        any_of=[parse(s) for s in as_list(raw.get("anyOf"))],
        one_of=[parse(s) for s in as_list(raw.get("oneOf"))],
        not_=parse(raw["not"]) if isinstance(raw.get("not"), dict) else None,
        rules=[
            _rule(r) for r in as_list(raw.get("x-kubernetes-validations")) if isinstance(r, dict)
        ],
    )


def _rule(raw: dict[str, Any]) -> ValidationRule:
    def text(key: str) -> str:
        value = raw.get(key)
        return value if isinstance(value, str) else ""

    return ValidationRule(
        rule=text("rule"),
        message=text("message"),
        message_expression=text("messageExpression"),
        field_path=text("fieldPath"),
        reason=text("reason"),
        optional_old_self=raw.get("optionalOldSelf") is True,
    )


def as_mapping(value: Any) -> dict[Any, Any]:
    """`value` if it is a dict, else an empty one (for reading unchecked input)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty one (for reading unchecked input)."""
    return value if isinstance(value, list) else []
