"""Resource types defined by CustomResourceDefinitions, and CRD admission."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Sequence
from typing import Any

from modeldeploy.sandbox.apiserver.crd import (
    Admission,
    CustomResourceSchema,
    UnknownVersionError,
    validate_crd,
)
from modeldeploy.sandbox.apiserver.errors import Cause
from modeldeploy.sandbox.apiserver.resources import ResourceType, ScalePaths

CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


def _scale_paths(subresources: dict[str, Any]) -> ScalePaths | None:
    scale = subresources.get("scale")
    if not isinstance(scale, dict):
        return None
    return ScalePaths(
        spec_replicas=str(scale.get("specReplicasPath", ".spec.replicas")),
        status_replicas=str(scale.get("statusReplicasPath", ".status.replicas")),
        label_selector=scale.get("labelSelectorPath"),
    )


def types_of(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CRD serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        selectable = tuple(
            str(field.get("jsonPath", "")).lstrip(".")
            for field in version.get("selectableFields") or []
        )
        result.append(
            ResourceType(
                group=str(spec.get("group")),
                version=str(version.get("name")),
                plural=str(names.get("plural")),
                kind=str(names.get("kind")),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                subresources=frozenset(
                    name for name in ("status", "scale") if name in subresources
                ),
                categories=tuple(names.get("categories") or ()),
                field_selectors=selectable,
                custom=True,
                scale=_scale_paths(subresources),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            )
        )
    return result


def crd_version(crd: dict[str, Any], version: str) -> dict[str, Any]:
    for entry in (crd.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version:
            return dict(entry)
    return {}


def establish(crd: dict[str, Any], now: str) -> None:
    """Accept the names and mark the CRD Established (there is no delay to wait for here)."""
    spec = crd.get("spec") or {}
    storage = [v.get("name") for v in spec.get("versions") or [] if v.get("storage")]
    status = crd.setdefault("status", {})
    status["acceptedNames"] = spec.get("names") or {}
    stored = list(status.get("storedVersions") or [])
    status["storedVersions"] = stored + [v for v in storage if v not in stored]
    # A condition that was already True keeps its transition time: re-applying an unchanged
    # CRD must not make a change.
    since = {
        c.get("type"): c.get("lastTransitionTime")
        for c in status.get("conditions") or []
        if isinstance(c, dict) and c.get("status") == "True"
    }
    status["conditions"] = [
        {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since.get(kind) or now,
            "reason": reason,
            "message": message,
        }
        for kind, reason, message in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]


def validate_definition(crd: dict[str, Any]) -> Sequence[Cause]:
    """Causes that make a CRD invalid (structural schema, names, versions)."""
    return validate_crd(crd)


@functools.lru_cache(maxsize=64)
def _schema(crd_json: str, version: str) -> CustomResourceSchema:
    """Compiling a schema (CEL rules included) is costly: once per CRD revision and version."""
    return CustomResourceSchema.from_crd(json.loads(crd_json), version)


# (CRD uid, resourceVersion) -> the JSON `_schema` is cached by: one dump per CRD revision.
_SPEC_JSON: dict[tuple[str, str], str] = {}
_SPEC_JSON_LIMIT = 256


def _spec_json(crd: dict[str, Any]) -> str:
    meta = crd.get("metadata") or {}
    key = (str(meta.get("uid")), str(meta.get("resourceVersion")))
    found = _SPEC_JSON.get(key)
    if found is None or not key[1]:
        if len(_SPEC_JSON) >= _SPEC_JSON_LIMIT:
            _SPEC_JSON.clear()
        found = _SPEC_JSON[key] = json.dumps({"spec": crd.get("spec")}, sort_keys=True)
    return found


def default_on_read(crd: dict[str, Any], version: str, obj: dict[str, Any]) -> None:
    """The defaults of the CRD's current schema, filled into a stored object being read (as
    kube-apiserver defaults objects it decodes from etcd): a default added to the schema shows
    on objects stored before it."""
    with contextlib.suppress(UnknownVersionError):
        _schema(_spec_json(crd), version).default(obj)


def review_custom(
    crd: dict[str, Any], version: str, obj: dict[str, Any], old: dict[str, Any] | None
) -> Admission:
    """Prune, default and validate a custom object against its CRD version's schema."""
    return _schema(_spec_json(crd), version).review(obj, old)
