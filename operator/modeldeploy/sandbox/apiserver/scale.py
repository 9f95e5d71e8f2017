"""The `scale` subresource (autoscaling/v1 Scale) of deployments, replicasets and CRDs."""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.errors import FieldCause
from modeldeploy.sandbox.apiserver.resources import ResourceType, ScalePaths
from modeldeploy.sandbox.apiserver.selectors import LabelSelector
from modeldeploy.sandbox.apiserver.service import ApiService


def lookup_path(obj: Any, path: str) -> Any:
    """The value at a simple JSON path such as `.spec.replicas` (None when missing)."""
    for part in path.strip(".").split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def _paths(rt: ResourceType) -> ScalePaths:
    if rt.scale is None:
        raise errors.path_not_found()
    return rt.scale


def scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale view of an object."""
    paths = _paths(rt)
    meta = obj["metadata"]
    selector = None
    if paths.label_selector:
        selector = lookup_path(obj, paths.label_selector)
    if not rt.custom:
        selector = str(LabelSelector.from_label_selector(obj["spec"].get("selector") or {}))
    status: dict[str, Any] = {"replicas": lookup_path(obj, paths.status_replicas) or 0}
    if selector:
        status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if key in meta
        },
        "spec": {"replicas": lookup_path(obj, paths.spec_replicas) or 0},
        "status": status,
    }


def get_scale(service: ApiService, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
    return scale_of(rt, service.get(rt, namespace, name))


def update_scale(
    service: ApiService,
    rt: ResourceType,
    namespace: str,
    name: str,
    scale: Any,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Write a Scale's replicas through to the object (optimistic on its resourceVersion)."""
    paths = _paths(rt)
    if not isinstance(scale, dict):
        raise errors.bad_request("the body must be a Scale object")
    spec = scale.get("spec")
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        message = f"Invalid value: {replicas}: must be greater than or equal to 0"
        raise errors.invalid("Scale", "autoscaling", name, [FieldCause("spec.replicas", message)])
    obj = service.get(rt, namespace, name)
    scale_meta = scale.get("metadata")
    given_rv = scale_meta.get("resourceVersion") if isinstance(scale_meta, dict) else None
    if given_rv and given_rv != obj["metadata"]["resourceVersion"]:
        raise errors.conflict(rt.plural, rt.group, name, errors.STALE_OBJECT)
    target: dict[str, Any] = obj
    parts = paths.spec_replicas.strip(".").split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = replicas
    return scale_of(rt, service.update(rt, namespace, name, obj, None, dry_run))
