"""Pod volumes as host directories: emptyDir, configMap, secret, downwardAPI, projected,
persistentVolumeClaim (one directory per claim, kept across pods) and hostPath."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeldeploy.sandbox.node.env import field_value

Obj = Mapping[str, Any]
# (kind "configmap"|"secret"|"persistentvolumeclaim", namespace, name) -> object or None
Fetch = Callable[[str, str, str], Awaitable[Obj | None]]
# (pod, serviceAccountToken source) -> (a token from the TokenRequest API, its lifetime in s)
TokenSource = Callable[[Obj, Obj], Awaitable[tuple[str, int]]]


class VolumeError(Exception):
    """A volume cannot be set up yet (FailedMount); the node retries."""


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def claim_dir(claims_root: Path, namespace: str, claim: str) -> Path:
    """Where a PersistentVolumeClaim's data lives: <sandbox>/pvc/<namespace>/<claim>."""
    return claims_root / namespace / claim


def _write_files(
    folder: Path, files: Mapping[str, bytes], items: list[Obj] | None, mode: int, what: str
) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    chosen = (
        [(item["key"], item.get("path", item["key"]), item.get("mode", mode)) for item in items]
        if items
        else [(key, key, mode) for key in files]
    )
    for key, path, file_mode in chosen:
        if key not in files:
            raise VolumeError(f"configmap or secret {what}: key {key!r} not found")
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[key])
        target.chmod(int(file_mode))


def _config_map_files(config_map: Obj) -> dict[str, bytes]:
    files = {key: str(value).encode() for key, value in (config_map.get("data") or {}).items()}
    files.update(
        {
            key: base64.b64decode(value)
            for key, value in (config_map.get("binaryData") or {}).items()
        }
    )
    return files


def _secret_files(secret: Obj) -> dict[str, bytes]:
    files = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    files.update(
        {key: str(value).encode() for key, value in (secret.get("stringData") or {}).items()}
    )
    return files


async def _object_files(
    fetch: Fetch, kind: str, namespace: str, source: Obj
) -> dict[str, bytes] | None:
    name = source.get("name") or source.get("secretName") or ""
    obj = await fetch(kind, namespace, name)
    if obj is None:
        if source.get("optional"):
            return None
        raise VolumeError(f'{kind} "{name}" not found')
    return _config_map_files(obj) if kind == "configmap" else _secret_files(obj)


def _downward_files(pod: Obj, items: list[Obj], pod_ip: str, host_ip: str) -> dict[str, bytes]:
    return {
        item["path"]: field_value(pod, item["fieldRef"]["fieldPath"], pod_ip, host_ip).encode()
        for item in items
        if "fieldRef" in item
    }


async def _projected(
    pod: Obj,
    volume: Obj,
    folder: Path,
    fetch: Fetch,
    tokens: TokenSource,
    pod_ip: str,
    host_ip: str,
) -> None:
    namespace = pod["metadata"]["namespace"]
    combined: dict[str, bytes] = {}
    for source in volume.get("sources") or []:
        if "serviceAccountToken" in source:
            token, _ = await tokens(pod, source["serviceAccountToken"])
            combined[source["serviceAccountToken"].get("path", "token")] = token.encode()
        for key, kind in (("configMap", "configmap"), ("secret", "secret")):
            if key in source:
                files = await _object_files(fetch, kind, namespace, source[key]) or {}
                items = source[key].get("items")
                combined.update(
                    {i.get("path", i["key"]): files[i["key"]] for i in items if i["key"] in files}
                    if items
                    else files
                )
        if "downwardAPI" in source:
            combined.update(
                _downward_files(pod, source["downwardAPI"].get("items") or [], pod_ip, host_ip)
            )
    _write_files(
        folder, combined, None, int(volume.get("defaultMode", 0o644)), volume.get("name", "")
    )


