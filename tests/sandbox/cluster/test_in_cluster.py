"""A pod reaches the API as a kubelet lets it: in-cluster config, its service account's token
(projected, bound to the pod) and the cluster CA, with only what its Role grants."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from tests.sandbox.cluster.conftest import Cluster, wait_for

from modeldeploy.sandbox.apiserver.auth.serviceaccounts import MOUNT_PATH

SCRIPT = f"""
import json, os
from kubernetes import client, config
try:
    config.load_incluster_config()
except config.ConfigException as error:
    print(json.dumps({{"config": str(error)}}))
    raise SystemExit(0)
core = client.CoreV1Api()
names = [c.metadata.name for c in core.list_namespaced_config_map("ml").items]
answer = {{"configmaps": sorted(names)}}
try:
    core.list_namespaced_secret("ml")
    answer["secrets"] = "allowed"
except client.ApiException as error:
    answer["secrets"] = [error.status, json.loads(error.body)["message"]]
answer["namespace"] = open("{MOUNT_PATH}/namespace").read()
answer["host"] = os.environ["KUBERNETES_SERVICE_HOST"]
print(json.dumps(answer))
"""
ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "configmap-reader", "namespace": "ml"},
    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
}
BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "RoleBinding",
    "metadata": {"name": "lister", "namespace": "ml"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "configmap-reader",
    },
    "subjects": [{"kind": "ServiceAccount", "name": "lister", "namespace": "ml"}],
}


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": "modeldeploy/modeldeploy",
        "command": ["python", "-c", SCRIPT],
    }
    return {
        "metadata": {"name": name},
        "spec": {
            "serviceAccountName": "lister",
            "restartPolicy": "Never",
            "containers": [container],
            **spec,
        },
    }


def _run(cluster: Cluster, pod: dict[str, Any]) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    cluster.core.create_namespaced_pod("ml", pod)

    def finished() -> str | None:
        phase = cluster.core.read_namespaced_pod(name, "ml").status.phase
        return phase if phase in ("Succeeded", "Failed") else None

    assert wait_for(finished, f"pod {name} to finish", 90) == "Succeeded"
    logs = cluster.core.read_namespaced_pod_log(name, "ml")
    result: dict[str, Any] = json.loads(logs.strip().splitlines()[-1])
    return result


def test_a_pod_lists_what_its_role_allows_and_is_refused_the_rest(cluster: Cluster) -> None:
    if not cluster.isolated:
        pytest.skip("the well-known token path needs a mount namespace on this machine")
    core = cluster.core
    core.create_namespace({"metadata": {"name": "ml"}})
    core.create_namespaced_service_account("ml", {"metadata": {"name": "lister"}})
    core.create_namespaced_config_map("ml", {"metadata": {"name": "settings"}})
    rbac = k8s.RbacAuthorizationV1Api(cluster.api)
    rbac.create_namespaced_role("ml", ROLE)
    rbac.create_namespaced_role_binding("ml", BINDING)
    # The controller manager publishes the cluster CA in every namespace.
    wait_for(
        lambda: core.read_namespaced_config_map("kube-root-ca.crt", "ml").data.get("ca.crt"),
        "kube-root-ca.crt in ml",
    )
    answer = _run(cluster, _pod("lister"))
    assert "config" not in answer, answer
    assert answer["configmaps"] == ["kube-root-ca.crt", "settings"]
    assert answer["secrets"] == [
        403,
        'secrets is forbidden: User "system:serviceaccount:ml:lister" cannot list resource '
        '"secrets" in API group "" in the namespace "ml"',
    ]
    assert answer["namespace"] == "ml"
    assert answer["host"] == "127.0.0.1"
    pod = core.read_namespaced_pod("lister", "ml")
    (volume,) = [v for v in pod.spec.volumes if v.name.startswith("kube-api-access-")]
    assert [m.mount_path for m in pod.spec.containers[0].volume_mounts] == [MOUNT_PATH]
    assert volume.projected.sources[0].service_account_token.expiration_seconds == 3607
    # Without automounting, the pod has no token and in-cluster config says so.
    opted_out = _run(cluster, _pod("no-token", automountServiceAccountToken=False))
    assert "Service token file does not exist" in opted_out["config"]
