"""Server-side apply and field ownership, as kube-apiserver's field manager keeps them
(staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager, sigs.k8s.io/
structured-merge-diff): each manager's fields are recorded in `metadata.managedFields`
(FieldsV1), per operation (Apply, Update) and subresource.

- An apply that sets a field another manager owns to a different value is a conflict (409),
  unless forced, which moves the field to the applier; the same value shares ownership.
- A re-apply removes the fields the manager applied before and no longer sets, unless another
  manager owns them too, then merges the configuration in.
- Every other write (create, update, patch) makes its manager own the fields it changed,
  taking them from the others; fields that no longer exist are owned by nobody.
Lists with a merge key (built-in kinds) are owned item by item; other lists as a whole."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modeldeploy.sandbox.apiserver.patch import (
    apply_merge_patch,
    apply_strategic_merge_patch,
    merge_key,
)

APPLY_PATCH = "application/apply-patch+yaml"
# Fields no manager owns (the field manager strips them: internal/stripmeta.go).
_SYSTEM_METADATA = frozenset(
    {
        "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
        "selfLink", "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds",
    }
)  # fmt: skip
_MAX_MANAGER_LENGTH = 128
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
        if path == ("metadata",) and name in _SYSTEM_METADATA:
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


@dataclass(frozen=True)
class Conflict:
    """A field `manager` owns that an apply would set to another value."""

    path: str
    manager: str


class ApplyConflictError(Exception):
    def __init__(self, conflicts: list[Conflict]) -> None:
        super().__init__(f"{len(conflicts)} apply conflicts")
        self.conflicts = conflicts


def path_string(path: Path) -> str:
    """A path as structured-merge-diff prints it: `.spec.containers[name="c"].image`."""
    text = ""
    for step in path:
        if step == _ITEM:
            continue
        if isinstance(step, str):
            text += f".{step}"
        else:
            text += f"[{step[1]}={json.dumps(step[2])}]"
    return text


def describe_manager(entry: dict[str, Any]) -> str:
    """`printManager` (fieldmanager/internal/conflict.go): the name, its subresource, and the
    API version of an Update manager."""
    text = json.dumps(str(entry.get("manager", "")))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def _lookup(obj: Any, path: Path) -> tuple[bool, Any]:
    """(whether `path` exists in `obj`, its value)."""
    target = obj
    for step in path:
        if step == _ITEM:
            return target is not None, target
        target = _child(target, step)
        if target is None:
            return False, None
    return True, target


def _paths_of(entry: dict[str, Any]) -> set[Path]:
    return from_fields_v1(entry.get("fieldsV1"))


def _entry(
    manager: str, operation: str, api_version: str, paths: set[Path], subresource: str | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _same_entry(entry: dict[str, Any], manager: str, operation: str, sub: str | None) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and (entry.get("subresource") or None) == sub
    )


def _narrowed(
    entries: list[dict[str, Any]], narrow: Callable[[dict[str, Any], set[Path]], set[Path]]
) -> list[dict[str, Any]]:
    """The entries with the paths `narrow(entry, paths)` keeps; those left with none dropped."""
    kept = []
    for entry in entries:
        paths = _paths_of(entry)
        remaining = narrow(entry, paths)
        if remaining != paths:
            if not remaining:
                continue
            entry = {**entry, "fieldsV1": to_fields_v1(remaining)}
        kept.append(entry)
    return kept


def check_field_manager(manager: str | None, apply: bool) -> list[str]:
    """What is wrong with a `fieldManager` parameter (upstream: 422 PatchOptions/...)."""
    if apply and not manager:
        return ["is required for apply patch"]
    if manager and len(manager) > _MAX_MANAGER_LENGTH:
        return [f"must be less than or equal to {_MAX_MANAGER_LENGTH} characters"]
    return []


def server_side_apply(
    live: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    api_version: str,
    strategic: bool,
    force: bool = False,
) -> dict[str, Any]:
    """The object after `manager` applies `config` to `live` (None: it does not exist yet).

    Raises ApplyConflictError for the fields other managers own with other values (not forced).
    """
    applied = copy.deepcopy(config)
    new_paths = managed_paths(applied, strategic)
    entries = list(((live or {}).get("metadata") or {}).get("managedFields") or [])
    previous = next((e for e in entries if _same_entry(e, manager, "Apply", None)), None)
    others = [e for e in entries if e.get("manager") != manager]
    conflicts: list[Conflict] = []
    contested: set[Path] = set()
    for entry in others:
        for path in sorted(_paths_of(entry) & new_paths, key=path_string):
            if path[-1] == _ITEM:
                continue
            exists, value = _lookup(live, path)
            if exists and value != _lookup(applied, path)[1]:
                conflicts.append(Conflict(path_string(path), describe_manager(entry)))
                contested.add(path)
    if conflicts and not force:
        raise ApplyConflictError(conflicts)
    result = copy.deepcopy(live) if live is not None else {}
    if previous is not None:
        owned_by_others = set().union(*(_paths_of(e) for e in others)) - contested
        stale = _paths_of(previous) - new_paths - owned_by_others
        # Items first, deepest paths first, so each removal finds what it names.
        for path in sorted(stale, key=len, reverse=True):
            if path[-1] == _ITEM:
                _remove_item(result, path)
            else:
                _remove(result, path)
    merged = (apply_strategic_merge_patch if strategic else apply_merge_patch)(result, applied)
    kept = _narrowed([e for e in entries if e is not previous], lambda _, paths: paths - contested)
    entry = _entry(manager, "Apply", api_version, new_paths, None)
    merged.setdefault("metadata", {})["managedFields"] = [*kept, entry]
    return dict(merged)


def _owned_part(obj: dict[str, Any], subresource: str | None) -> dict[str, Any]:
    """What a write through `subresource` can change: status for `status`, the rest otherwise."""
    if subresource == "status":
        return {"status": obj.get("status")} if "status" in obj else {}
    return {key: value for key, value in obj.items() if key != "status"}


def _changed(old: dict[str, Any] | None, new: dict[str, Any], path: Path) -> bool:
    if path[-1] == _ITEM:
        # A list item's own entry belongs to whoever added the item.
        return not _lookup(old, path)[0]
    return _lookup(old, path) != _lookup(new, path)


def track_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    api_version: str,
    strategic: bool,
    subresource: str | None = None,
) -> list[dict[str, Any]]:
    """`new`'s managedFields after `manager` wrote it over `old` with an Update operation."""
    entries = list(((old or {}).get("metadata") or {}).get("managedFields") or [])
    now_paths = managed_paths(_owned_part(new, subresource), strategic)
    changed = {path for path in now_paths if _changed(old, new, path)}
    every_path = managed_paths(new, strategic)

    def narrow(entry: dict[str, Any], paths: set[Path]) -> set[Path]:
        taken = changed if entry.get("manager") != manager else set()
        return (paths & every_path) - taken

    kept = _narrowed(entries, narrow)
    if not changed:
        return kept
    mine = next((e for e in kept if _same_entry(e, manager, "Update", subresource)), None)
    owned = (_paths_of(mine) if mine else set()) | changed
    kept = [e for e in kept if e is not mine]
    return [*kept, _entry(manager, "Update", api_version, owned, subresource)]
