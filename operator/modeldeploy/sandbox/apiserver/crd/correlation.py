"""Which old value a new value is compared with on update (transition rules, ratcheting).

Object fields and map entries correlate by key, items of a list-type=map list by their
map keys; items of any other list do not correlate (the list is atomic).
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver.crd.schema import Schema
from modeldeploy.sandbox.apiserver.crd.values import json_equal

# The old value where there is none: on create, or below a part that does not correlate.
NO_OLD: Any = object()


def old_field(old: Any, key: str) -> Any:
    return old.get(key, NO_OLD) if isinstance(old, dict) else NO_OLD


def old_items(value: list[Any], old: Any, schema: Schema) -> list[Any]:
    """The old item of each new item, or NO_OLD."""
    if schema.list_type != "map" or not isinstance(old, list):
        return [NO_OLD] * len(value)
    keys = schema.list_map_keys

    def same_keys(new_item: Any, old_item: Any) -> bool:
        return isinstance(old_item, dict) and all(
            json_equal(new_item.get(key), old_item.get(key)) for key in keys
        )

    return [
        next((item for item in old if same_keys(new, item)), NO_OLD)
        if isinstance(new, dict)
        else NO_OLD
        for new in value
    ]


def unchanged(value: Any, old: Any) -> bool:
    """Whether an update left this value as it was (kube-apiserver then ratchets its errors)."""
    return old is not NO_OLD and json_equal(value, old)
