"""The root CA publisher: a `kube-root-ca.crt` ConfigMap in every namespace.

pkg/controller/certificates/rootcacertpublisher/publisher.go: the cluster CA (kube-controller-
manager's --root-ca-file; here the kubeconfig's certificate-authority-data) is kept in each
namespace that is not terminating, restored when deleted or changed. Pods mount it through the
projected service-account volume to verify the API server.
"""

from __future__ import annotations

from modeldeploy.sandbox.controllers.base import Controller
from modeldeploy.sandbox.controllers.client import (
    CONFIGMAPS,
    NAMESPACES,
    ApiError,
    KubeClient,
    Obj,
)
from modeldeploy.sandbox.controllers.informer import Informer

NAME = "kube-root-ca.crt"
KEY = "ca.crt"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


class RootCAPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, client: KubeClient, ca_pem: str) -> None:
        super().__init__(client)
        self.ca_pem = ca_pem
        self.namespaces = self.informer(Informer(client, NAMESPACES))
        self.config_maps = self.informer(
            Informer(client, CONFIGMAPS, field_selector=f"metadata.name={NAME}")
        )
        self.namespaces.on_change(lambda _e, ns: self.queue.add(ns["metadata"]["name"]))
        self.config_maps.on_change(lambda _e, cm: self.queue.add(cm["metadata"]["namespace"]))

    async def reconcile(self, key: str) -> float | None:
        namespace = self.namespaces.get(key)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return None
        current = self.config_maps.get(f"{key}/{NAME}")
        wanted = {KEY: self.ca_pem}
        if current is not None and current.get("data") == wanted:
            return None
        body: Obj = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": NAME,
                "namespace": key,
                "annotations": {"kubernetes.io/description": DESCRIPTION},
            },
            "data": wanted,
        }
        try:
            if current is None:
                written = await self.client.create(CONFIGMAPS.path(key), body)
            else:
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                written = await self.client.replace(CONFIGMAPS.path(key, NAME), body)
        except ApiError as error:
            if error.status == 404 or (error.status == 403 and "terminated" in error.message):
                return None  # the namespace is gone or going away

            raise
        self.config_maps.remember(written)
        return None
