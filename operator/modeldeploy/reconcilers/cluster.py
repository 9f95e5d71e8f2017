"""The operator's writes to the API server, through the `kubernetes` client.

Creates are idempotent (children have names derived from the spec, so 409 AlreadyExists means
"already done"), deletes tolerate 404, and the status write carries the resourceVersion it
was computed from, so a decision made on a stale view is refused (409) and made again.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from modeldeploy.api.v1alpha1 import GROUP, PLURAL, VERSION
from modeldeploy.reconcilers.metrics import API_ERRORS, API_WRITES

log = logging.getLogger("modeldeploy.operator")
COMPONENT = "modeldeploy-operator"
MERGE_PATCH = "application/merge-patch+json"
# Bodies stay dicts both ways (no model conversion): what is sent is what the server gets.
RAW: dict[str, Any] = {"_preload_content": False}


class StaleStatusError(Exception):
    """The resource changed since the status was computed; reconcile again."""


class Cluster:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def _call(self, kind: str, verb: str, call: Callable[[], Any], ok: tuple[int, ...] = ()) -> Any:
        try:
            result = call()
        except ApiException as error:
            if error.status in ok:
                return None
            API_ERRORS.labels(kind=kind, code=str(error.status)).inc()
            raise
        API_WRITES.labels(kind=kind, verb=verb).inc()
        # A raw answer keeps its pooled connection until its body is read: reading it here
        # hands every connection back (unread, each call opened a new one: a TLS handshake).
        body = result.data if isinstance(result, urllib3.BaseHTTPResponse) else None
        return json.loads(body) if body else None

    def create(self, manifest: Mapping[str, Any]) -> None:
        kind = manifest["kind"]
        namespace = manifest["metadata"]["namespace"]
        creators: dict[str, Callable[..., Any]] = {
            "Job": self.batch.create_namespaced_job,
            "Deployment": self.apps.create_namespaced_deployment,
            "Service": self.core.create_namespaced_service,
            "PersistentVolumeClaim": self.core.create_namespaced_persistent_volume_claim,
        }
        create = creators[kind]
        self._call(kind, "create", lambda: create(namespace, manifest, **RAW), ok=(409,))

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self._patch_deployment(namespace, name, {"spec": {"replicas": replicas}})

    def set_role(self, namespace: str, name: str, label: str, role: str | None) -> None:
        self._patch_deployment(namespace, name, {"metadata": {"labels": {label: role}}})

    def _patch_deployment(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        self._call(
            "Deployment",
            "patch",
            lambda: self.apps.patch_namespaced_deployment(
                name, namespace, body, _content_type=MERGE_PATCH, **RAW
            ),
            ok=(404,),
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        options = client.V1DeleteOptions(propagation_policy="Background")
        delete: Callable[..., Any] = {
            "Job": self.batch.delete_namespaced_job,
            "Deployment": self.apps.delete_namespaced_deployment,
        }[kind]
        self._call(kind, "delete", lambda: delete(name, namespace, body=options, **RAW), ok=(404,))

    def event(self, resource: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        metadata = resource["metadata"]
        now = datetime.now(UTC)
        body: Any = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata['name']}.{uuid.uuid4().hex[:16]}",
                "namespace": metadata["namespace"],
            },
            "involvedObject": {
                "apiVersion": resource["apiVersion"],
                "kind": resource["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            self._call(
                "Event",
                "create",
                lambda: self.core.create_namespaced_event(metadata["namespace"], body, **RAW),
            )
        except ApiException as error:  # an event is never worth failing a reconcile for
            log.warning("cannot post event %s: %s", reason, error.reason)

    def patch_status(
        self, resource: Mapping[str, Any], changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        metadata = resource["metadata"]
        body = {"metadata": {"resourceVersion": metadata["resourceVersion"]}, "status": changes}
        try:
            result = self._call(
                "ModelDeployment",
                "patch",
                lambda: self.custom.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    metadata["namespace"],
                    PLURAL,
                    metadata["name"],
                    body,
                    _content_type=MERGE_PATCH,
                    **RAW,
                ),
            )
        except ApiException as error:
            if error.status == 409:
                raise StaleStatusError(metadata["name"]) from None
            raise
        assert isinstance(result, dict)
        return result

    def get_resource(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        assert isinstance(found, dict)
        return found
