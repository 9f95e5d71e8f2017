"""RBAC enforced as kube-apiserver enforces it, seen through the real kubectl."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.auth.identities import kubectl_with_token, service_account
from tests.sandbox.conftest import SandboxApi, eventually

CRD = Path(__file__).parents[3] / "crds" / "modeldeployments.modeldeploy.dev.yaml"
READER_ROLE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-reader, namespace: ml}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [deployments]
  resourceNames: [web]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
"""
READER_BINDING = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: ml}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader}
subjects:
- {kind: ServiceAccount, name: reader, namespace: ml}
"""


def test_can_i_answers_what_the_bound_role_allows(sandbox_api: SandboxApi) -> None:
    admin = Kubectl(sandbox_api)
    service_account(sandbox_api, "ml", "reader")
    admin.run("apply", "-f", "-", stdin=READER_ROLE + "---" + READER_BINDING)
    as_reader = ("--as=system:serviceaccount:ml:reader", "-n", "ml")
    expected = {
        ("list", "configmaps"): True,
        ("watch", "configmaps"): True,
        ("get", "configmaps/anything"): True,
        ("create", "configmaps"): False,
        ("delete", "configmaps/anything"): False,
        ("get", "deployments.apps/web"): True,
        ("patch", "deployments.apps/web"): True,
        ("get", "deployments.apps/other"): False,
        ("list", "deployments.apps"): False,
        ("get", "pods/x", "--subresource=log"): True,
        ("get", "pods/x"): False,
        ("list", "secrets"): False,
    }
    for (verb, resource, *extra), allowed in expected.items():
        done = admin.run("auth", "can-i", verb, resource, *extra, *as_reader, check=False)
        assert done.strip().splitlines()[0] == ("yes" if allowed else "no"), (verb, resource)
    # Outside its namespace the Role grants nothing.
    other = admin.run(
        "auth", "can-i", "list", "configmaps", "--as=system:serviceaccount:ml:reader",
        "-n", "default", check=False,
    )  # fmt: skip
    assert other.strip().splitlines()[0] == "no"


def test_unbound_service_account_gets_the_exact_forbidden_answers(
    sandbox_api: SandboxApi, tmp_path: Path
) -> None:
    token = service_account(sandbox_api, "ml", "nobody")
    kubectl = kubectl_with_token(sandbox_api, token, tmp_path / "kubeconfig")
    user = 'User "system:serviceaccount:ml:nobody"'
    assert kubectl.fails("get", "pods", "-n", "ml").strip() == (
        f'Error from server (Forbidden): pods is forbidden: {user} cannot list resource "pods" '
        'in API group "" in the namespace "ml"'
    )
    watch = kubectl.fails("get", "--raw", "/apis/apps/v1/namespaces/ml/deployments?watch=true")
    assert (
        f'deployments.apps is forbidden: {user} cannot watch resource "deployments" in API group '
        '"apps" in the namespace "ml"'
    ) in watch
    created = kubectl.fails("create", "configmap", "c", "-n", "ml")
    assert (
        f'configmaps is forbidden: {user} cannot create resource "configmaps" in API group "" in '
        'the namespace "ml"'
    ) in created
    logs = kubectl.fails("logs", "some-pod", "-n", "ml")
    assert (
        f'pods "some-pod" is forbidden: {user} cannot get resource "pods" in API group "" in the '
        'namespace "ml"'
    ) in logs
    nodes = kubectl.fails("get", "nodes")
    assert (
        f'nodes is forbidden: {user} cannot list resource "nodes" in API group "" at the cluster '
        "scope"
    ) in nodes


def test_a_status_body_names_the_refused_request(sandbox_api: SandboxApi) -> None:
    """The 403 is a metav1.Status with reason and details, as client libraries expect."""
    token = service_account(sandbox_api, "ml", "nobody")
    code, body = call(
        sandbox_api,
        "GET",
        "/api/v1/namespaces/ml/pods/p/log",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert code == 403
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "p" is forbidden: User "system:serviceaccount:ml:nobody" cannot get '
        'resource "pods/log" in API group "" in the namespace "ml"',
        "reason": "Forbidden",
        "details": {"name": "p", "kind": "pods"},
        "code": 403,
    }


def test_nobody_grants_what_they_do_not_hold(sandbox_api: SandboxApi, tmp_path: Path) -> None:
    admin = Kubectl(sandbox_api)
    token = service_account(sandbox_api, "ml", "binder")
    # The binder may manage RoleBindings in ml, and holds `view` there, nothing more.
    admin.run(
        "create", "role", "binding-manager", "-n", "ml",
        "--verb=create,get,list,delete", "--resource=rolebindings.rbac.authorization.k8s.io",
    )  # fmt: skip
    sa = "--serviceaccount=ml:binder"
    admin.run("create", "rolebinding", "manage", "-n", "ml", "--role=binding-manager", sa)
    admin.run("create", "rolebinding", "view", "-n", "ml", "--clusterrole=view", sa)
    binder = kubectl_with_token(sandbox_api, token, tmp_path / "kubeconfig")
    # Granting what it holds itself (view) is allowed...
    binder.run("create", "rolebinding", "give-view", "-n", "ml", "--clusterrole=view", "--user=ann")
    # ...granting more (edit, cluster-admin) is refused, naming what it lacks.
    refused = binder.fails(
        "create",
        "rolebinding",
        "give-admin",
        "-n",
        "ml",
        "--clusterrole=cluster-admin",
        "--user=ann",
    )
    assert (
        'rolebindings.rbac.authorization.k8s.io "give-admin" is forbidden: user '
        '"system:serviceaccount:ml:binder" (groups=["system:serviceaccounts" '
        '"system:serviceaccounts:ml" "system:authenticated"]) is attempting to grant RBAC '
        "permissions not currently held:\n"
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'
    ) in refused
    refused_edit = binder.fails(
        "create", "rolebinding", "give-edit", "-n", "ml", "--clusterrole=edit", "--user=ann"
    )
    assert "is attempting to grant RBAC permissions not currently held" in refused_edit
    assert '{APIGroups:[""], Resources:["configmaps"], Verbs:["create" "delete"' in refused_edit
    assert admin.run("get", "rolebindings", "-n", "ml", "-o", "name").split() == [
        "rolebinding.rbac.authorization.k8s.io/give-view",
        "rolebinding.rbac.authorization.k8s.io/manage",
        "rolebinding.rbac.authorization.k8s.io/view",
    ]
    # With the `bind` verb on the role, the binding is allowed without holding it.
    admin.run(
        "create", "role", "may-bind-edit", "-n", "ml", "--verb=bind",
        "--resource=clusterroles.rbac.authorization.k8s.io", "--resource-name=edit",
    )  # fmt: skip
    admin.run("create", "rolebinding", "bind-edit", "-n", "ml", "--role=may-bind-edit", sa)
    binder.run("create", "rolebinding", "give-edit", "-n", "ml", "--clusterrole=edit", "--user=ann")


def test_whoami_and_aggregated_roles(sandbox_api: SandboxApi, tmp_path: Path) -> None:
    admin = Kubectl(sandbox_api)
    assert "kubernetes-admin" in admin.run("auth", "whoami")
    token = service_account(sandbox_api, "ml", "me")
    whoami = kubectl_with_token(sandbox_api, token, tmp_path / "kubeconfig").json("auth", "whoami")
    info = whoami["status"]["userInfo"]
    assert info["username"] == "system:serviceaccount:ml:me"
    assert info["groups"] == [
        "system:serviceaccounts", "system:serviceaccounts:ml", "system:authenticated"
    ]  # fmt: skip
    assert info["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")
    # A ClusterRole labelled for aggregation adds its rules to `view` (and to edit and admin).
    admin.run("apply", "-f", str(CRD))
    admin.run(
        "apply",
        "-f",
        "-",
        stdin="""
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: modeldeployments-view
  labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
rules:
- {apiGroups: [modeldeploy.dev], resources: [modeldeployments], verbs: [get, list, watch]}
""",
    )
    admin.run(
        "create",
        "rolebinding",
        "me-view",
        "-n",
        "ml",
        "--clusterrole=view",
        "--serviceaccount=ml:me",
    )

    def may_list() -> bool:
        answer = admin.run(
            "auth", "can-i", "list", "modeldeployments.modeldeploy.dev", "-n", "ml",
            "--as=system:serviceaccount:ml:me", check=False,
        )  # fmt: skip
        return answer.strip().splitlines()[-1] == "yes"

    eventually(may_list, "view to aggregate the new ClusterRole's rules")
    view = admin.json("get", "clusterrole", "view")
    assert {"apiGroups": ["modeldeploy.dev"], "resources": ["modeldeployments"],
            "verbs": ["get", "list", "watch"]} in view["rules"]  # fmt: skip
