"""The proxy component: lists and watches Services and Endpoints like kube-proxy, opens a TCP
listener per ClusterIP and port, and sends each new connection to a random ready endpoint."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
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
        self._listeners: dict[Frontend, socket.socket] = {}
        self._unbindable: dict[Frontend, str] = {}
        self._connections: set[asyncio.Task[None]] = set()

    async def reconcile(self, key: str) -> float | None:
        self._routes = frontends(self.services.items())
        for frontend in [f for f in self._listeners if f not in self._routes]:
            self._close(frontend)  # open connections go on
        for frontend in [f for f in self._unbindable if f not in self._routes]:
            del self._unbindable[frontend]
        for frontend in self._routes:
            if frontend not in self._listeners:
                await self._listen(frontend)
        return BIND_RETRY_SECONDS if self._unbindable else None

    async def _listen(self, frontend: Frontend) -> None:
        try:
            listener = socket.create_server((frontend.ip, frontend.port))
        except OSError as error:
            if self._unbindable.get(frontend) != str(error):
                log.warning("cannot listen on %s:%d: %s", frontend.ip, frontend.port, error)
            self._unbindable[frontend] = str(error)
            return
        listener.setblocking(False)
        self._unbindable.pop(frontend, None)
        self._listeners[frontend] = listener
        asyncio.get_running_loop().add_reader(listener, self._accept, frontend, listener)
        log.info("listening on %s:%d", frontend.ip, frontend.port)

    def _accept(self, frontend: Frontend, listener: socket.socket) -> None:
        """Takes every connection waiting on a readable listener, each to be served.

        A reader callback, not asyncio.start_server nor loop.sock_accept: on Python 3.11 both
        can accept a connection just as the listener is closed (or the accept cancelled) and
        then neither hand it over nor close it, so it hangs unanswered. A callback removed
        before the listener closes never runs again, and what it accepted it serves."""
        while True:
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of file descriptors: try on the next wake-up
                log.warning("accept on %s:%d: %s", frontend.ip, frontend.port, error)
                return
            connection.setblocking(False)
            self._track(asyncio.create_task(self._serve_socket(frontend, connection)))

    def _close(self, frontend: Frontend) -> None:
        listener = self._listeners.pop(frontend)
        asyncio.get_running_loop().remove_reader(listener)
        listener.close()  # connections still in its backlog are reset by the kernel
        log.info("closed %s:%d", frontend.ip, frontend.port)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _serve_socket(self, frontend: Frontend, connection: socket.socket) -> None:
        try:
            client = await asyncio.open_connection(sock=connection)
        except OSError:
            connection.close()  # gone before it could be served
            return
        await self._serve(frontend, client)

    async def _serve(self, frontend: Frontend, client: Streams) -> None:
        try:
            upstream = await self._connect(frontend)
            if upstream is None:
                reset(client[1])  # no ready endpoint: refused, like kube-proxy's REJECT rule
                return
            await splice(client, upstream)
        finally:
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
            for frontend in list(self._listeners):
                self._close(frontend)
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
