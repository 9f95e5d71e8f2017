"""A container's environment: env, envFrom, the downward API and $(VAR) expansion."""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from modeldeploy.sandbox.node.images import image_path_dirs

Obj = Mapping[str, Any]
# (kind "configmap"|"secret", namespace, name) -> the object's string data, None if absent
Lookup = Callable[[str, str, str], Awaitable[dict[str, str] | None]]
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['([^']+)'\]$")


class ConfigError(Exception):
    """The container cannot start with this configuration (CreateContainerConfigError)."""


def expand(text: str, context: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: known names are replaced, `$$` is a literal `$`."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
            continue
        if text.startswith("$(", index):
            end = text.find(")", index + 2)
            if end != -1:
                name = text[index + 2 : end]
                out.append(context[name] if name in context else text[index : end + 1])
                index = end + 1
                continue
        out.append(text[index])
        index += 1
    return "".join(out)


def field_value(pod: Obj, path: str, pod_ip: str, host_ip: str) -> str:
    """The downward API: a pod field by its fieldRef path."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", "default"),
        "status.podIP": pod_ip,
        "status.podIPs": pod_ip,
        "status.hostIP": host_ip,
        "status.hostIPs": host_ip,
    }
    if path in simple:
        return str(simple[path])
    match = _LABEL_PATH.match(path)
    if match:
        return str((metadata.get(match[1]) or {}).get(match[2], ""))
    if path in ("metadata.labels", "metadata.annotations"):
        values = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(values.items()))
    raise ConfigError(f'unsupported fieldRef fieldPath "{path}"')


async def _source_data(
    lookup: Lookup, kind: str, namespace: str, name: str, optional: bool
) -> dict[str, str] | None:
    data = await lookup(kind, namespace, name)
    if data is None and not optional:
        raise ConfigError(f'{kind} "{name}" not found')
    return data


async def _value_from(
    source: Obj, pod: Obj, lookup: Lookup, pod_ip: str, host_ip: str
) -> str | None:
    namespace = pod["metadata"]["namespace"]
    if "fieldRef" in source:
        return field_value(pod, source["fieldRef"].get("fieldPath", ""), pod_ip, host_ip)
    for key, kind, label in (
        ("configMapKeyRef", "configmap", "ConfigMap"),
        ("secretKeyRef", "secret", "Secret"),
    ):
        if key in source:
            ref = source[key]
            optional = bool(ref.get("optional"))
            data = await _source_data(lookup, kind, namespace, ref.get("name", ""), optional)
            if data is None:
                return None
            if ref.get("key") not in data:
                if optional:
                    return None
                raise ConfigError(
                    f"couldn't find key {ref.get('key')} in {label} {namespace}/{ref.get('name')}"
                )
            return data[ref["key"]]
    if "resourceFieldRef" in source:
        return _resource_field(source["resourceFieldRef"], pod)
    raise ConfigError(
        "valueFrom: one of fieldRef, configMapKeyRef, secretKeyRef, resourceFieldRef is required"
    )


def _resource_field(ref: Obj, pod: Obj) -> str:
    name = ref.get("containerName", "")
    containers = (pod.get("spec") or {}).get("containers") or []
    container = next(
        (c for c in containers if c.get("name") == name), containers[0] if containers else {}
    )
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(resource)
    return str(value) if value is not None else "0"


def base_env(pod: Obj) -> dict[str, str]:
    return {
        "PATH": ":".join(image_path_dirs()),
        "HOSTNAME": str(pod["metadata"]["name"]),
        "HOME": "/root",
    }


def api_server_env(server: str) -> dict[str, str]:
    """The `kubernetes` Service's variables, which a kubelet gives every pod whatever its
    enableServiceLinks (pkg/kubelet/kubelet_pods.go getServiceEnvVarMap): what in-cluster
    clients (`load_incluster_config()`) look for."""
    url = urllib.parse.urlsplit(server)
    host, port = url.hostname or "", str(url.port or 443)
    address = f"tcp://{host}:{port}"
    return {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": address,
        f"KUBERNETES_PORT_{port}_TCP": address,
        f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
        f"KUBERNETES_PORT_{port}_TCP_PORT": port,
        f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
    }


async def container_env(
    pod: Obj,
    container: Obj,
    lookup: Lookup,
    pod_ip: str,
    host_ip: str,
    service_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment a container starts with; raises ConfigError naming what is missing."""
    env = {**base_env(pod), **(service_env or {})}
    namespace = pod["metadata"]["namespace"]
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for key, kind in (("configMapRef", "configmap"), ("secretRef", "secret")):
            if key in source:
                ref = source[key]
                data = await _source_data(
                    lookup, kind, namespace, ref.get("name", ""), bool(ref.get("optional"))
                )
                env.update({prefix + name: value for name, value in (data or {}).items()})
    for variable in container.get("env") or []:
        name = variable.get("name", "")
        if "valueFrom" in variable:
            value = await _value_from(variable["valueFrom"], pod, lookup, pod_ip, host_ip)
            if value is not None:
                env[name] = value
        else:
            env[name] = expand(str(variable.get("value", "")), env)
    return env


def decode_secret(secret: Obj) -> dict[str, str]:
    data = {
        key: base64.b64decode(value).decode("utf-8", "replace")
        for key, value in (secret.get("data") or {}).items()
    }
    data.update(secret.get("stringData") or {})
    return data
