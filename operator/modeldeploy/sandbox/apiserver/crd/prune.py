"""Dropping fields a structural schema does not know, as kube-apiserver does on every write.

Follows `apiextensions-apiserver/pkg/apiserver/schema/pruning`: unknown object fields go,
except below `x-kubernetes-preserve-unknown-fields`; `apiVersion`, `kind` and `metadata`
stay at the resource root and in embedded resources (whose metadata keeps only ObjectMeta
fields). The returned paths are what the server reports as `unknown field "..."`.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver.crd import paths
from modeldeploy.sandbox.apiserver.crd.schema import RESOURCE_FIELDS, Schema

OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def prune(obj: dict[str, Any], root: Schema) -> list[str]:
    """Remove unknown fields from a whole resource in place; return their paths."""
    pruned: list[str] = []
    _prune(obj, root, "", pruned, resource_root=True)
    return pruned


def prune_value(value: Any, schema: Schema, path: str) -> list[str]:
    """Remove unknown fields from a value inside a resource (a default, say) in place."""
    pruned: list[str] = []
    _prune(value, schema, path, pruned)
    return pruned


def _prune(
    value: Any, schema: Schema | None, path: str, pruned: list[str], *, resource_root: bool = False
) -> None:
    if schema is not None and schema.preserve_unknown_fields:
        _prune_known_only(value, schema, path, pruned)
        return
    if isinstance(value, dict):
        keeps_resource_fields = resource_root or (schema is not None and schema.embedded_resource)
        for name in list(value):
            field_path = paths.child(path, name)
            if keeps_resource_fields and name in RESOURCE_FIELDS:
                if name == "metadata" and not resource_root:
                    _prune_embedded_metadata(value[name], field_path, pruned)
                continue
            known = schema.child(name) if schema is not None else None
            if known is not None:
                _prune(value[name], known, field_path, pruned)
            elif schema is not None and schema.additional_properties_allowed:
                _prune(value[name], None, field_path, pruned)
            else:
                pruned.append(field_path)
                del value[name]
    elif isinstance(value, list):
        items = schema.items if schema is not None else None
        for position, item in enumerate(value):
            _prune(item, items, paths.index(path, position), pruned)


def _prune_known_only(value: Any, schema: Schema, path: str, pruned: list[str]) -> None:
    """Below x-kubernetes-preserve-unknown-fields: unknown keys stay, known ones are pruned."""
    if isinstance(value, dict):
        for name, item in value.items():
            field_path = paths.child(path, name)
            if schema.embedded_resource and name in RESOURCE_FIELDS:
                if name == "metadata":
                    _prune_embedded_metadata(item, field_path, pruned)
                continue
            known = schema.child(name)
            if known is not None:
                _prune(item, known, field_path, pruned)
    elif isinstance(value, list) and schema.items is not None:
        for position, item in enumerate(value):
            _prune_known_only(item, schema.items, paths.index(path, position), pruned)


def _prune_embedded_metadata(metadata: Any, path: str, pruned: list[str]) -> None:
    if not isinstance(metadata, dict):
        return
    for name in list(metadata):
        if name not in OBJECT_META_FIELDS:
            pruned.append(paths.child(path, name))
            del metadata[name]
