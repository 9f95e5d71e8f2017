"""`modeldeploy sandbox up|down|status`: the local cluster in a directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from modeldeploy.sandbox.apiserver.auth.pki import PKI_DIR, Pki
from modeldeploy.sandbox.apiserver.server import KUBECONFIG_FILE, ApiServer
from modeldeploy.sandbox.node.components import add_node_arguments, node_main, run_components

PID_FILE = "sandbox.pid"
DEFAULT_DIR = Path(".sandbox")
DEFAULT_PORT = 6443
_STOP_WAIT_SECONDS = 20.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy sandbox", description="A local Kubernetes API for the operator."
    )
    sub = parser.add_subparsers(dest="action", required=True)
    up = sub.add_parser("up", help="run the sandbox in the foreground (Ctrl-C stops it)")
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help="API port (0: any free)")
    up.add_argument(
        "--no-proxy",
        dest="proxy",
        action="store_false",
        help="no Service proxy (nothing listens on ClusterIPs)",
    )
    up.add_argument(
        "--insecure-http",
        action="store_true",
        help="debugging only: plain HTTP, no authentication, every client is the admin",
    )
    add_node_arguments(sub.add_parser("node", help="run only the node agent (a kubelet)"))
    for name, text in (("down", "stop a running sandbox"), ("status", "is it running?")):
        action = sub.add_parser(name, help=text)
        action.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state directory")
    return parser


def _running_pid(directory: Path) -> int | None:
    try:
        pid = int((directory / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


async def _serve(directory: Path, port: int, proxy: bool, insecure_http: bool) -> int:
    server = ApiServer(directory.resolve(), port=port, insecure_http=insecure_http)
    try:
        await server.start()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            print(
                f"error: port {port} on 127.0.0.1 is already in use (try --port)", file=sys.stderr
            )
        else:
            print(f"error: cannot listen on 127.0.0.1:{port}: {error}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pid_file = server.directory / PID_FILE
    pid_file.write_text(str(os.getpid()))
    print(f"sandbox API server: {server.url}")
    print(f"kubeconfig: {server.kubeconfig}")
    print(f"export KUBECONFIG={server.kubeconfig}", flush=True)
    components = asyncio.create_task(
        run_components(server.kubeconfig, server.directory, stop, with_proxy=proxy)
    )
    try:
        await asyncio.wait(
            [components, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED"
        )
    finally:
        stop.set()
        await asyncio.gather(components, return_exceptions=True)
        await server.stop()
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
    return 0


def _up(directory: Path, port: int, proxy: bool, insecure_http: bool) -> int:
    pid = _running_pid(directory)
    if pid is not None:
        print(f"error: a sandbox is already running in {directory} (pid {pid})", file=sys.stderr)
        return 1
    return asyncio.run(_serve(directory, port, proxy, insecure_http))


def _down(directory: Path) -> int:
    pid = _running_pid(directory)
    if pid is None:
        print(f"no sandbox is running in {directory}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        if _running_pid(directory) is None:
            print(f"stopped the sandbox in {directory} (pid {pid})")
            return 0
        time.sleep(0.1)
    print(
        f"error: the sandbox (pid {pid}) did not stop within {_STOP_WAIT_SECONDS:.0f}s",
        file=sys.stderr,
    )
    return 1


def _status(directory: Path) -> int:
    pid = _running_pid(directory)
    if pid is None:
        print(f"no sandbox is running in {directory}")
        return 1
    kubeconfig = directory.resolve() / KUBECONFIG_FILE
    try:
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as error:
        print(f"sandbox pid {pid} in {directory} has no usable kubeconfig yet: {error}")
        return 1
    try:
        # /version is public (system:public-info-viewer): only the CA is needed.
        tls = Pki(directory.resolve() / PKI_DIR).client_context(with_admin=False)
        with urllib.request.urlopen(f"{server}/version", timeout=5, context=tls) as response:
            version = json.load(response)["gitVersion"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        print(f"sandbox pid {pid} in {directory} does not answer at {server}: {error}")
        return 1
    print(f"sandbox running: pid {pid}, API {server} ({version})")
    print(f"export KUBECONFIG={kubeconfig}")
    return 0


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.action == "up":
        return _up(args.dir, args.port, args.proxy, args.insecure_http)
    if args.action == "node":
        return node_main(args)
    if args.action == "down":
        return _down(args.dir)
    return _status(args.dir)
