"""Starting the cluster components: all of them for `sandbox up`, or the node agent alone."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from modeldeploy.sandbox.controllers import run as controllers
from modeldeploy.sandbox.controllers.base import run_until_stopped
from modeldeploy.sandbox.controllers.jobplan import Backoff
from modeldeploy.sandbox.node import agent
from modeldeploy.sandbox.node.config import NodeConfig, load_nodes
from modeldeploy.sandbox.proxy import run as proxy
from modeldeploy.sandbox.scheduler import loop as scheduler


async def run_components(
    kubeconfig: Path,
    directory: Path,
    stop: asyncio.Event,
    job_backoff: Backoff | None = None,
    crash_backoff: float = 10.0,
    isolate: bool | None = None,
    node_grace_seconds: float = 40.0,
    with_node: bool = True,
    with_proxy: bool = True,
    nodes: tuple[NodeConfig, ...] = (),
    shutdown_grace: float = agent.AgentOptions.shutdown_grace,
) -> None:
    """Controllers, scheduler, and unless turned off the node agent (with `nodes`, else the
    default nodes) and the Service proxy (ClusterIP:port -> ready endpoints), until `stop`
    is set; then the agent gives containers `shutdown_grace` seconds after SIGTERM."""
    options = agent.AgentOptions(
        directory=directory,
        nodes=nodes,
        crash_backoff=crash_backoff,
        isolate=isolate,
        shutdown_grace=shutdown_grace,
    )
    await run_until_stopped(
        stop,
        controllers.run(kubeconfig, stop, job_backoff, node_grace_seconds),
        scheduler.run(kubeconfig, stop),
        *([agent.run(kubeconfig, stop, options)] if with_node else []),
        *([proxy.run(kubeconfig, stop)] if with_proxy else []),
    )


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", type=Path, required=True, help="API server to join")
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(".sandbox"),
        help="where pods, claim data (pvc/) and logs (pod-logs/) are kept",
    )
    parser.add_argument(
        "--config", type=Path, help="YAML `nodes: [{name, pool, labels, capacity, taints}]`"
    )


async def _serve_node(options: agent.AgentOptions, kubeconfig: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await agent.run(kubeconfig, stop, options)


def node_main(args: argparse.Namespace) -> int:
    """`modeldeploy sandbox node`: the node agent alone, against any API server."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        nodes = tuple(load_nodes(args.config)) if args.config else ()
    except (OSError, ValueError) as error:
        print(f"error: --config: {error}")
        return 2
    if not args.kubeconfig.is_file():
        print(f"error: --kubeconfig: {args.kubeconfig} is not a file")
        return 2
    options = agent.AgentOptions(directory=args.dir, nodes=nodes)
    asyncio.run(_serve_node(options, args.kubeconfig))
    return 0
