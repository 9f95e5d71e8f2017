"""Volume binding for the sandbox: every PersistentVolumeClaim is Bound at once.

A claim's data lives in a per-claim directory that the node agent creates
(see node/volumes.py), so there is no PersistentVolume to provision or match.
"""

from __future__ import annotations

from modeldeploy.sandbox.controllers.base import Controller
from modeldeploy.sandbox.controllers.client import PVCS, KubeClient
from modeldeploy.sandbox.controllers.informer import Informer


class ClaimBinder(Controller):
    name = "persistentvolume-binder"

    def __init__(self, client: KubeClient) -> None:
        super().__init__(client)
        self.claims = self.informer(Informer(client, PVCS))
        self.claims.on_change(self.enqueue_object)

    async def reconcile(self, key: str) -> float | None:
        claim = self.claims.get(key)
        if claim is None or (claim.get("status") or {}).get("phase") == "Bound":
            return None
        spec = claim.get("spec") or {}
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        status = {
            "phase": "Bound",
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            **({"capacity": {"storage": storage}} if storage else {}),
        }
        metadata = claim["metadata"]
        updated = await self.client.merge_patch(
            PVCS.path(metadata["namespace"], metadata["name"], "status"), {"status": status}
        )
        self.claims.remember(updated)
        return None
