"""The artifact store's claim, created in a resource's namespace when it has none.

It is shared by every resource of the namespace, so it has no owner: deleting one resource
never deletes the artifacts of the others.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.reconcilers.options import Options
from modeldeploy.rollout import labels


def artifact_claim(namespace: str, options: Options) -> dict[str, Any] | None:
    claim = options.artifact_claim
    if claim is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim,
            "namespace": namespace,
            "labels": {labels.MANAGED_BY: "modeldeploy", labels.COMPONENT: "artifact-store"},
        },
        "spec": {
            # Jobs write and serving pods on any node read it.
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": options.artifact_store_size}},
        },
    }
