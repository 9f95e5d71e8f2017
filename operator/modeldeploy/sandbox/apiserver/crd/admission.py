"""What kube-apiserver does to a custom resource on create and update, for one CRD version.

In the server's order: unknown fields are pruned, defaults applied, the object is
validated against the OpenAPI schema and then, unless the schema already found a
blocking error, against the `x-kubernetes-validations` CEL rules.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.apiserver.crd import causes
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.cel_rules import (
    CompiledRules,
    compile_rules,
    evaluate_rules,
)
from modeldeploy.sandbox.apiserver.crd.correlation import NO_OLD
from modeldeploy.sandbox.apiserver.crd.defaults import apply_defaults
from modeldeploy.sandbox.apiserver.crd.prune import prune
from modeldeploy.sandbox.apiserver.crd.schema import Schema, parse
from modeldeploy.sandbox.apiserver.crd.validation import validate_resource

# Schema errors after which the server does not run the CEL rules (`hasBlockingErr`).
BLOCKING_REASONS = frozenset(
    {causes.NOT_SUPPORTED, causes.REQUIRED, causes.TOO_LONG, causes.TOO_MANY, causes.TYPE_INVALID}
)
RULES_NOT_CHECKED = (
    "some validation rules were not checked because the object was invalid; "
    "correct the existing errors to complete validation"
)


class UnknownVersionError(KeyError):
    """The CRD does not serve the asked version, or it has no schema."""


@dataclass(frozen=True)
class Admission:
    """The outcome of admitting one object."""

    object: dict[str, Any]
    causes: list[Cause]
    # Paths of the fields pruning removed, as the server's `unknown field "..."` warnings name them.
    unknown_fields: list[str]


class CustomResourceSchema:
    """The structural schema of one version of a CRD, ready to admit objects."""

    def __init__(self, openapi_schema: dict[str, Any]) -> None:
        self.root: Schema = parse(openapi_schema)
        self.rules: CompiledRules = compile_rules(self.root)

    @classmethod
    def from_crd(cls, crd: dict[str, Any], version: str) -> CustomResourceSchema:
        """The schema of `version` of a CRD that `validate_crd` accepted."""
        for served in crd.get("spec", {}).get("versions", []):
            if served.get("name") == version:
                schema = (served.get("schema") or {}).get("openAPIV3Schema")
                if not isinstance(schema, dict):
                    raise UnknownVersionError(
                        f"version {version!r} of the CRD has no openAPIV3Schema"
                    )
                return cls(schema)
        raise UnknownVersionError(f"the CRD has no version {version!r}")

    def review(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> Admission:
        """Prune, default and validate a copy of `obj` (`old` is the stored object on update)."""
        admitted = copy.deepcopy(obj)
        unknown = prune(admitted, self.root)
        apply_defaults(admitted, self.root)
        old_value: Any = NO_OLD if old is None else old
        found = validate_resource(admitted, self.root, old_value)
        if any(cause.reason in BLOCKING_REASONS for cause in found):
            found.append(causes.invalid(causes.NO_FIELD, None, RULES_NOT_CHECKED))
        else:
            found += evaluate_rules(admitted, old_value, self.root, self.rules, "")
        return Admission(admitted, found, unknown)

    def default(self, obj: dict[str, Any]) -> None:
        """Fill the schema's defaults into `obj` in place (objects read from storage)."""
        apply_defaults(obj, self.root)

    def admit(
        self, obj: dict[str, Any], old: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[Cause]]:
        """The defaulted and pruned object and its validation causes (none: valid)."""
        admission = self.review(obj, old)
        return admission.object, admission.causes
