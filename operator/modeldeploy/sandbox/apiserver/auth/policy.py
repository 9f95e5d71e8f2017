"""The ClusterRoles and ClusterRoleBindings every cluster ships, created at start-up.

A subset of plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go: cluster-admin, the
user-facing admin/edit/view (filled by aggregation, as upstream), system:discovery,
system:basic-user and system:public-info-viewer, bound as kube-apiserver binds them.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.sandbox.apiserver.auth.pki import MASTERS_GROUP
from modeldeploy.sandbox.apiserver.auth.users import AUTHENTICATED, UNAUTHENTICATED

RBAC_GROUP = "rbac.authorization.k8s.io"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
READ = ["get", "list", "watch"]
READ_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_BOOTSTRAP_META = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _role(name: str, rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    labels = {**_BOOTSTRAP_META["labels"], **extra.pop("labels", {})}
    meta = {"name": name, "labels": labels, "annotations": dict(_BOOTSTRAP_META["annotations"])}
    return {"metadata": meta, "rules": rules, **extra}


def _aggregated(name: str) -> dict[str, Any]:
    selector = {"matchLabels": {f"{AGGREGATE_TO}{name}": "true"}}
    return _role(name, [], aggregationRule={"clusterRoleSelectors": [selector]})


def _aggregate_labels(*roles: str) -> dict[str, str]:
    return {f"{AGGREGATE_TO}{role}": "true" for role in roles}


_DISCOVERY_URLS = [
    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
    "/readyz", "/version", "/version/",
]  # fmt: skip
_PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]

_VIEW_RULES = [
    _rule(
        [""],
        ["pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
         "services", "services/status", "endpoints", "persistentvolumeclaims",
         "persistentvolumeclaims/status", "configmaps"],
        READ,
    ),
    _rule(
        [""],
        ["limitranges", "resourcequotas", "bindings", "events", "pods/status",
         "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
         "pods/log"],
        READ,
    ),
    _rule([""], ["namespaces"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(
        ["apps"],
        ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
         "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
         "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"],
        READ,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
    _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
    _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
    _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
]  # fmt: skip

_EDIT_RULES = [
    _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"],
          ["create", "delete", "deletecollection", "patch", "update"]),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule(
        [""],
        ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
         "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
         "services/proxy"],
        READ_WRITE,
    ),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(
        ["apps"],
        ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
         "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"],
        READ_WRITE,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], READ_WRITE),
    _rule(["batch"], ["cronjobs", "jobs"], READ_WRITE),
    _rule(["policy"], ["poddisruptionbudgets"], READ_WRITE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], READ_WRITE),
    # Read on the escalating resources, which view leaves out.
    _rule([""], ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets",
                 "services/proxy"], READ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
]  # fmt: skip

_ADMIN_RULES = [
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _rule([RBAC_GROUP], ["rolebindings", "roles"], READ + READ_WRITE),
]


def cluster_roles() -> list[dict[str, Any]]:
    return [
        _role(
            "cluster-admin",
            [_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}],
        ),
        _aggregated("admin"),
        _aggregated("edit"),
        _aggregated("view"),
        _role("system:aggregate-to-admin", _ADMIN_RULES, labels=_aggregate_labels("admin")),
        _role("system:aggregate-to-edit", _EDIT_RULES, labels=_aggregate_labels("admin", "edit")),
        _role(
            "system:aggregate-to-view",
            _VIEW_RULES,
            labels=_aggregate_labels("admin", "edit", "view"),
        ),
        _role("system:discovery", [{"nonResourceURLs": _DISCOVERY_URLS, "verbs": ["get"]}]),
        _role(
            "system:public-info-viewer", [{"nonResourceURLs": _PUBLIC_INFO_URLS, "verbs": ["get"]}]
        ),
        _role(
            "system:basic-user",
            [
                _rule(
                    ["authorization.k8s.io"],
                    ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    ["create"],
                ),
                _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
            ],
        ),
    ]


def _binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": dict(_BOOTSTRAP_META["labels"]),
            "annotations": dict(_BOOTSTRAP_META["annotations"]),
        },
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": RBAC_GROUP, "kind": "Group", "name": g} for g in groups],
    }


def cluster_role_bindings() -> list[dict[str, Any]]:
    return [
        _binding("cluster-admin", "cluster-admin", [MASTERS_GROUP]),
        _binding("system:discovery", "system:discovery", [AUTHENTICATED]),
        _binding("system:basic-user", "system:basic-user", [AUTHENTICATED]),
        _binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            [AUTHENTICATED, UNAUTHENTICATED],
        ),
    ]
