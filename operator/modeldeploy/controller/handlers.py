"""kopf handlers, one per watched kind: each event updates the cache and queues the owning
ModelDeployment. Nothing is written here; the workers reconcile (controller/operator.py)."""

from __future__ import annotations

from typing import Any

import kopf

from modeldeploy.api.v1alpha1 import GROUP, PLURAL, VERSION
from modeldeploy.controller import metrics, state
from modeldeploy.rollout import labels

OURS = {labels.NAME: kopf.PRESENT}


@kopf.on.event(GROUP, VERSION, PLURAL)
def model_deployment_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    metrics.EVENTS.labels(kind="ModelDeployment", type=type or "LIST").inc()
    operator = state.running()
    key = operator.cache.put_resource(body, deleted=type == "DELETED")
    if type == "DELETED":
        operator.queue.forget(key)
        metrics.forget(key)
    else:
        operator.queue.add(key)


def _child(kind: str, type: str | None, body: kopf.Body) -> None:
    metrics.EVENTS.labels(kind=kind, type=type or "LIST").inc()
    operator = state.running()
    key = operator.cache.put_child(kind, body, deleted=type == "DELETED")
    if key is not None and key in operator.cache.resources:
        operator.queue.add(key)


@kopf.on.event("batch", "v1", "jobs", labels=OURS)
def job_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child("Job", type, body)


@kopf.on.event("apps", "v1", "deployments", labels=OURS)
def deployment_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child("Deployment", type, body)


@kopf.on.event("", "v1", "pods", labels=OURS)
def pod_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child("Pod", type, body)


@kopf.on.event("", "v1", "services", labels=OURS)
def service_changed(type: str | None, body: kopf.Body, **_: Any) -> None:
    _child("Service", type, body)
