"""Update rules of built-in kinds: the fields kube-apiserver refuses to change once stored.

Each rule follows the update validation of its kind upstream, with its field paths and
messages: pkg/apis/batch/validation/validation.go (`ValidateJobSpecUpdate`,
`validatePodTemplateUpdate`, `validateCompletions`), pkg/apis/apps/validation/validation.go
(`ValidateDeploymentUpdate`, `ValidateReplicaSetUpdate`: the selector of apps/v1),
pkg/apis/core/validation/validation.go (`ValidateConfigMapUpdate`, `ValidateSecretUpdate`,
`ValidatePodUpdate`). Values are compared as `apiequality.Semantic.DeepEqual` does: an empty
list or map equals a missing one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from modeldeploy.sandbox.apiserver.errors import FieldCause, bad_value

IMMUTABLE = "field is immutable"
_WHEN_SET = "field is immutable when `immutable` is set"
# What a suspended Job that never started may change in its template (mutable scheduling
# directives, upstream's `AllowMutableSchedulingDirectives`).
_SCHEDULING_DIRECTIVES = ("nodeSelector", "tolerations", "schedulingGates")
_POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def semantic(value: Any) -> Any:
    """`value` without the empty lists/maps and nulls that Semantic.DeepEqual ignores."""
    if isinstance(value, dict):
        kept = {key: semantic(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, [], {})}
    if isinstance(value, list):
        return [semantic(item) for item in value]
    return value


def _at(obj: dict[str, Any], path: str) -> Any:
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    return current


def _immutable(new: dict[str, Any], old: dict[str, Any], path: str) -> list[FieldCause]:
    value = _at(new, path)
    if semantic(value) == semantic(_at(old, path)):
        return []
    return [FieldCause(path, f"Invalid value: {bad_value(value)}: {IMMUTABLE}")]


def _job_template(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
    template = (new.get("spec") or {}).get("template") or {}
    old_template = copy.deepcopy((old.get("spec") or {}).get("template") or {})
    suspended = bool((old.get("spec") or {}).get("suspend"))
    if suspended and not (old.get("status") or {}).get("startTime"):
        old_meta = old_template.setdefault("metadata", {})
        new_meta = template.get("metadata") or {}
        for field in ("labels", "annotations"):
            old_meta[field] = new_meta.get(field)
        old_spec, new_spec = old_template.setdefault("spec", {}), template.get("spec") or {}
        for field in _SCHEDULING_DIRECTIVES:
            old_spec[field] = new_spec.get(field)
        new_affinity = dict(new_spec.get("affinity") or {})
        old_affinity = dict(old_spec.get("affinity") or {})
        old_affinity["nodeAffinity"] = new_affinity.get("nodeAffinity")
        old_spec["affinity"] = old_affinity
    if semantic(template) == semantic(old_template):
        return []
    return [FieldCause("spec.template", f"Invalid value: {bad_value(template)}: {IMMUTABLE}")]


def _job_completions(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    if spec.get("completionMode") != "Indexed":
        return _immutable(new, old, "spec.completions")
    completions = spec.get("completions")
    if completions == old_spec.get("completions") or completions is None:
        return []
    if completions != spec.get("parallelism"):
        return [
            FieldCause(
                "spec.completions",
                f"Invalid value: {bad_value(completions)}: can only be modified in tandem with "
                "spec.parallelism",
            )
        ]
    return []


def _job(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
    causes = _job_completions(new, old)
    causes += _immutable(new, old, "spec.selector")
    causes += _job_template(new, old)
    for field in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy"):
        causes += _immutable(new, old, f"spec.{field}")
    return causes + _immutable(new, old, "spec.successPolicy")


def _selector(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
    return _immutable(new, old, "spec.selector")


def _when_immutable(fields: tuple[str, ...]) -> Callable[..., list[FieldCause]]:
    """ConfigMaps and Secrets marked `immutable: true` keep their data and the mark."""

    def check(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
        if old.get("immutable") is not True:
            return []
        causes = []
        if new.get("immutable") is not True:
            causes.append(FieldCause("immutable", f"Forbidden: {_WHEN_SET}", "FieldValueForbidden"))
        for field in fields:
            if semantic(new.get(field)) != semantic(old.get(field)):
                causes.append(FieldCause(field, f"Forbidden: {_WHEN_SET}", "FieldValueForbidden"))
        return causes

    return check


_config_map = _when_immutable(("data", "binaryData"))
_secret_data = _when_immutable(("data",))


def _secret(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
    return _immutable(new, old, "type") + _secret_data(new, old)


def _pod(new: dict[str, Any], old: dict[str, Any]) -> list[FieldCause]:
    """A pod's spec may change only in the places upstream's `ValidatePodUpdate` lets it."""
    spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
    munged = copy.deepcopy(spec)
    for group in ("containers", "initContainers"):
        old_containers = old_spec.get(group) or []
        for index, container in enumerate(munged.get(group) or []):
            if isinstance(container, dict) and index < len(old_containers):
                container["image"] = (old_containers[index] or {}).get("image")
    causes: list[FieldCause] = []
    deadline = spec.get("activeDeadlineSeconds")
    old_deadline = old_spec.get("activeDeadlineSeconds")
    if old_deadline is not None and deadline is None:
        why = "must not update from a positive integer to nil value"
    elif old_deadline is not None and deadline > old_deadline:
        why = "must be less than or equal to previous value"
    else:
        why = ""
    if why:
        causes.append(
            FieldCause("spec.activeDeadlineSeconds", f"Invalid value: {bad_value(deadline)}: {why}")
        )
    munged["activeDeadlineSeconds"] = old_deadline
    old_tolerations = old_spec.get("tolerations") or []
    tolerations = munged.get("tolerations") or []
    if all(toleration in tolerations for toleration in old_tolerations):
        munged["tolerations"] = old_tolerations
    if (old_spec.get("terminationGracePeriodSeconds") or 0) < 0 and spec.get(
        "terminationGracePeriodSeconds"
    ) == 1:
        munged["terminationGracePeriodSeconds"] = old_spec.get("terminationGracePeriodSeconds")
    # Scheduling gates may only be removed (upstream: `spec.schedulingGates`).
    gates = munged.get("schedulingGates") or []
    if all(gate in (old_spec.get("schedulingGates") or []) for gate in gates):
        munged["schedulingGates"] = old_spec.get("schedulingGates")
    if semantic(munged) != semantic(old_spec):
        changed = sorted(
            key
            for key in set(semantic(munged)) | set(semantic(old_spec))
            if semantic(munged).get(key) != semantic(old_spec).get(key)
        )
        causes.append(
            FieldCause(
                "spec",
                f"Forbidden: {_POD_UPDATE_FORBIDDEN}\n(changed: {', '.join(changed)})",
                "FieldValueForbidden",
            )
        )
    return causes


_RULES: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, Any]], list[FieldCause]]] = {
    ("batch", "Job"): _job,
    ("apps", "Deployment"): _selector,
    ("apps", "ReplicaSet"): _selector,
    ("", "ConfigMap"): _config_map,
    ("", "Secret"): _secret,
    ("", "Pod"): _pod,
}


def update_causes(
    group: str, kind: str, new: dict[str, Any], old: dict[str, Any]
) -> list[FieldCause]:
    """What an update of a built-in object changes that kube-apiserver keeps fixed."""
    rule = _RULES.get((group, kind))
    return rule(new, old) if rule is not None else []
