"""Pod pieces shared by the compression Job and the serving Deployments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

from modeldeploy.api.v1alpha1.common import ResourceRequirements, Toleration
from modeldeploy.reconcilers.options import PVC_ROOT

Manifest = dict[str, Any]

# The restricted Pod Security Standard; 65532 is the image's user (Dockerfile).
POD_SECURITY: Manifest = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY: Manifest = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
}
# Writable scratch space (the root file system is read-only); not /tmp, so that nothing the
# image or a local installation keeps there is hidden.
SCRATCH = "/scratch"
SCRATCH_VOLUME: Manifest = {"name": "scratch", "emptyDir": {}}
SCRATCH_MOUNT: Manifest = {"name": "scratch", "mountPath": SCRATCH}
SCRATCH_ENV: list[Manifest] = [
    {"name": "TMPDIR", "value": SCRATCH},
    {"name": "HOME", "value": SCRATCH},
    {"name": "MODELDEPLOY_PVC_ROOT", "value": PVC_ROOT},
]


def claims(uris: Iterable[str | None]) -> list[str]:
    """The PersistentVolumeClaims named by pvc:// URIs, in order, once each."""
    found = [urlparse(u).netloc for u in uris if u and urlparse(u).scheme == "pvc"]
    return list(dict.fromkeys(found))


def claim_volumes(
    names: Iterable[str], writable: frozenset[str] = frozenset()
) -> tuple[list[Manifest], list[Manifest]]:
    """Volumes and mounts for claims, each at `/mnt/pvc/<claim>`; read-only unless writable."""
    volumes, mounts = [], []
    for index, claim in enumerate(names):
        volume = f"claim-{index}"
        read_only = claim not in writable
        volumes.append(
            {"name": volume, "persistentVolumeClaim": {"claimName": claim, "readOnly": read_only}}
        )
        mounts.append({"name": volume, "mountPath": f"{PVC_ROOT}/{claim}", "readOnly": read_only})
    return volumes, mounts


def env_from(secrets: Iterable[str | None]) -> list[Manifest]:
    """Credentials reach the container only as variables from the Secrets named in the spec."""
    return [{"secretRef": {"name": name}} for name in dict.fromkeys(s for s in secrets if s)]


def resources(requirements: ResourceRequirements | None) -> Manifest:
    if requirements is None:
        return {}
    # Quantities are strings on the wire (`1`, not 1), whatever the user wrote.
    dumped = requirements.model_dump(mode="json", exclude_none=True)
    return {kind: {k: str(v) for k, v in amounts.items()} for kind, amounts in dumped.items()}


def tolerations(items: list[Toleration] | None) -> list[Manifest]:
    return [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in items or []]


def owner_reference(resource: Mapping[str, Any]) -> Manifest:
    return {
        "apiVersion": resource["apiVersion"],
        "kind": resource["kind"],
        "name": resource["metadata"]["name"],
        "uid": resource["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def merge(base: Any, override: Any) -> Any:
    """A strategic-merge-like overlay: maps merge, lists of named items merge by name, other
    lists and values are replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and _named(base) and _named(override):
        by_name = {item["name"]: item for item in base}
        for item in override:
            by_name[item["name"]] = merge(by_name.get(item["name"], {}), item)
        return list(by_name.values())
    return override


def _named(items: list[Any]) -> bool:
    return all(isinstance(item, dict) and "name" in item for item in items)
