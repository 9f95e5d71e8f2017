"""Query and body options of delete requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.apiserver import errors

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")
# Resources whose registry sets `ReturnDeletedObject: true` (pkg/registry/core/{pod,service,
# serviceaccount,persistentvolume,persistentvolumeclaim}/storage; their OpenAPI delete answers
# name the kind): a delete answers with the object, the others with a Status.
_RETURN_DELETED_OBJECT = frozenset(
    {
        ("", "pods"),
        ("", "services"),
        ("", "serviceaccounts"),
        ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"),
    }
)


@dataclass(frozen=True)
class DeleteOptions:
    propagation: str | None = None
    grace_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False
    # `orphanDependents: false` asked for explicitly (the one case that answers 202).
    cascade_asked: bool = False

    @classmethod
    def parse(cls, body: dict[str, Any], query: dict[str, str]) -> DeleteOptions:
        """From a DeleteOptions body and/or the query (the query wins, like upstream)."""
        propagation = query.get("propagationPolicy") or body.get("propagationPolicy")
        orphan = query.get("orphanDependents", body.get("orphanDependents"))
        if propagation is None and orphan is not None:
            propagation = "Orphan" if str(orphan).lower() == "true" else "Background"
        if propagation is not None and propagation not in PROPAGATION_POLICIES:
            raise errors.bad_request(
                f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                + ", ".join(f'"{p}"' for p in PROPAGATION_POLICIES)
            )
        grace = query.get("gracePeriodSeconds", body.get("gracePeriodSeconds"))
        try:
            grace_seconds = None if grace is None else int(grace)
        except ValueError as error:
            raise errors.bad_request(f"gracePeriodSeconds: invalid integer {grace!r}") from error
        preconditions = body.get("preconditions") or {}
        dry_run = query.get("dryRun") or body.get("dryRun")
        return cls(
            propagation=propagation,
            grace_seconds=grace_seconds,
            precondition_uid=preconditions.get("uid"),
            precondition_rv=preconditions.get("resourceVersion"),
            dry_run=bool(dry_run),
            cascade_asked=orphan is not None and str(orphan).lower() == "false",
        )

    def status_code(self, gone: bool) -> int:
        """staging/src/k8s.io/apiserver/pkg/endpoints/handlers/delete.go: 200, also for an
        object that stays for its finalizers, a graceful pod or a namespace; 202 only when it
        stays and the client set `orphanDependents: false`."""
        return 202 if not gone and self.cascade_asked else 200


def delete_answer(group: str, plural: str, obj: dict[str, Any], gone: bool) -> dict[str, Any]:
    """What a delete returns (registry/generic/registry/store.go `finalizeDelete`): an object
    that stays is returned as it now is; one deleted at once is returned only by the registries
    with `ReturnDeletedObject`, the others answer a Success Status naming it."""
    if not gone or (group, plural) in _RETURN_DELETED_OBJECT:
        return obj
    meta = obj.get("metadata") or {}
    details = {"name": meta.get("name"), "group": group, "kind": plural, "uid": meta.get("uid")}
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {key: value for key, value in details.items() if value},
    }
