"""Events (`kubectl describe` shows them): best effort, a lost event never blocks work."""

from __future__ import annotations

import logging
from typing import Any

from modeldeploy.sandbox.controllers.client import API_ERRORS, EVENTS, KubeClient, Obj
from modeldeploy.sandbox.controllers.clock import format_micro_time, format_time, utc_now

log = logging.getLogger(__name__)


async def record_event(
    client: KubeClient,
    involved: Obj,
    kind: str,
    reason: str,
    message: str,
    component: str,
    host: str = "",
) -> None:
    metadata = involved["metadata"]
    now = utc_now()
    event: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", "v1"),
            "kind": involved.get("kind", "Pod"),
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid", ""),
        },
        "type": kind,
        "reason": reason,
        "message": message,
        "source": {"component": component, **({"host": host} if host else {})},
        "reportingComponent": component,
        "reportingInstance": host or component,
        "firstTimestamp": format_time(now),
        "lastTimestamp": format_time(now),
        "eventTime": format_micro_time(now),
        "action": reason,
        "count": 1,
    }
    try:
        await client.create(EVENTS.path(metadata["namespace"]), event)
    except API_ERRORS as error:
        log.debug("event %s for %s not recorded: %s", reason, metadata["name"], error)
