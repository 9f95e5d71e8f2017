"""The kinds of objects the server knows: built-in types plus those added by CRDs."""

from __future__ import annotations

from dataclasses import dataclass, field

# Verbs every stored resource supports (as listed in discovery).
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")

# Field selectors a resource accepts beyond metadata.name / metadata.namespace.
POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)


@dataclass(frozen=True)
class ScalePaths:
    """Where the `scale` subresource reads and writes replicas (JSON paths without `$`)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    field_selectors: tuple[str, ...] = ()
    default_propagation: str = "Background"
    create_on_update: bool = False
    custom: bool = False
    scale: ScalePaths | None = None
    # Objects of these types are stored under another resource (events.k8s.io -> core events).
    storage_group: str | None = None
    printer_columns: tuple[dict[str, object], ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def storage_key(self) -> tuple[str, str]:
        group = self.group if self.storage_group is None else self.storage_group
        return (group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        subresources=frozenset({"status", "finalize"}),
        field_selectors=("status.phase",),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        short_names=("po",),
        subresources=frozenset({"status", "binding", "log", "eviction"}),
        categories=("all",),
        field_selectors=POD_FIELDS,
    ),
    ResourceType(
        "",
        "v1",
        "services",
        "Service",
        short_names=("svc",),
        subresources=frozenset({"status"}),
        categories=("all",),
        field_selectors=("spec.type", "spec.clusterIP"),
    ),
    ResourceType("", "v1", "endpoints", "Endpoints", short_names=("ep",), create_on_update=True),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    ResourceType("", "v1", "secrets", "Secret", field_selectors=("type",)),
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    ResourceType(
        "",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        field_selectors=EVENT_FIELDS,
        create_on_update=True,
    ),
    ResourceType(
        "",
        "v1",
        "nodes",
        "Node",
        namespaced=False,
        short_names=("no",),
        subresources=frozenset({"status"}),
        field_selectors=("spec.unschedulable",),
    ),
    ResourceType(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        short_names=("pvc",),
        subresources=frozenset({"status"}),
    ),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        short_names=("deploy",),
        subresources=frozenset({"status", "scale"}),
        categories=("all",),
        scale=ScalePaths(),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        short_names=("rs",),
        subresources=frozenset({"status", "scale"}),
        categories=("all",),
        field_selectors=("status.replicas",),
        scale=ScalePaths(),
    ),
    ResourceType(
        "batch",
        "v1",
        "jobs",
        "Job",
        subresources=frozenset({"status"}),
        categories=("all",),
        field_selectors=("status.successful",),
        # batch/v1 Jobs orphan their pods unless the client asks otherwise, as upstream.
        default_propagation="Orphan",
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", create_on_update=True),
    # Stored and served, acted on by no controller: the rest of kubectl's default prune list
    # (`kubectl apply --prune` lists each of them), so manifests that hold them apply.
    ResourceType(
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        namespaced=False,
        short_names=("pv",),
        subresources=frozenset({"status"}),
    ),
    ResourceType(
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        short_names=("rc",),
        subresources=frozenset({"status", "scale"}),
        categories=("all",),
        scale=ScalePaths(label_selector=None),
    ),
    ResourceType(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        short_names=("ds",),
        subresources=frozenset({"status"}),
        categories=("all",),
    ),
    ResourceType(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        short_names=("sts",),
        subresources=frozenset({"status", "scale"}),
        categories=("all",),
        scale=ScalePaths(),
    ),
    ResourceType(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        short_names=("cj",),
        subresources=frozenset({"status"}),
        categories=("all",),
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        short_names=("ing",),
        subresources=frozenset({"status"}),
    ),
    # RBAC objects are stored and served (charts install them) but never enforced.
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        namespaced=False,
    ),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        short_names=("ev",),
        storage_group="",
        create_on_update=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        subresources=frozenset({"status"}),
        categories=("api-extensions",),
    ),
)
