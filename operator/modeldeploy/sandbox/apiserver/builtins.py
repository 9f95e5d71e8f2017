"""Admission for built-in kinds: the defaults kube-apiserver fills in and the required fields
it checks, for the parts of each kind that controllers and kubectl rely on."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from modeldeploy.sandbox.apiserver import defaults, validation
from modeldeploy.sandbox.apiserver.errors import FieldCause, bad_value
from modeldeploy.sandbox.apiserver.podspec import pod_spec_causes
from modeldeploy.sandbox.node.qos import compute_qos_class

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kinds whose names must be DNS labels (RFC 1123), not subdomains.
_LABEL_NAMED = frozenset({"Namespace", "Service"})


# pkg/apis/rbac/validation: RBAC names are path segments (ValidateRBACName), so
# "system:aggregate-to-admin" is valid.
_PATH_SEGMENT_NAMED = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})


def _path_segment_causes(name: str) -> list[FieldCause]:
    """apimachinery's path.IsValidPathSegmentName."""
    if name in (".", ".."):
        return [FieldCause("metadata.name", f"Invalid value: \"{name}\": may not be '{name}'")]
    return [
        FieldCause("metadata.name", f"Invalid value: \"{name}\": may not contain '{bad}'")
        for bad in ("/", "%")
        if bad in name
    ]


def name_causes(kind: str, name: str) -> list[FieldCause]:
    if kind in _PATH_SEGMENT_NAMED:
        return _path_segment_causes(name)
    if kind in _LABEL_NAMED:
        pattern, limit, what, chars = _DNS_LABEL, 63, "label", "characters or '-'"
    else:
        pattern, limit, what, chars = _DNS_SUBDOMAIN, 253, "subdomain", "characters, '-' or '.'"
    if len(name) <= limit and pattern.match(name):
        return []
    message = (
        f'Invalid value: "{name}": a lowercase RFC 1123 {what} must consist of lower case '
        f"alphanumeric {chars}, and must start and end with an alphanumeric character"
    )
    return [FieldCause("metadata.name", message)]


_QUALIFIED_NAME = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")


def _string_map_causes(
    meta: dict[str, Any], field: str, values_are_labels: bool
) -> list[FieldCause]:
    value = meta.get(field)
    if value is None:
        return []
    where = f"metadata.{field}"
    if not isinstance(value, dict):
        return [FieldCause(where, "Invalid value: must be a map of strings")]
    causes = []
    for key, item in value.items():
        if not _QUALIFIED_NAME.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
            causes.append(
                FieldCause(
                    where,
                    f'Invalid value: "{key}": name part must consist of '
                    "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character",
                )
            )
        if not isinstance(item, str):
            causes.append(FieldCause(f"{where}.{key}", "Invalid value: must be a string"))
        elif values_are_labels and (len(item) > 63 or not _LABEL_VALUE.match(item)):
            causes.append(
                FieldCause(
                    where,
                    f'Invalid value: "{item}": a valid label must be an empty '
                    "string or consist of alphanumeric characters, '-', '_' or '.', and must start "
                    "and end with an alphanumeric character",
                )
            )
    return causes


def _owner_causes(refs: Any) -> list[FieldCause]:
    """`ValidateOwnerReferences` (apimachinery/pkg/api/validation/objectmeta.go): the causes
    name the field without the item's index, as upstream does."""
    where = "metadata.ownerReferences"
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [FieldCause(where, "Invalid value: must be a list")]
    causes = []
    controller = ""
    for ref in refs:
        if not isinstance(ref, dict):
            causes.append(FieldCause(where, "Invalid value: must be an object"))
            continue
        api_version = ref.get("apiVersion")
        version = str(api_version or "").rsplit("/", 1)[-1]
        for field, empty, why in (
            ("apiVersion", not version, "version must not be empty"),
            ("kind", not ref.get("kind"), "kind must not be empty"),
            ("name", not ref.get("name"), "name must not be empty"),
            ("uid", not ref.get("uid"), "uid must not be empty"),
        ):
            if empty:
                value = bad_value(ref.get(field) if isinstance(ref.get(field), str) else "")
                causes.append(FieldCause(f"{where}.{field}", f"Invalid value: {value}: {why}"))
        if ref.get("controller") is True:
            this = f"{ref.get('kind')}/{ref.get('name')}"
            if controller:
                causes.append(
                    FieldCause(
                        where,
                        f"Invalid value: {bad_value(refs)}: Only one reference can have "
                        f'Controller set to true. Found "true" in references for {controller} '
                        f"and {this}",
                    )
                )
            else:
                controller = this
    return causes


