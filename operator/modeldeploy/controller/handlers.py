"""ModelDeployment handlers. Only `status` is ever written on the user's resource."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf

from modeldeploy.api.v1alpha1 import GROUP, PLURAL, VERSION
from modeldeploy.controller.metrics import EVENTS, STATUS_WRITES
from modeldeploy.rollout.admission import ACCEPTED, admission_status, status_changes


# Level-triggered: every event re-derives the status from the resource as it is now, so a
# restart or a missed event converges to the same status and nothing is stored in annotations.
@kopf.on.event(GROUP, VERSION, PLURAL)
def record_admission(
    type: str | None, body: kopf.Body, patch: kopf.Patch, logger: kopf.Logger, **_: Any
) -> None:
    EVENTS.labels(type=type or "LIST").inc()
    if type == "DELETED" or body.metadata.get("deletionTimestamp"):
        return
    resource = dict(body)
    changes = status_changes(resource, admission_status(resource, datetime.now(UTC)))
    if not changes:
        return
    accepted = next((c for c in changes.get("conditions", []) if c["type"] == ACCEPTED), None)
    if accepted is not None:
        STATUS_WRITES.labels(reason=accepted["reason"]).inc()
        if accepted["status"] == "False":
            kopf.warn(body, reason="InvalidSpec", message=accepted["message"])
            logger.warning("spec rejected: %s", accepted["message"])
    patch.status.update(changes)
