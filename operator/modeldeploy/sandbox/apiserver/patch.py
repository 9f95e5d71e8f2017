"""The three patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
Kubernetes strategic merge patch (merge keys and `$patch` / `$retainKeys` /
`$setElementOrder` / `$deleteFromPrimitiveList` directives)."""

from __future__ import annotations

import copy
import json
from typing import Any

from modeldeploy.sandbox.apiserver.errors import FieldCause, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"


class PatchError(ValueError):
    """The patch cannot be applied to this object (kube answers 422)."""

    def cause(self) -> FieldCause:
        return FieldCause("patch", f"Invalid value: {self}")


# --- JSON patch -------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if path == "":
        return []
    if not isinstance(path, str) or not path.startswith("/"):
        raise PatchError(f'invalid JSON pointer "{path}"')
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str], path: str) -> Any:
    for part in parts:
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            raise PatchError(f'path "{path}" does not exist')
    return doc


def _add(doc: Any, parts: list[str], value: Any, path: str) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f'index "{last}" out of range in "{path}"')
    else:
        raise PatchError(f'cannot add to "{path}": parent is not an object or array')
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _resolve(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f'path "{path}" does not exist')


def apply_json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise bad_request("a JSON patch must be an array of operations")
    doc = copy.deepcopy(doc)
    for number, operation in enumerate(operations):
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"operation {number} needs an op and a path")
        op, path = operation["op"], operation["path"]
        parts = _pointer(path)
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f'operation {number} ("{op}") needs a value')
        if op == "add":
            doc = _add(doc, parts, copy.deepcopy(operation["value"]), path)
        elif op == "remove":
            _remove(doc, parts, path)
        elif op == "replace":
            _resolve(doc, parts, path)
            if parts:
                _remove(doc, parts, path)
            doc = _add(doc, parts, copy.deepcopy(operation["value"]), path)
        elif op in ("move", "copy"):
            source = operation.get("from")
            if not isinstance(source, str):
                raise PatchError(f'operation {number} ("{op}") needs "from"')
            source_parts = _pointer(source)
            value = copy.deepcopy(_resolve(doc, source_parts, source))
            if op == "move":
                _remove(doc, source_parts, source)
            doc = _add(doc, parts, value, path)
        elif op == "test":
            if _resolve(doc, parts, path) != operation["value"]:
                raise PatchError(f'test failed: "{path}" is not {operation["value"]!r}')
        else:
            raise PatchError(f'unknown operation "{op}"')
    return doc


# --- JSON merge patch -------------------------------------------------------------------------


def apply_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# --- strategic merge patch --------------------------------------------------------------------

# Lists merged by a key (the Go struct tags `patchStrategy:"merge" patchMergeKey:"..."` of
# the built-in types), by field name; `ports` depends on where it is.
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
    "addresses": "type",
}
# Lists of scalars merged as sets.
_MERGED_SCALAR_LISTS = frozenset({"finalizers"})
# Objects patched with the `retainKeys` strategy as well as merge.
_RETAIN_KEYS = frozenset({"strategy", "updateStrategy"})


def merge_key(path: tuple[str, ...]) -> str | None:
    """The merge key of the list at `path` (field names from the root, indices left out)."""
    name = path[-1]
    if name == "ports":
        # Container ports merge on containerPort; service ports on port.
        return "port" if path[:-1] == ("spec",) else "containerPort"
    if name == "addresses" and path[:-1] != ("status",):
        return None
    return _MERGE_KEYS.get(name)


def apply_strategic_merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        raise bad_request("a strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch, ())


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise PatchError(f'unknown patch directive "{directive}" at {".".join(path) or "root"}')
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        for key in list(original):
            if key not in retain:
                del original[key]
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith(("$setElementOrder/", "$deleteFromPrimitiveList/")) and not isinstance(
            value, list
        ):
            raise PatchError(f"{key} at {'.'.join(path) or 'root'} must be a list")
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(original.get(field), list):
                original[field] = [v for v in original[field] if v not in value]
            continue
        if value is None:
            original.pop(key, None)
            continue
        field_path = (*path, key)
        current = original.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged = _merge_map(current, value, field_path)
        elif isinstance(value, dict):
            merged = _merge_map({}, value, field_path)
        elif isinstance(value, list):
            merged = _merge_list(current if isinstance(current, list) else [], value, field_path)
        else:
            merged = copy.deepcopy(value)
        if merged is None:
            original.pop(key, None)
        else:
            original[key] = merged
    for field, order in orders.items():
        if isinstance(original.get(field), list):
            original[field] = _reorder(original[field], order, merge_key((*path, field)))
    return original


def _merge_list(original: list[Any], patch: list[Any], path: tuple[str, ...]) -> list[Any]:
    key = merge_key(path)
    if path[-1] in _MERGED_SCALAR_LISTS:
        return original + [copy.deepcopy(v) for v in patch if v not in original]
    if key is None:
        return [_strip_directives(copy.deepcopy(v)) for v in patch]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            copy.deepcopy(item)
            for item in patch
            if not isinstance(item, dict) or "$patch" not in item
        ]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise PatchError(f"{'.'.join(path)}: every item needs the merge key {key!r}")
        index = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(_merge_map({}, item, path))
        else:
            result[index] = _merge_map(result[index], item, path)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    return value


def _reorder(items: list[Any], order: list[Any], key: str | None) -> list[Any]:
    """Items named in `order` first, in that order; the others after them, as they were."""

    def identity(item: Any) -> str:
        value = item.get(key) if key is not None and isinstance(item, dict) else item
        return json.dumps(value, sort_keys=True)

    ranked = {identity(entry): rank for rank, entry in enumerate(order)}
    return sorted(items, key=lambda item: ranked.get(identity(item), len(ranked)))


def patch_types(strategic: bool) -> list[str]:
    """The patch media types a resource accepts (custom resources have no strategic merge)."""
    return [JSON_PATCH, MERGE_PATCH] + ([STRATEGIC_MERGE_PATCH] if strategic else [])


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    """Apply a patch of the given media type; the caller checked the type is accepted."""
    if content_type == JSON_PATCH:
        return apply_json_patch(target, patch)
    if content_type == MERGE_PATCH:
        return apply_merge_patch(target, patch)
    return apply_strategic_merge_patch(target, patch)
