"""Events as the kubelet posts them (client-go tools/record): one object per distinct event,
whose repeats raise `count` (and `series`) instead of creating new objects, and a per-event
spam filter (events_cache.go: a burst of 25, then one every 5 minutes)."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from modeldeploy.sandbox.controllers.client import API_ERRORS, EVENTS, ApiError, KubeClient, Obj
from modeldeploy.sandbox.controllers.clock import format_micro_time, format_time, utc_now

log = logging.getLogger(__name__)

SPAM_BURST = 25  # events_cache.go defaultSpamBurst
SPAM_REFILL_SECONDS = 300.0  # defaultSpamQPS = 1/300


@dataclass
class _Seen:
    name: str
    count: int


@dataclass
class _Bucket:
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(SPAM_BURST, self.tokens + (now - self.at) / SPAM_REFILL_SECONDS)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def container_field_path(pod: Obj, container: str) -> str:
    """`spec.containers{name}` (or initContainers): what `kubectl describe` shows per event."""
    spec = pod.get("spec") or {}
    if any(c.get("name") == container for c in spec.get("initContainers") or []):
        return f"spec.initContainers{{{container}}}"
    return f"spec.containers{{{container}}}"


class EventRecorder:
    """Records one involved object's events (the kubelet's source: component and host)."""

    def __init__(self, client: KubeClient, component: str, host: str) -> None:
        self.client = client
        self.component = component
        self.host = host
        self._seen: dict[tuple[str, ...], _Seen] = {}
        self._buckets: dict[tuple[str, ...], _Bucket] = {}

    async def record(
        self, involved: Obj, kind: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        """Best effort: a lost event never blocks the pod."""
        metadata = involved["metadata"]
        key = (str(metadata.get("uid", "")), field_path, kind, reason, message)
        now = time.monotonic()
        bucket = self._buckets.setdefault(key, _Bucket(SPAM_BURST, now))
        if not bucket.take(now):
            return
        try:
            seen = self._seen.get(key)
            if seen is not None and await self._repeat(metadata["namespace"], seen):
                return
            self._seen[key] = await self._create(involved, kind, reason, message, field_path)
        except API_ERRORS as error:
            log.debug("event %s for %s not recorded: %s", reason, metadata.get("name"), error)

    async def _repeat(self, namespace: str, seen: _Seen) -> bool:
        """Counts one more occurrence on the existing object; False when it is gone."""
        now = utc_now()
        seen.count += 1
        patch = {
            "count": seen.count,
            "lastTimestamp": format_time(now),
            "series": {"count": seen.count, "lastObservedTime": format_micro_time(now)},
        }
        try:
            await self.client.merge_patch(EVENTS.path(namespace, seen.name), patch)
        except ApiError as error:
            if error.status == 404:  # expired (events have a TTL) or deleted: start anew
                return False
            raise
        return True

    async def _create(
        self, involved: Obj, kind: str, reason: str, message: str, field_path: str
    ) -> _Seen:
        metadata = involved["metadata"]
        now = utc_now()
        reference: dict[str, Any] = {
            "apiVersion": involved.get("apiVersion", "v1"),
            "kind": involved.get("kind", "Pod"),
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata.get("uid", ""),
        }
        if field_path:
            reference["fieldPath"] = field_path
        # The kubelet's names: <object>.<unique suffix> (client-go uses a hex timestamp).
        name = f"{metadata['name']}.{time.time_ns():x}{uuid.uuid4().hex[:4]}"
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": metadata["namespace"]},
            "involvedObject": reference,
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": self.component, "host": self.host},
            "reportingComponent": self.component,
            "reportingInstance": self.host,
            "firstTimestamp": format_time(now),
            "lastTimestamp": format_time(now),
            "count": 1,
        }
        created = await self.client.create(EVENTS.path(metadata["namespace"]), event)
        return _Seen(str(created["metadata"]["name"]), 1)
