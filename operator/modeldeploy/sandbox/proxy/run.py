"""The proxy component: lists and watches Services and Endpoints like kube-proxy, opens a TCP
listener per ClusterIP and port, and sends each new connection to a random ready endpoint."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

from modeldeploy.sandbox.controllers.base import Controller, run_until_stopped
from modeldeploy.sandbox.controllers.client import ENDPOINTS, SERVICES, KubeClient
from modeldeploy.sandbox.controllers.informer import Informer
from modeldeploy.sandbox.proxy.splice import Streams, reset, splice
from modeldeploy.sandbox.proxy.table import (
    Backend,
    Frontend,
    ServicePort,
    frontends,
    ready_backends,
)

log = logging.getLogger(__name__)

_SYNC = "listeners"
# A ClusterIP:port that could not be bound (taken by another process) is tried again this often.
BIND_RETRY_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 5.0


class ServiceProxy(Controller):
    """Listeners follow the Services; each connection reads the Endpoints as they are then, so a
    pod that stops being ready gets no new connection (open ones are left alone, as upstream)."""

    name = "service-proxy"

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client)
        self._rng = random.Random()
        self.services = self.informer(Informer(client, SERVICES))
        self.endpoints = self.informer(Informer(client, ENDPOINTS))
        self.services.on_change(lambda _event, _service: self.queue.add(_SYNC))
        self._routes: dict[Frontend, ServicePort] = {}
        self._listeners: dict[Frontend, asyncio.Server] = {}
        self._unbindable: dict[Frontend, str] = {}
        self._connections: set[asyncio.Task[None]] = set()

    async def reconcile(self, key: str) -> float | None:
        self._routes = frontends(self.services.items())
        for frontend in [f for f in self._listeners if f not in self._routes]:
            self._listeners.pop(frontend).close()  # open connections go on
            log.info("closed %s:%d", frontend.ip, frontend.port)
        for frontend in [f for f in self._unbindable if f not in self._routes]:
            del self._unbindable[frontend]
        for frontend in self._routes:
            if frontend not in self._listeners:
                await self._listen(frontend)
        return BIND_RETRY_SECONDS if self._unbindable else None

    async def _listen(self, frontend: Frontend) -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(frontend, (reader, writer))

        try:
            server = await asyncio.start_server(
                accepted, frontend.ip, frontend.port, reuse_address=True
            )
        except OSError as error:
            if self._unbindable.get(frontend) != str(error):
                log.warning("cannot listen on %s:%d: %s", frontend.ip, frontend.port, error)
            self._unbindable[frontend] = str(error)
            return
        self._unbindable.pop(frontend, None)
        self._listeners[frontend] = server
        log.info("listening on %s:%d", frontend.ip, frontend.port)

    async def _serve(self, frontend: Frontend, client: Streams) -> None:
        task = asyncio.current_task()
        assert task is not None  # a start_server callback always runs in its own task
        self._connections.add(task)
        try:
            upstream = await self._connect(frontend)
            if upstream is None:
                reset(client[1])  # no ready endpoint: refused, like kube-proxy's REJECT rule
                return
            await splice(client, upstream)
        finally:
            self._connections.discard(task)
            if not client[1].transport.is_closing():  # cancelled before it was spliced
                client[1].transport.abort()

    async def _connect(self, frontend: Frontend) -> Streams | None:
        """A connection to a ready endpoint chosen at random; the next one if it refuses."""
        route = self._routes.get(frontend)
        if route is None:
            return None
        backends: list[Backend] = ready_backends(
            self.endpoints.get(route.endpoints_key), route.port_name
        )
        for ip, port in self._rng.sample(backends, len(backends)):
            try:
                return await asyncio.wait_for(
                    asyncio.open_connection(ip, port), CONNECT_TIMEOUT_SECONDS
                )
            except (OSError, TimeoutError) as error:
                log.debug("endpoint %s:%d of %s: %s", ip, port, route.endpoints_key, error)
        return None

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            for server in self._listeners.values():
                server.close()
            self._listeners.clear()
            connections = list(self._connections)
            for task in connections:
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)


async def run(kubeconfig: Path, stop: asyncio.Event) -> None:
    """The proxy until `stop` is set; every listener and proxied connection closed on return."""
    client = KubeClient.from_kubeconfig(kubeconfig, "modeldeploy-sandbox/proxy")
    try:
        await run_until_stopped(stop, ServiceProxy(client).run())
    finally:
        await client.close()
