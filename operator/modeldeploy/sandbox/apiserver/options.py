"""Query and body options of delete requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.apiserver import errors

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


@dataclass(frozen=True)
class DeleteOptions:
    propagation: str | None = None
    grace_seconds: int | None = None
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False

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
        )