def _host_path(source: Obj) -> Path:
    path = Path(source.get("path", ""))
    kind = source.get("type", "")
    if kind == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    elif kind == "FileOrCreate":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    elif kind == "Directory" and not path.is_dir():
        raise VolumeError(f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not path.is_file():
        raise VolumeError(f"hostPath type check failed: {path} is not a file")
    return path


async def prepare_volumes(
    pod: Obj,
    pod_dir: Path,
    claims_root: Path,
    fetch: Fetch,
    tokens: TokenSource,
    pod_ip: str,
    host_ip: str,
) -> dict[str, Path]:
    """Create every volume of the pod on the host; volume name -> host path."""
    namespace = pod["metadata"]["namespace"]
    paths: dict[str, Path] = {}
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        name = volume.get("name", "")
        folder = pod_dir / "volumes" / name
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
        elif "configMap" in volume or "secret" in volume:
            key, kind = (
                ("configMap", "configmap") if "configMap" in volume else ("secret", "secret")
            )
            files = await _object_files(fetch, kind, namespace, volume[key])
            _write_files(
                folder,
                files or {},
                volume[key].get("items"),
                int(volume[key].get("defaultMode", 0o644)),
                name,
            )
        elif "downwardAPI" in volume:
            items = volume["downwardAPI"].get("items") or []
            _write_files(folder, _downward_files(pod, items, pod_ip, host_ip), None, 0o644, name)
        elif "projected" in volume:
            await _projected(pod, volume["projected"], folder, fetch, tokens, pod_ip, host_ip)
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"].get("claimName", "")
            if await fetch("persistentvolumeclaim", namespace, claim) is None:
                raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
            folder = claim_dir(claims_root, namespace, claim)
            folder.mkdir(parents=True, exist_ok=True)
        elif "hostPath" in volume:
            folder = _host_path(volume["hostPath"])
        else:
            raise VolumeError(
                f"volume {name!r}: this volume type is not supported by the sandbox node"
            )
        paths[name] = folder
    return paths


def token_lifetime(pod: Obj) -> int | None:
    """The shortest lifetime the pod's projected tokens ask for (None: it has none)."""
    lifetimes = [
        int(source["serviceAccountToken"].get("expirationSeconds") or 3600)
        for volume in (pod.get("spec") or {}).get("volumes") or []
        for source in (volume.get("projected") or {}).get("sources") or []
        if "serviceAccountToken" in source
    ]
    return min(lifetimes, default=None)


async def refresh_tokens(pod: Obj, volumes: Mapping[str, Path], tokens: TokenSource) -> int | None:
    """Write a fresh token into each projected token file (atomically: readers see the old
    token or the new, never none); the shortest lifetime among them, None without any."""
    shortest: int | None = None
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "serviceAccountToken" not in source or volume.get("name") not in volumes:
                continue
            token, lifetime = await tokens(pod, source["serviceAccountToken"])
            target = volumes[volume["name"]] / source["serviceAccountToken"].get("path", "token")
            scratch = target.with_name(f".{target.name}.new")
            scratch.write_bytes(token.encode())
            scratch.chmod(int(volume["projected"].get("defaultMode", 0o644)))
            os.replace(scratch, target)
            shortest = lifetime if shortest is None else min(shortest, lifetime)
    return shortest


_READ_ONLY_SOURCES = ("configMap", "secret", "downwardAPI", "projected")


def read_only_volumes(pod: Obj) -> set[str]:
    """Volumes the kubelet always mounts read-only (API data projected into files)."""
    volumes = (pod.get("spec") or {}).get("volumes") or []
    return {v.get("name", "") for v in volumes if any(k in v for k in _READ_ONLY_SOURCES)}


def container_mounts(
    container: Obj, volumes: Mapping[str, Path], read_only: set[str] | frozenset[str] = frozenset()
) -> list[Mount]:
    mounts = []
    for mount in container.get("volumeMounts") or []:
        name = mount.get("name", "")
        if name not in volumes:
            raise VolumeError(
                f'container {container.get("name")}: volumeMount "{name}" has no volume'
            )
        source = volumes[name]
        if mount.get("subPath"):
            source = source / mount["subPath"]
            if not source.exists():
                source.mkdir(parents=True)
        mounts.append(
            Mount(
                str(source),
                str(mount.get("mountPath", "")),
                bool(mount.get("readOnly")) or name in read_only,
            )
        )
    return mounts
