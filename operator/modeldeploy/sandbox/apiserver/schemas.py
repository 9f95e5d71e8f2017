"""The fields of built-in kinds, for the unknown-field checks of kube-apiserver's typed decoding.

kube-apiserver decodes a built-in object into its Go type: a field the type does not have is
dropped, and reported as `unknown field "spec.template.spec.containers[0].imagee"` (a warning,
or the 400 of `fieldValidation=Strict`). The field names and types come from the models of the
`kubernetes` Python client (generated from the same OpenAPI definitions as the Go types).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from kubernetes import client as models

# Kinds whose model is not named V1<Kind> (events.k8s.io Events are stored as core Events).
_MODEL_NAMES = {"Event": "CoreV1Event"}
# Container types as the models spell them (`list[V1Container]` or `List[V1Container]`,
# `dict(str, str)` or `Dict[str, str]`, by client version).
_LIST = re.compile(r"^[lL]ist\[(.+)\]$")
_MAP = re.compile(r"^(?:dict\(str, ?(.+)\)|Dict\[str, ?(.+)\])$")


@functools.cache
def _fields(model: str) -> dict[str, str] | None:
    """JSON field name -> type name of a client model (None: not a model, e.g. `object`)."""
    cls = getattr(models, model, None)
    types = getattr(cls, "openapi_types", None)
    if not isinstance(types, dict):
        return None
    return {cls.attribute_map[name]: kind for name, kind in types.items()}  # type: ignore[union-attr]


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _prune(type_name: str, value: Any, path: str, found: list[str]) -> None:
    listed, mapped = _LIST.match(type_name), _MAP.match(type_name)
    if listed:
        for index, item in enumerate(value if isinstance(value, list) else []):
            _prune(listed.group(1), item, f"{path}[{index}]", found)
        return
    if mapped:
        inner = mapped.group(1) or mapped.group(2)
        for key, item in (value if isinstance(value, dict) else {}).items():
            _prune(inner, item, f"{path}[{key}]", found)
        return
    fields = _fields(type_name)
    if fields is None or not isinstance(value, dict):
        return
    for key in list(value):
        if key not in fields:
            found.append(_join(path, key))
            del value[key]
        else:
            _prune(fields[key], value[key], _join(path, key), found)


def prune_unknown_fields(kind: str, obj: dict[str, Any]) -> list[str]:
    """Drop the fields `kind` does not have from `obj`; their paths, in the order found."""
    found: list[str] = []
    model = _MODEL_NAMES.get(kind, f"V1{kind}")
    if _fields(model) is not None:
        _prune(model, obj, "", found)
    return found