def metadata_causes(kind: str, meta: dict[str, Any]) -> list[FieldCause]:
    """What is wrong with an object's metadata (name, labels, annotations, finalizers, owners)."""
    name = meta.get("name")
    if not isinstance(name, str):
        return [FieldCause("metadata.name", f"Invalid value: {name!r}: must be a string")]
    causes = name_causes(kind, name)
    causes += _string_map_causes(meta, "labels", values_are_labels=True)
    causes += _string_map_causes(meta, "annotations", values_are_labels=False)
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        causes.append(FieldCause("metadata.finalizers", "Invalid value: must be a list of strings"))
    managed = meta.get("managedFields")
    if managed is not None and (
        not isinstance(managed, list) or not all(isinstance(m, dict) for m in managed)
    ):
        causes.append(
            FieldCause("metadata.managedFields", "Invalid value: must be a list of objects")
        )
    return causes + _owner_causes(meta.get("ownerReferences"))


def _required(obj: dict[str, Any], path: str, where: str = "") -> list[FieldCause]:
    """A Required cause for `path` in `obj` when it is missing or empty (`where` prefixes it)."""
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if current in (None, "", [], {}):
        field = f"{where}.{path}" if where else path
        return [FieldCause(field, "Required value", "FieldValueRequired")]
    return []


def _pod_spec(spec: dict[str, Any], path: str) -> list[FieldCause]:
    causes: list[FieldCause] = []
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [FieldCause(f"{path}.containers", "Required value", "FieldValueRequired")]
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            where = f"{path}.{group}[{index}]"
            if not isinstance(container, dict):
                causes.append(FieldCause(where, "Invalid value: must be an object"))
                continue
            causes += _required(container, "name", where) + _required(container, "image", where)
    return causes + pod_spec_causes(spec, path)


def _pod(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    defaults.pod(obj, creating)
    spec = obj["spec"]
    causes = _pod_spec(spec, "spec")
    if creating:
        # As the pod strategy's PrepareForCreate: the class is set once, at creation.
        obj["status"] = {"phase": "Pending", "qosClass": compute_qos_class(obj)}
    return causes


def _template_causes(obj: dict[str, Any], replicated: bool) -> list[FieldCause]:
    """Workloads: a selector that selects the pod template's labels, and a valid pod spec."""
    spec = obj.setdefault("spec", {})
    causes = validation.template_causes(spec, replicated)
    template = spec.get("template")
    if isinstance(template, dict):
        causes += _pod_spec(template.setdefault("spec", {}), "spec.template.spec")
    return causes


def _replicated(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    defaults.replicaset(obj)
    spec = obj["spec"]
    replicas = spec.get("replicas")
    causes: list[FieldCause] = []
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        causes.append(
            FieldCause(
                "spec.replicas",
                f"Invalid value: {bad_value(replicas)}: must be greater than or equal to 0",
            )
        )
    causes += _template_causes(obj, replicated=True)
    if creating:
        obj["status"] = {}
    return causes


def _deployment(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    defaults.deployment(obj)
    return _replicated(obj, creating) + validation.deployment_spec(obj["spec"])


def _job(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    defaults.job(obj)
    spec = obj["spec"]
    template = spec.setdefault("template", {})
    template_spec = template.setdefault("spec", {})
    if creating and not spec.get("manualSelector"):
        # As upstream: the Job's selector is its uid, put on the template's labels too.
        uid = obj["metadata"]["uid"]
        name = obj["metadata"]["name"]
        labels = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        template.setdefault("metadata", {}).setdefault("labels", {}).update(
            {**labels, "batch.kubernetes.io/job-name": name, "job-name": name}
        )
    defaults.job_labels(obj)
    causes = _template_causes(obj, replicated=False)
    if template_spec.get("restartPolicy") not in ("Never", "OnFailure"):
        causes.append(
            FieldCause(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{template_spec.get("restartPolicy")}": supported values: '
                '"OnFailure", "Never"',
                "FieldValueNotSupported",
            )
        )
    if creating:
        obj["status"] = {}
    return causes


def _service(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    # The ClusterIP is allocated by ApiService (clusterips.py): it depends on the other Services.
    defaults.service(obj)
    if creating:
        obj["status"] = {"loadBalancer": {}}
    return validation.service(obj)


def _namespace(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    if creating:
        obj["status"] = {"phase": "Active"}
    return []


def _pvc(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    if creating:
        obj["status"] = {"phase": "Pending"}
    return _required(obj, "spec.accessModes")


def _secret(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    """`stringData` is write-only: folded into `data` (base64), as upstream."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    if not isinstance(string_data, dict):
        return [FieldCause("stringData", "Invalid value: must be a map of strings")]
    data = obj.get("data") or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    return validation.secret(obj)


def _config_map(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    return validation.config_map(obj)


def _core_event(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    return validation.event(obj, events_api=False)


def _event(obj: dict[str, Any], creating: bool) -> list[FieldCause]:
    """events.k8s.io/v1: its strict rules apply to creates (ValidateEventCreate)."""
    return validation.event(obj, events_api=creating)


ADMISSION: dict[tuple[str, str], Callable[[dict[str, Any], bool], list[FieldCause]]] = {
    ("", "Pod"): _pod,
    ("", "ConfigMap"): _config_map,
    ("", "Event"): _core_event,
    ("events.k8s.io", "Event"): _event,
    ("", "Service"): _service,
    ("", "Namespace"): _namespace,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Secret"): _secret,
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replicated,
    ("batch", "Job"): _job,
}
