"""Operator-wide kopf settings and the workers' lifetime, set once at startup."""

from __future__ import annotations

import os
from typing import Any

import kopf
from kubernetes import client, config

from modeldeploy.controller import state
from modeldeploy.controller.cache import Cache
from modeldeploy.controller.operator import Operator
from modeldeploy.controller.reconcile import Reconciler
from modeldeploy.reconcilers.cluster import Cluster


def _api_client() -> client.ApiClient:
    # In a pod: the service account; elsewhere: $KUBECONFIG, as kopf itself logs in.
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()  # type: ignore[no-untyped-call]
        return client.ApiClient()
    api: client.ApiClient = config.new_client_from_config()  # type: ignore[no-untyped-call]
    return api


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Events for warnings and errors only: the operator posts its own rollout events.
    settings.posting.level = 30
    # Re-list periodically even if the API server keeps a watch open forever.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]


@kopf.on.startup()
async def start_workers(**_: Any) -> None:
    reconciler = Reconciler(Cache(), Cluster(_api_client()), state.options)
    operator = Operator(reconciler)
    operator.start()
    state.set_running(operator)


@kopf.on.cleanup()
async def stop_workers(**_: Any) -> None:
    operator = state.running()
    state.set_running(None)
    await operator.stop()
