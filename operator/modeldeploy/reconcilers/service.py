"""One Service per resource over the ready serving pods of every version: traffic shares
follow ready replicas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modeldeploy.reconcilers import pods
from modeldeploy.reconcilers.deployment import COMPONENT
from modeldeploy.rollout import labels

SERVICE_PORT = 80


def serving_service(resource: Mapping[str, Any]) -> dict[str, Any]:
    name = resource["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": resource["metadata"]["namespace"],
            "labels": {labels.NAME: name, labels.MANAGED_BY: "modeldeploy"},
            "ownerReferences": [pods.owner_reference(resource)],
        },
        "spec": {
            "type": "ClusterIP",
            "selector": {labels.NAME: name, labels.COMPONENT: COMPONENT},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }
