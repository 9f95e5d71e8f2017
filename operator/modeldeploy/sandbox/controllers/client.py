"""A small asyncio client of the Kubernetes API, configured from a kubeconfig.

The sandbox components (controllers, scheduler, node agent) use only this: plain
HTTP(S) requests against the API server, exactly like real cluster components.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

Obj = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """A resource type: its group/version, plural name and whether it lives in a namespace."""

    group_version: str
    plural: str
    namespaced: bool = True

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        prefix = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        parts = [prefix]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{namespace}")
        parts.append(self.plural)
        if name:
            parts.append(name)
        if subresource:
            parts.append(subresource)
        return "/".join(parts)


PODS = Kind("v1", "pods")
NODES = Kind("v1", "nodes", namespaced=False)
NAMESPACES = Kind("v1", "namespaces", namespaced=False)
SERVICES = Kind("v1", "services")
ENDPOINTS = Kind("v1", "endpoints")
CONFIGMAPS = Kind("v1", "configmaps")
SECRETS = Kind("v1", "secrets")
PVCS = Kind("v1", "persistentvolumeclaims")
EVENTS = Kind("v1", "events")
DEPLOYMENTS = Kind("apps/v1", "deployments")
REPLICASETS = Kind("apps/v1", "replicasets")
JOBS = Kind("batch/v1", "jobs")
LEASES = Kind("coordination.k8s.io/v1", "leases")


class ApiError(Exception):
    """A non-2xx answer: the HTTP status and the Status object's reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


# What a call to the API server can raise that a retry may fix (answers, connections, timeouts).
API_ERRORS: tuple[type[Exception], ...] = (ApiError, aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True)
class Connection:
    server: str
    headers: dict[str, str]
    ssl_context: ssl.SSLContext | bool


def _material(entry: Mapping[str, Any], key: str, base: Path, scratch: Path) -> str | None:
    """A file path for `key` or `key-data` (inline base64 is written to a scratch file)."""
    if entry.get(key):
        return str(base / entry[key])
    data = entry.get(f"{key}-data")
    if not data:
        return None
    target = scratch / key
    target.write_bytes(base64.b64decode(data))
    return str(target)


def load_kubeconfig(path: Path, context: str | None = None) -> Connection:
    """Server, auth headers and TLS settings of the current (or named) context."""
    config = yaml.safe_load(path.read_text()) or {}
    wanted = context or config.get("current-context")
    contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
    if wanted not in contexts:
        raise ValueError(f"{path}: context {wanted!r} not found")
    chosen = contexts[wanted]
    clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
    users = {u["name"]: u.get("user") or {} for u in config.get("users") or []}
    cluster = clusters.get(chosen.get("cluster"), {})
    user = users.get(chosen.get("user"), {})
    if not cluster.get("server"):
        raise ValueError(f"{path}: cluster of context {wanted!r} has no server")
    headers = {}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    ssl_context: ssl.SSLContext | bool = True
    if str(cluster["server"]).startswith("https"):
        with tempfile.TemporaryDirectory() as scratch_dir:
            scratch, base = Path(scratch_dir), path.parent
            ca = _material(cluster, "certificate-authority", base, scratch)
            context_tls = ssl.create_default_context(cafile=ca)
            if cluster.get("insecure-skip-tls-verify"):
                context_tls.check_hostname = False
                context_tls.verify_mode = ssl.CERT_NONE
            cert = _material(user, "client-certificate", base, scratch)
            if cert:
                context_tls.load_cert_chain(cert, _material(user, "client-key", base, scratch))
            ssl_context = context_tls
    return Connection(str(cluster["server"]).rstrip("/"), headers, ssl_context)


def certificate_authority(path: Path) -> str | None:
    """The PEM of the CA the kubeconfig's current cluster is verified with, if any."""
    config = yaml.safe_load(path.read_text()) or {}
    contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
    chosen = contexts.get(config.get("current-context"), {})
    clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
    cluster = clusters.get(chosen.get("cluster"), {})
    if cluster.get("certificate-authority-data"):
        return base64.b64decode(str(cluster["certificate-authority-data"])).decode()
    if cluster.get("certificate-authority"):
        return (path.parent / str(cluster["certificate-authority"])).read_text()
    return None


async def _raise_for_status(response: aiohttp.ClientResponse) -> None:
    if response.status < 300:
        return
    text = await response.text()
    try:
        body = json.loads(text)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    raise ApiError(response.status, str(body.get("reason", "")), str(body.get("message", text)))


class KubeClient:
    """JSON requests and watch streams against one API server."""

    def __init__(self, connection: Connection, user_agent: str) -> None:
        self._connection = connection
        headers = {**connection.headers, "User-Agent": user_agent, "Accept": "application/json"}
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(ssl=connection.ssl_context),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    @classmethod
    def from_kubeconfig(cls, path: Path, user_agent: str) -> KubeClient:
        return cls(load_kubeconfig(path), user_agent)

    @property
    def server(self) -> str:
        """The API server's URL."""
        return self._connection.server

    async def close(self) -> None:
        await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else {}
        async with self._session.request(
            method, self._connection.server + path, data=data, params=params, headers=headers
        ) as response:
            await _raise_for_status(response)
            result: Obj = await response.json(content_type=None)
            return result

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Obj:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: Obj) -> Obj:
        return await self.request("POST", path, body)

    async def replace(self, path: str, body: Obj) -> Obj:
        return await self.request("PUT", path, body)

    async def merge_patch(self, path: str, body: Obj) -> Obj:
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def delete(self, path: str, body: Obj | None = None) -> Obj:
        return await self.request("DELETE", path, body)

    async def delete_if_present(self, path: str, body: Obj | None = None) -> Obj | None:
        """DELETE that treats an object already gone as done (None)."""
        try:
            return await self.delete(path, body)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def watch(self, path: str, params: Mapping[str, str]) -> AsyncIterator[Obj]:
        """Watch events (dicts with `type` and `object`) until the server ends the stream."""
        query = {**params, "watch": "true", "allowWatchBookmarks": "true"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
        async with self._session.get(
            self._connection.server + path, params=query, timeout=timeout
        ) as response:
            await _raise_for_status(response)
            pending = b""
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
