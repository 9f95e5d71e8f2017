"""What the watches have shown: the resources and their children, by owner.

Filled from kopf's watch events (the initial listing included), so a reconcile reads no
object from the API server; only writes go out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from modeldeploy.rollout import labels

Key = tuple[str, str]  # (namespace, resource name)
Body = dict[str, Any]
CHILD_KINDS = ("Job", "Deployment", "Pod", "Service")


class Cache:
    def __init__(self) -> None:
        self.resources: dict[Key, Body] = {}
        self._children: dict[str, dict[Key, dict[str, Body]]] = {
            kind: defaultdict(dict) for kind in CHILD_KINDS
        }

    def put_resource(self, body: Mapping[str, Any], deleted: bool) -> Key:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if deleted:
            self.resources.pop(key, None)
        else:
            self.resources[key] = dict(body)
        return key

    def put_child(self, kind: str, body: Mapping[str, Any], deleted: bool) -> Key | None:
        """Store a child; the key of the resource it belongs to (None if it is not ours)."""
        metadata = body["metadata"]
        owner = (metadata.get("labels") or {}).get(labels.NAME)
        if owner is None:
            return None
        key = (metadata["namespace"], owner)
        if deleted:
            self._children[kind][key].pop(metadata["name"], None)
            if not self._children[kind][key]:
                del self._children[kind][key]
        else:
            self._children[kind][key][metadata["name"]] = dict(body)
        return key

    def children(self, kind: str, key: Key) -> dict[str, Body]:
        return dict(self._children[kind].get(key, {}))
