"""Server-side apply, simplified: the fields a manager applied are recorded in
`metadata.managedFields` (FieldsV1); a later apply by the same manager removes the fields
it applied before and no longer sets, then merges the new configuration in. Ownership is not
shared or contested: there are no apply conflicts (as if every apply were `force=true`)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from modeldeploy.sandbox.apiserver.patch import (
    apply_merge_patch,
    apply_strategic_merge_patch,
    merge_key,
)

APPLY_PATCH = "application/apply-patch+yaml"
# A path step: a field name, or a list item identified by its merge key ("k", key, value).
Step = str | tuple[str, str, Any]
Path = tuple[Step, ...]
_ITEM = "."  # the step that stands for a keyed list item itself


def _field_names(path: Path) -> tuple[str, ...]:
    return tuple(step for step in path if isinstance(step, str) and step != _ITEM)


def managed_paths(config: Any, strategic: bool, path: Path = ()) -> set[Path]:
    """The leaf paths a configuration sets (keyed list items included as items)."""
    if not isinstance(config, dict) or not config:
        return {path} if path else set()
    found: set[Path] = set()
    for name, value in config.items():
        if path == () and name in ("apiVersion", "kind"):
            continue
        child = (*path, name)
        key = merge_key(_field_names(child)) if strategic and isinstance(value, list) else None
        if key is not None and all(isinstance(item, dict) and key in item for item in value):
            for item in value:
                item_path = (*child, ("k", key, item[key]))
                found.add((*item_path, _ITEM))
                found |= managed_paths(item, strategic, item_path)
        else:
            found |= managed_paths(value, strategic, child)
    return found


def _remove(obj: Any, path: Path) -> None:
    """Delete what `path` names from `obj`, when it is there."""
    *parents, last = path
    target = obj
    for step in parents:
        target = _child(target, step)
        if target is None:
            return
    if last == _ITEM:
        return
    if isinstance(last, str) and isinstance(target, dict):
        target.pop(last, None)
    elif isinstance(last, tuple) and isinstance(target, list):
        target[:] = [item for item in target if not _matches(item, last)]


def _remove_item(obj: Any, path: Path) -> None:
    """Remove a whole keyed list item (a path ending in the item step)."""
    _remove(obj, path[:-1])


def _matches(item: Any, step: tuple[str, str, Any]) -> bool:
    return isinstance(item, dict) and item.get(step[1]) == step[2]


def _child(target: Any, step: Step) -> Any:
    if isinstance(step, str):
        return target.get(step) if isinstance(target, dict) else None
    if isinstance(target, list):
        return next((item for item in target if _matches(item, step)), None)
    return None


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for step in path:
            if step == _ITEM:
                label = "."
            elif isinstance(step, str):
                label = f"f:{step}"
            else:
                label = "k:" + json.dumps({step[1]: step[2]}, separators=(",", ":"))
            node = node.setdefault(label, {})
    return tree


def from_fields_v1(tree: Any, path: Path = ()) -> set[Path]:
    if not isinstance(tree, dict):
        return set()
    if not tree:
        return {path} if path else set()
    found: set[Path] = set()
    for label, child in tree.items():
        if label == ".":
            found.add((*path, _ITEM))
        elif label.startswith("f:"):
            found |= from_fields_v1(child, (*path, label[2:]))
        elif label.startswith("k:"):
            try:
                [(key, value)] = json.loads(label[2:]).items()
            except ValueError:
                continue
            found |= from_fields_v1(child, (*path, ("k", key, value)))
    return found


def server_side_apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    api_version: str,
    strategic: bool,
) -> dict[str, Any]:
    """The object after `manager` applies `config` to `live` (None: it does not exist yet)."""
    applied = copy.deepcopy(config)
    new_paths = managed_paths(applied, strategic)
    entries = list(((live or {}).get("metadata") or {}).get("managedFields") or [])
    previous = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None
    )
    result = copy.deepcopy(live) if live is not None else {}
    if previous is not None:
        stale = from_fields_v1(previous.get("fieldsV1")) - new_paths
        # Items first, deepest paths first, so each removal finds what it names.
        for path in sorted(stale, key=len, reverse=True):
            if path[-1] == _ITEM:
                _remove_item(result, path)
            else:
                _remove(result, path)
    merged = (apply_strategic_merge_patch if strategic else apply_merge_patch)(result, applied)
    entry = {
        "manager": manager,
        "operation": "Apply",
        "apiVersion": api_version,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(new_paths),
    }
    kept = [e for e in entries if e is not previous]
    merged.setdefault("metadata", {})["managedFields"] = [*kept, entry]
    return dict(merged)
