"""Errors as Kubernetes `metav1.Status` bodies with the reason and code a real API server uses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Cause(Protocol):
    """One `details.causes` entry: the field, the error body without the field, a reason."""

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def reason(self) -> str: ...


@dataclass(frozen=True)
class FieldCause:
    """A cause found by the server itself (built-in kinds, metadata, patches)."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"


def bad_value(value: Any) -> str:
    """A value as a `field.Error` prints it (Go's `%v`/`%q`/`%#v`): numbers and booleans plain,
    strings quoted, null, maps of strings as `map[string]string{"k":"v"}`.

    (Upstream prints other structs with `%#v` of its internal Go types; here they are JSON.)
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        pairs = ", ".join(f"{json.dumps(k)}:{json.dumps(value[k])}" for k in sorted(value))
        return "map[string]string{" + pairs + "}"
    return json.dumps(value, separators=(",", ":"), sort_keys=isinstance(value, dict))


class ApiError(Exception):
    """An API failure that becomes a `Status` response."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            # StatusDetails' fields are all omitempty (an empty group is the core group).
            body["details"] = {k: v for k, v in self.details.items() if v not in ("", None, [])}
        return body


def qualified(resource: str, group: str) -> str:
    """`pods` or `deployments.apps`: how messages name a resource or kind."""
    return f"{resource}.{group}" if group else resource


def _about(code: int, reason: str, message: str, resource: str, group: str, name: str) -> ApiError:
    return ApiError(code, reason, message, {"name": name, "group": group, "kind": resource})


def not_found(resource: str, group: str, name: str) -> ApiError:
    message = f'{qualified(resource, group)} "{name}" not found'
    return _about(404, "NotFound", message, resource, group, name)


def already_exists(resource: str, group: str, name: str) -> ApiError:
    message = f'{qualified(resource, group)} "{name}" already exists'
    return _about(409, "AlreadyExists", message, resource, group, name)


def conflict(resource: str, group: str, name: str, why: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": {why}'
    return _about(409, "Conflict", message, resource, group, name)


STALE_OBJECT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def invalid(kind: str, group: str, name: str, causes: Sequence[Cause]) -> ApiError:
    lines = [f"{cause.field}: {cause.message}" for cause in causes]
    summary = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{qualified(kind, group)} "{name}" is invalid: {summary}',
        {
            "name": name,
            "group": group,
            "kind": kind,
            "causes": [
                {"reason": c.reason, "message": c.message, "field": c.field} for c in causes
            ],
        },
    )


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    message = f'{qualified(resource, group)} "{name}" is forbidden: {why}'
    return _about(403, "Forbidden", message, resource, group, name)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed() -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def unsupported_media_type(
    content_type: str, accepted: list[str], reason: str | None = None
) -> ApiError:
    why = f": {reason}" if reason else ""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format ({content_type or 'none'}){why} - "
        f"accepted media types include: {', '.join(accepted)}",
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def apply_conflict(conflicts: Sequence[tuple[str, str]]) -> ApiError:
    """409 for (field path, manager) pairs an apply would take from their owners
    (fieldmanager/internal/conflict.go `NewConflictError`, `getConflictMessage`)."""
    if len(conflicts) == 1:
        path, manager = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {manager}: {path}"
    else:
        lines = []
        for manager in sorted({manager for _, manager in conflicts}):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {path}" for path, owner in conflicts if owner == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {manager}", "field": path}
        for path, manager in conflicts
    ]
    return ApiError(409, "Conflict", message, {"causes": causes})
