"""The node's kubelet endpoint: HTTPS on the address the Node reports (`InternalIP`), at the
port in `status.daemonEndpoints.kubeletEndpoint`, so that any API server can serve
`kubectl logs` (and health checks) from it as from a kubelet (pkg/kubelet/server/server.go).

Like a kubelet started without a serving certificate it makes a self-signed one in its state
directory. Requests are not authenticated (a kubelet's `--anonymous-auth` with
`AlwaysAllow` authorization): it listens on loopback only, where the log files it serves are
readable anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from aiohttp import web

from modeldeploy.sandbox.apiserver.logs import ContainerLogs, LogError
from modeldeploy.sandbox.controllers.client import Obj
from modeldeploy.sandbox.node.serving_cert import serving_context

# (namespace, name) -> (the pod object, whether it may still write logs), None if not here
PodLookup = Callable[[str, str], tuple[Obj, Callable[[], bool]] | None]


class KubeletServer:
    def __init__(
        self, host: str, cert_dir: Path, names: Sequence[str], log_root: Path, pods: PodLookup
    ) -> None:
        self.host = host
        self.cert_dir = cert_dir
        self.names = list(names)
        self.logs = ContainerLogs(log_root)
        self.pods = pods
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Listens on a free port of `host`; returns it."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._container_logs)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        tls = serving_context(self.cert_dir, self.names[0], self.names, [self.host])
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=tls)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _container_logs(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        found = self.pods(info["namespace"], info["pod"])
        if found is None:
            return web.Response(status=404, text=f'pod "{info["pod"]}" does not exist')
        pod, running = found
        try:
            return await self.logs.respond(request, pod, info["container"], running)
        except LogError as error:  # plain text, as the kubelet's errors
            return web.Response(status=error.status, text=error.message)
