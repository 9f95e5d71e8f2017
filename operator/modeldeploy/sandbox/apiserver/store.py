"""Object storage: SQLite on disk, every object also held in memory for fast reads.

All access happens on the server's single event-loop thread and no method awaits, so each
call is atomic: writers are serialized without locks and no update is ever lost.
The global resourceVersion is one counter, persisted with every write; a bounded log of
recent changes (also persisted) lets watches resume across restarts.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Key = tuple[str, str]  # (group, resource plural): the storage a resource type lives in
ObjectId = tuple[str, str]  # (namespace or "", name)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    grp TEXT NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (grp, resource, namespace, name));
CREATE TABLE IF NOT EXISTS changes (
    rv INTEGER PRIMARY KEY, grp TEXT NOT NULL, resource TEXT NOT NULL, type TEXT NOT NULL,
    body TEXT NOT NULL, old TEXT);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Change:
    """One entry of the change log: what a watch replays."""

    rv: int
    key: Key
    type: str  # ADDED / MODIFIED / DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(frozen=True)
class LoggedChange:
    """A change as the in-memory log keeps it: JSON text, parsed only when a watch replays it."""

    rv: int
    key: Key
    type: str
    body: str
    old: str | None

    def parsed(self) -> Change:
        old = json.loads(self.old) if self.old else None
        return Change(self.rv, self.key, self.type, json.loads(self.body), old)


def copied(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a stored (JSON) object, through JSON: several times faster than
    copy.deepcopy on these plain trees."""
    result: dict[str, Any] = json.loads(json.dumps(obj, separators=(",", ":")))
    return result


def object_id(obj: dict[str, Any]) -> ObjectId:
    metadata = obj["metadata"]
    return (metadata.get("namespace") or "", metadata["name"])


class Store:
    def __init__(self, path: Path, history: int) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._history_size = history
        self._objects: dict[Key, dict[ObjectId, dict[str, Any]]] = {}
        for grp, resource, namespace, name, body in self._db.execute(
            "SELECT grp, resource, namespace, name, body FROM objects"
        ):
            self._objects.setdefault((grp, resource), {})[(namespace, name)] = json.loads(body)
        self.history: deque[LoggedChange] = deque(maxlen=history)
        for rv, grp, resource, kind, body, old in self._db.execute(
            "SELECT rv, grp, resource, type, body, old FROM changes ORDER BY rv DESC LIMIT ?",
            (history,),
        ):
            self.history.appendleft(LoggedChange(rv, (grp, resource), kind, body, old))
        row = self._db.execute("SELECT value FROM counters WHERE name = 'rv'").fetchone()
        self.resource_version: int = row[0] if row else 1
        # Everything at or before this version that is not in `history` is compacted.
        self.compacted: int = self.history[0].rv - 1 if self.history else self.resource_version

    def close(self) -> None:
        self._db.close()

    def get(self, key: Key, oid: ObjectId) -> dict[str, Any] | None:
        obj = self._objects.get(key, {}).get(oid)
        return copied(obj) if obj is not None else None

    def peek(self, key: Key, oid: ObjectId) -> dict[str, Any] | None:
        """The stored object itself, not a copy (for reads on every request): do not mutate it."""
        return self._objects.get(key, {}).get(oid)

    def items(self, key: Key, namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """Objects sorted by (namespace, name); not copied: callers must not mutate them."""
        bucket = self._objects.get(key, {})
        for oid in sorted(bucket):
            if namespace is None or oid[0] == namespace:
                yield bucket[oid]

    def stored_keys(self) -> list[Key]:
        return [key for key, bucket in self._objects.items() if bucket]

    def next_version(self) -> int:
        return self.resource_version + 1

    def write(self, key: Key, obj: dict[str, Any], old: dict[str, Any] | None) -> Change:
        """Store `obj` (ADDED when there was no `old`) with a new resourceVersion."""
        rv = self.next_version()
        obj["metadata"]["resourceVersion"] = str(rv)
        oid = object_id(obj)
        body = json.dumps(obj, separators=(",", ":"))
        # Copies by decoding the body just encoded: several times faster than deepcopy.
        change = Change(rv, key, "MODIFIED" if old else "ADDED", json.loads(body), old)
        with self._db:
            self._db.execute("BEGIN")  # the object and its change-log entry, atomically
            self._db.execute(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)", (*key, *oid, body)
            )
            self._log(change, body)
        self._objects.setdefault(key, {})[oid] = json.loads(body)
        return change

    def remove(self, key: Key, obj: dict[str, Any]) -> Change:
        """Delete `obj`; the DELETED event carries its last state at a new resourceVersion."""
        rv = self.next_version()
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = str(rv)
        oid = object_id(obj)
        change = Change(rv, key, "DELETED", final, None)
        with self._db:
            self._db.execute("BEGIN")  # the object and its change-log entry, atomically
            self._db.execute(
                "DELETE FROM objects WHERE grp = ? AND resource = ? AND namespace = ? AND name = ?",
                (*key, *oid),
            )
            self._log(change, json.dumps(final, separators=(",", ":")))
        self._objects.get(key, {}).pop(oid, None)
        return change

    def _log(self, change: Change, body: str) -> None:
        """Append to the change log; `body` is the JSON text of `change.obj`."""
        old = json.dumps(change.old, separators=(",", ":")) if change.old else None
        logged = LoggedChange(change.rv, change.key, change.type, body, old)
        self._db.execute(
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?, ?)",
            (logged.rv, *logged.key, logged.type, logged.body, logged.old),
        )
        self._db.execute("INSERT OR REPLACE INTO counters VALUES ('rv', ?)", (change.rv,))
        if len(self.history) == self._history_size:
            self.compacted = self.history[0].rv
        self.history.append(logged)
        self.resource_version = change.rv
        if change.rv % 1000 == 0:
            self._db.execute("DELETE FROM changes WHERE rv <= ?", (self.compacted,))

    def changes_since(self, rv: int, key: Key) -> list[Change]:
        """The logged changes of `key` after `rv`; the caller checks `rv >= compacted` first."""
        return [logged.parsed() for logged in self.history if logged.rv > rv and logged.key == key]
