"""Fan-out of stored changes to open watches, and the per-watch event filter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.errors import FieldCause
from modeldeploy.sandbox.apiserver.store import Change, Key

# The last bookmark comes this long before a watch's timeout (the cacher's `nextBookmarkTime`,
# staging/src/k8s.io/apiserver/pkg/storage/cacher/cache_watcher.go), so clients resume from it.
_PRE_TIMEOUT_BOOKMARK_SECONDS = 2.0
_NOT_OLDER_THAN = "NotOlderThan"

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


def next_bookmark_time(now: float, frequency: float, deadline: float) -> float | None:
    """When the next bookmark is due: every `frequency`, and once ~2 s before the deadline."""
    due = min(now + frequency, deadline - _PRE_TIMEOUT_BOOKMARK_SECONDS)
    return due if due >= now else None


def _forbidden(field: str, why: str) -> FieldCause:
    return FieldCause(field, f"Forbidden: {why}", "FieldValueForbidden")


def list_options_causes(query: dict[str, str], watching: bool) -> list[FieldCause]:
    """`ValidateListOptions` (staging/src/k8s.io/apimachinery/pkg/apis/meta/internalversion/
    validation/validation.go) for the `sendInitialEvents` / `resourceVersionMatch` pair."""
    initial, match = query.get("sendInitialEvents"), query.get("resourceVersionMatch") or ""
    causes: list[FieldCause] = []
    if not watching:
        if match and not query.get("resourceVersion"):
            causes.append(
                _forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        if match and match not in ("Exact", _NOT_OLDER_THAN):
            causes.append(
                FieldCause(
                    "resourceVersionMatch",
                    f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan", ""',
                    "FieldValueNotSupported",
                )
            )
        if initial is not None:
            causes.append(
                _forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")
            )
        return causes
    if initial is not None and match != _NOT_OLDER_THAN:
        causes.append(
            _forbidden(
                "resourceVersionMatch",
                f"sendInitialEvents requires setting resourceVersionMatch to {_NOT_OLDER_THAN}",
            )
        )
    if match:
        if initial is None:
            causes.append(
                _forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                    "provided",
                )
            )
        if match != _NOT_OLDER_THAN:
            causes.append(
                FieldCause(
                    "resourceVersionMatch",
                    f'Unsupported value: "{match}": supported values: "NotOlderThan"',
                    "FieldValueNotSupported",
                )
            )
    return causes


def check_list_options(query: dict[str, str], watching: bool) -> None:
    """The 422 kube-apiserver answers for list options that do not go together."""
    causes = list_options_causes(query, watching)
    if causes:
        raise errors.invalid("ListOptions", "meta.k8s.io", "", causes)
