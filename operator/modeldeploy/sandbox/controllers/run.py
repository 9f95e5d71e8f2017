"""Runs all sandbox controllers against one API server until stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from modeldeploy.sandbox.controllers.base import Controller, run_until_stopped
from modeldeploy.sandbox.controllers.client import KubeClient, certificate_authority
from modeldeploy.sandbox.controllers.deployment import DeploymentController
from modeldeploy.sandbox.controllers.endpoints import EndpointsController
from modeldeploy.sandbox.controllers.job import JobController
from modeldeploy.sandbox.controllers.jobplan import Backoff
from modeldeploy.sandbox.controllers.nodes import NodeLifecycleController
from modeldeploy.sandbox.controllers.replicaset import ReplicaSetController
from modeldeploy.sandbox.controllers.rootca import RootCAPublisher
from modeldeploy.sandbox.controllers.volumes import ClaimBinder


async def run(
    kubeconfig: Path,
    stop: asyncio.Event,
    job_backoff: Backoff | None = None,
    node_grace_seconds: float = 40.0,
) -> None:
    """The controller manager: returns once `stop` is set, leaving nothing running."""
    client = KubeClient.from_kubeconfig(kubeconfig, "modeldeploy-sandbox/controller-manager")
    controllers: list[Controller] = [
        DeploymentController(client),
        ReplicaSetController(client),
        JobController(client, job_backoff or Backoff()),
        EndpointsController(client),
        ClaimBinder(client),
        NodeLifecycleController(client, node_grace_seconds),
    ]
    ca_pem = certificate_authority(kubeconfig)
    if ca_pem is not None:  # (a plain-HTTP debugging sandbox has no CA to publish)
        controllers.append(RootCAPublisher(client, ca_pem))
    try:
        await run_until_stopped(stop, *(controller.run() for controller in controllers))
    finally:
        await client.close()
