"""The sandbox API server: one aiohttp application on loopback, state in DIR/state.db."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from modeldeploy.sandbox.apiserver import discovery, errors, openapi_v2
from modeldeploy.sandbox.apiserver.auth.pki import Pki
from modeldeploy.sandbox.apiserver.auth.setup import Security, aggregate_cluster_roles
from modeldeploy.sandbox.apiserver.collectors import Collectors
from modeldeploy.sandbox.apiserver.handlers import ResourceRoutes, json_response, status_errors
from modeldeploy.sandbox.apiserver.logs import ContainerLogs, PodLogs
from modeldeploy.sandbox.apiserver.service import ApiService
from modeldeploy.sandbox.apiserver.store import Change, Store
from modeldeploy.sandbox.apiserver.watch import WatchHub

log = logging.getLogger(__name__)

STATE_FILE = "state.db"
KUBECONFIG_FILE = "kubeconfig"
POD_LOG_DIR = "pod-logs"
CONTEXT_NAME = "modeldeploy-sandbox"
_COLLECT_PAUSE_SECONDS = 0.02


def _data(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, pki: Pki | None) -> None:
    """A kubeconfig for the admin: the CA and a client certificate in system:masters, inline."""
    cluster: dict[str, Any] = {"server": server}
    user: dict[str, Any] = {}
    if pki is not None:
        cluster["certificate-authority-data"] = _data(pki.ca_cert)
        user = {
            "client-certificate-data": _data(pki.admin_cert),
            "client-key-data": _data(pki.admin_key),
        }
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT_NAME, "cluster": cluster}],
        "users": [{"name": CONTEXT_NAME, "user": user}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME, "namespace": "default"},
            }
        ],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


class ApiServer:
    """Serve the Kubernetes API for the sandbox in `directory` on `host:port` (0: any free port).

    `history` is how many recent changes watches can resume from; older ones answer
    410 Gone. `bookmark_seconds` is the interval of watch BOOKMARK events.
    """

    def __init__(
        self,
        directory: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        history: int = 10_000,
        bookmark_seconds: float = 30.0,
        insecure_http: bool = False,
    ) -> None:
        self.directory = directory
        self.insecure_http = insecure_http
        self.host = host
        self.port = port
        self.history = history
        self.bookmark_seconds = bookmark_seconds
        self._runner: web.AppRunner | None = None
        self._store: Store | None = None
        self._hub = WatchHub()
        self._collect_wanted = asyncio.Event()
        self._collector_task: asyncio.Task[None] | None = None

    @property
    def open_watches(self) -> int:
        return len(self._hub)

    @property
    def url(self) -> str:
        return f"{'http' if self.insecure_http else 'https'}://{self.host}:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / KUBECONFIG_FILE

    async def start(self) -> None:
        """Listen (OSError when the port is taken), then write the kubeconfig."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._store = Store(self.directory / STATE_FILE, self.history)
        service = ApiService(self._store, self._hub)
        service.subscribe_changes(self._changed)
        collectors = Collectors(service)
        logs = PodLogs(
            lambda name: service.store.get(("", "nodes"), ("", name)),
            ContainerLogs(self.directory / POD_LOG_DIR),
            lambda ns, name, uid: _pod_alive(service, ns, name, uid),
        )
        security = Security.create(self.directory, service, self.insecure_http)
        app = web.Application(
            middlewares=[status_errors, security.filter()], client_max_size=16 * 1024 * 1024
        )
        _add_discovery_routes(app, service)
        security.add_routes(app, service)
        ResourceRoutes(service, logs, self.bookmark_seconds).add_to(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        tls = None if self.insecure_http else security.pki.server_context()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, ssl_context=tls)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        self.port = int(self._runner.addresses[0][1])
        self._collector_task = asyncio.create_task(self._collect(service, collectors))
        self._collect_wanted.set()
        write_kubeconfig(self.kubeconfig, self.url, None if self.insecure_http else security.pki)
        log.info("sandbox API server on %s (state in %s)", self.url, self.directory)

    async def stop(self) -> None:
        self._hub.close_all()
        if self._collector_task is not None:
            self._collector_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector_task
            self._collector_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def _changed(self, change: Change) -> None:
        self._collect_wanted.set()

    async def _collect(self, service: ApiService, collectors: Collectors) -> None:
        while True:
            await self._collect_wanted.wait()
            self._collect_wanted.clear()
            try:
                collectors.run_pass()
                aggregate_cluster_roles(service)
            except Exception:
                log.exception("garbage collection pass failed")
            # Let requests in between passes, and let a burst of writes make one pass.
            await asyncio.sleep(_COLLECT_PAUSE_SECONDS)


def _pod_alive(service: ApiService, namespace: str, name: str, uid: str) -> bool:
    pod = service.store.get(("", "pods"), (namespace, name))
    if pod is None or pod["metadata"].get("uid") != uid:
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def _add_discovery_routes(app: web.Application, service: ApiService) -> None:
    def found(body: dict[str, Any] | None) -> web.Response:
        if body is None:
            raise errors.path_not_found()
        return json_response(body)

    async def version(_: web.Request) -> web.Response:
        return json_response(discovery.version_info())

    async def healthy(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def api(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            body = discovery.aggregated(service.types(), core=True)
            return json_response(body, content_type=discovery.AGGREGATED)
        return json_response(discovery.core_versions())

    async def core_resources(_: web.Request) -> web.Response:
        return found(discovery.resource_list(service.types(), "", "v1"))

    async def apis(request: web.Request) -> web.Response:
        if discovery.wants_aggregated(request.headers.get("Accept", "")):
            body = discovery.aggregated(service.types(), core=False)
            return json_response(body, content_type=discovery.AGGREGATED)
        return json_response(discovery.group_list(service.types()))

    async def api_group(request: web.Request) -> web.Response:
        return found(discovery.group(service.types(), request.match_info["group"]))

    async def group_resources(request: web.Request) -> web.Response:
        info = request.match_info
        return found(discovery.resource_list(service.types(), info["group"], info["version"]))

    async def openapi_v2_document(_: web.Request) -> web.Response:
        return web.Response(body=openapi_v2.document(), headers={"Content-Type": openapi_v2.MEDIA})

    async def openapi_index(_: web.Request) -> web.Response:
        return json_response(discovery.openapi_index(service.types(), service.custom_schemas))

    async def openapi_document(request: web.Request) -> web.Response:
        parts = request.match_info["path"].strip("/").split("/")
        if parts[:1] == ["api"] and len(parts) == 2:
            group_name, version = "", parts[1]
        elif parts[:1] == ["apis"] and len(parts) == 3:
            group_name, version = parts[1], parts[2]
        else:
            raise errors.path_not_found()
        if not any(rt.group == group_name and rt.version == version for rt in service.types()):
            raise errors.path_not_found()
        schemas = service.custom_schemas(group_name, version)
        return json_response(
            discovery.openapi_document(service.types(), group_name, version, schemas)
        )

    router = app.router
    router.add_get("/version", version)
    for path in ("/healthz", "/livez", "/readyz"):
        router.add_get(path, healthy)
    router.add_get("/api", api)
    router.add_get("/api/v1", core_resources)
    router.add_get("/apis", apis)
    router.add_get("/apis/{group}", api_group)
    router.add_get("/apis/{group}/{version}", group_resources)
    router.add_get("/openapi/v2", openapi_v2_document)
    router.add_get("/openapi/v3", openapi_index)
    router.add_get("/openapi/v3/{path:.*}", openapi_document)
