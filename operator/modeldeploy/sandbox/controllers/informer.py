"""List+watch caches (informers) and a de-duplicating work queue, as in client-go."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from modeldeploy.sandbox.controllers.client import API_ERRORS, ApiError, Kind, KubeClient, Obj

log = logging.getLogger(__name__)

Handler = Callable[[str, Obj], None]
WATCH_TIMEOUT_SECONDS = 240
_WATCH_ERRORS: tuple[type[Exception], ...] = (*API_ERRORS, ValueError, OSError)


def object_key(obj: Obj) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata.get('name')}" if namespace else str(metadata.get("name"))


def _newer_or_equal(candidate: Obj, current: Obj) -> bool:
    new_rv = (candidate.get("metadata") or {}).get("resourceVersion", "")
    old_rv = (current.get("metadata") or {}).get("resourceVersion", "")
    if str(new_rv).isdigit() and str(old_rv).isdigit():
        return int(new_rv) >= int(old_rv)
    return True


class Informer:
    """Keeps every object of one kind (optionally filtered) up to date, calling handlers on change.

    Handlers get the event type (ADDED, MODIFIED, DELETED) and the object; they must not block.
    """

    def __init__(self, client: KubeClient, kind: Kind, field_selector: str = "") -> None:
        self._client = client
        self.kind = kind
        self._field_selector = field_selector
        self._cache: dict[str, Obj] = {}
        self._handlers: list[Handler] = []
        self.synced = asyncio.Event()

    def on_change(self, handler: Handler) -> None:
        self._handlers.append(handler)

    def get(self, key: str) -> Obj | None:
        return self._cache.get(key)

    def items(self) -> Iterator[Obj]:
        return iter(list(self._cache.values()))

    def remember(self, obj: Obj) -> None:
        """Record an object this process just wrote, before its watch event arrives."""
        self._store("MODIFIED", obj)

    def forget(self, obj: Obj) -> None:
        self._store("DELETED", obj)

    def _store(self, event_type: str, obj: Obj) -> None:
        key = object_key(obj)
        current = self._cache.get(key)
        if current is not None and not _newer_or_equal(obj, current):
            return
        if event_type == "DELETED":
            self._cache.pop(key, None)
        else:
            self._cache[key] = obj
        for handler in self._handlers:
            handler(event_type, obj)

    def _params(self) -> dict[str, str]:
        return {"fieldSelector": self._field_selector} if self._field_selector else {}

    async def _relist(self) -> str:
        listing = await self._client.get(self.kind.path(), self._params())
        fresh = {object_key(item): item for item in listing.get("items") or []}
        for key, obj in list(self._cache.items()):
            if key not in fresh:
                self._cache.pop(key)
                for handler in self._handlers:
                    handler("DELETED", obj)
        for item in fresh.values():
            self._cache.pop(object_key(item), None)  # a list is authoritative, even if "older"
            self._store("ADDED", item)
        self.synced.set()
        return str((listing.get("metadata") or {}).get("resourceVersion", ""))

    async def _watch(self, version: str) -> str:
        params = {
            **self._params(),
            "resourceVersion": version,
            "timeoutSeconds": str(WATCH_TIMEOUT_SECONDS),
        }
        async for event in self._client.watch(self.kind.path(), params):
            obj: dict[str, Any] = event.get("object") or {}
            kind = event.get("type")
            if kind == "ERROR":
                raise ApiError(int(obj.get("code", 500)), str(obj.get("reason")), str(obj))
            version = str((obj.get("metadata") or {}).get("resourceVersion", version))
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                self._store(str(kind), obj)
        return version

    async def run(self) -> None:
        """List, then watch from the list's version; re-list after 410 Gone or any error."""
        delay = 0.2
        while True:
            try:
                version = await self._relist()
                delay = 0.2
                while True:
                    version = await self._watch(version)
            except _WATCH_ERRORS as error:
                if not (isinstance(error, ApiError) and error.status == 410):
                    log.warning("watch %s failed: %s", self.kind.plural, error)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)


class WorkQueue:
    """Keys to reconcile: a key is queued at most once and never handled by two workers at once."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._processing: set[str] = set()
        self._dirty: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def add(self, key: str) -> None:
        if key in self._processing:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    def add_after(self, key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None and not timer.cancelled() and timer.when() <= when:
            return
        if timer is not None:
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> str:
        key = await self._queue.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
