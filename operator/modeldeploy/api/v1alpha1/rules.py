"""Cross-field rules, each written once as a Python check and as the CEL rule the CRD carries.

Pydantic enforces `check`; `crdgen` copies `cel` into `x-kubernetes-validations`, so a real API
server rejects the same resources (tests run both over one corpus of invalid specs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

RULE_ERROR = "modeldeploy_rule"


@dataclass(frozen=True)
class Rule:
    """One invariant over an object; `field` is the camelCase field a violation is reported on."""

    cel: str
    message: str
    check: Callable[[Any], bool]
    field: str | None = None

    def as_validation(self) -> dict[str, str]:
        validation = {"rule": self.cel, "message": self.message}
        if self.field is not None:
            validation["fieldPath"] = f".{self.field}"
        return validation


class ApiModel(BaseModel):
    """Base of every API object: camelCase on the wire, unknown fields rejected, rules enforced."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        validate_default=True,
    )
    rules: ClassVar[tuple[Rule, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if cls.rules:
            target = handler.resolve_ref_schema(json_schema)
            target["x-kubernetes-validations"] = [rule.as_validation() for rule in cls.rules]
        return json_schema

    @model_validator(mode="after")
    def _enforce_rules(self) -> Self:
        for rule in self.rules:
            if not rule.check(self):
                raise PydanticCustomError(
                    RULE_ERROR, "{message}", {"message": rule.message, "field": rule.field}
                )
        return self


def full_default(model: type[ApiModel]) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra` that gives an object field the model's fully defaulted value.

    kube-apiserver evaluates the CEL rules of a node on its `default` as written, without
    filling in the defaults below it first, so a bare `{}` fails a rule that reads a defaulted
    field ("no such key"); see apiextensions-apiserver
    pkg/apiserver/schema/defaulting/validation.go.
    """

    def extra(schema: dict[str, Any]) -> None:
        schema["default"] = model().model_dump(mode="json", by_alias=True, exclude_none=True)

    return extra


def cel_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"
