"""The ServiceAccount admission plugin: every pod runs as a service account, with its token.

plugin/pkg/admission/serviceaccount/admission.go: the account defaults to `default` and must
exist; unless automounting is off (on the pod, else on the account), the pod gets the
projected `kube-api-access-*` volume (a bound token, the cluster CA from the kube-root-ca.crt
ConfigMap, the namespace) mounted at the well-known path in every container.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.service import random_suffix
from modeldeploy.sandbox.apiserver.store import Store

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# What the plugin asks for: kube-apiserver extends tokens with this lifetime (3600 + 7).
TOKEN_EXPIRATION_SECONDS = 3607


def _projected_volume(name: str) -> dict[str, Any]:
    token = {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}
    root_ca = {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    namespace = {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": token},
                {"configMap": root_ca},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": namespace}]}},
            ],
        },
    }


def admit_pod(store: Store, pod: dict[str, Any]) -> None:
    """Default and check the pod's service account and add its token volume (on create)."""
    spec = pod.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    meta = pod["metadata"]
    namespace = str(meta.get("namespace", ""))
    if (meta.get("annotations") or {}).get("kubernetes.io/config.mirror"):
        return
    account_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account_name
    account = store.get(("", "serviceaccounts"), (namespace, str(account_name)))
    if account is None:
        raise errors.forbidden(
            "pods",
            "",
            str(meta.get("name", "")),
            f"error looking up service account {namespace}/{account_name}: "
            f'serviceaccount "{account_name}" not found',
        )
    automount = spec.get("automountServiceAccountToken")
    if automount is None:
        automount = account.get("automountServiceAccountToken")
    if automount is False:
        return
    containers = [
        c
        for key in ("initContainers", "containers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]
    if any(
        m.get("mountPath") == MOUNT_PATH for c in containers for m in c.get("volumeMounts") or []
    ):
        return
    name = VOLUME_PREFIX + random_suffix()
    spec["volumes"] = [*(spec.get("volumes") or []), _projected_volume(name)]
    for container in containers:
        mount = {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), mount]
