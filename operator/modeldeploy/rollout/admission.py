"""Is the spec acceptable? The API server checks it with the CRD's schema and CEL rules; this
checks it again with the same models, for API servers that skip CEL rules (before Kubernetes
1.25) and for resources stored before the CRD was upgraded."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec, field_errors
from modeldeploy.api.v1alpha1.resource import NAME_LIMIT, NAME_PATTERN
from modeldeploy.api.v1alpha1.status import Phase
from modeldeploy.rollout.conditions import set_condition

ACCEPTED = "Accepted"
MESSAGE_LIMIT = 1024


def spec_errors(spec: Mapping[str, Any]) -> list[str]:
    """`spec.path: message` for each problem of the spec; empty when it is valid."""
    try:
        ModelDeploymentSpec.model_validate(spec)
    except ValidationError as error:
        return field_errors(error, prefix=("spec",))
    return []


def name_errors(name: str) -> list[str]:
    """The resource's name names its Service and labels its children (a DNS-1035 label)."""
    if len(name) <= NAME_LIMIT and re.match(NAME_PATTERN, name):
        return []
    return [f"metadata.name: {name!r} must be a DNS-1035 label of at most {NAME_LIMIT} characters"]


def admission_status(
    resource: Mapping[str, Any], now: datetime, more_errors: Sequence[str] = ()
) -> dict[str, Any]:
    """The status fields that record whether the current generation's spec is acceptable;
    `more_errors` are problems found by building the children (e.g. pod overrides)."""
    status = resource.get("status") or {}
    generation = int(resource["metadata"].get("generation", 0))
    errors = [
        *name_errors(resource["metadata"].get("name", "")),
        *spec_errors(resource.get("spec") or {}),
        *more_errors,
    ]
    message = "; ".join(errors)
    if len(message) > MESSAGE_LIMIT:
        message = message[: MESSAGE_LIMIT - 3] + "..."
    conditions = set_condition(
        status.get("conditions") or [],
        type_=ACCEPTED,
        status=not errors,
        reason="InvalidSpec" if errors else "SpecValid",
        message=message or "the spec is valid",
        generation=generation,
        now=now,
    )
    return {
        "observedGeneration": generation,
        "phase": _phase(status, refused=bool(errors)),
        "conditions": conditions,
    }


def _phase(status: Mapping[str, Any], refused: bool) -> str:
    """`Failed` while the spec is refused; `Pending` until a rollout takes the resource further,
    and again once a refused spec is fixed. Other phases are not admission's to change."""
    if refused:
        return Phase.FAILED.value
    current = status.get("phase")
    was_refused = any(
        c.get("type") == ACCEPTED and c.get("status") == "False"
        for c in status.get("conditions") or []
    )
    if current is None or (current == Phase.FAILED and was_refused):
        return Phase.PENDING.value
    return str(current)


def status_changes(resource: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch of the status fields in `wanted` that differ (an unchanged resource
    gets no write at all). Inside a changed object, a field that is gone is sent as null:
    a merge patch would otherwise keep it."""
    status = resource.get("status") or {}
    return {
        key: _merge_patch(status.get(key), value)
        for key, value in wanted.items()
        if status.get(key) != value
    }


def _merge_patch(old: Any, new: Any) -> Any:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return new
    patch = {k: _merge_patch(old.get(k), v) for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new})
    return patch
