"""Fan-out of stored changes to open watches, and the per-watch event filter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.sandbox.apiserver.store import Change, Key

# A watcher that falls this far behind is closed; its client re-watches from its last version.
_QUEUE_LIMIT = 10_000


@dataclass(eq=False)
class Subscription:
    key: Key
    queue: asyncio.Queue[Change | None] = field(default_factory=asyncio.Queue)
    overflowed: bool = False


class WatchHub:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self, key: Key) -> Subscription:
        subscription = Subscription(key)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def __len__(self) -> int:
        """Watches being served."""
        return len(self._subscriptions)

    def publish(self, change: Change) -> None:
        for subscription in list(self._subscriptions):
            if subscription.key != change.key:
                continue
            if subscription.queue.qsize() >= _QUEUE_LIMIT:
                subscription.overflowed = True
                self.unsubscribe(subscription)
                subscription.queue.put_nowait(None)
            else:
                subscription.queue.put_nowait(change)

    def close_all(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.queue.put_nowait(None)
        self._subscriptions.clear()


def watch_event(
    change: Change,
    namespace: str | None,
    matches: Callable[[dict[str, Any]], bool],
) -> tuple[str, dict[str, Any]] | None:
    """The event a filtered watch sees for `change`, as kube-apiserver computes it.

    An object that starts matching the selectors is ADDED, one that stops is DELETED.
    """
    obj_namespace = change.obj["metadata"].get("namespace") or ""
    if namespace is not None and obj_namespace != namespace:
        return None
    now = matches(change.obj)
    if change.type != "MODIFIED" or change.old is None:
        return (change.type, change.obj) if now else None
    before = matches(change.old)
    if now and before:
        return ("MODIFIED", change.obj)
    if now:
        return ("ADDED", change.obj)
    if before:
        return ("DELETED", change.obj)
    return None
