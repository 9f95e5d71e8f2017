"""Value checks of pod specs (pods and every pod template), as `ValidatePodSpec` and its
helpers do them (pkg/apis/core/validation/validation.go): container names, ports, the enums,
and resource requests against limits."""

from __future__ import annotations

import re
from typing import Any

from modeldeploy.sandbox.apiserver.errors import FieldCause, bad_value
from modeldeploy.sandbox.controllers.quantity import QuantityError, parse_quantity

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_LABEL_HELP = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_ENUMS = (
    ("restartPolicy", ("Always", "OnFailure", "Never")),
    ("dnsPolicy", ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")),
)
_PULL_POLICIES = ("Always", "IfNotPresent", "Never")
# Resources that may not be overcommitted: standard ones plus those with a domain prefix.
_STANDARD = ("cpu", "memory", "ephemeral-storage")


def _unsupported(where: str, value: Any, allowed: tuple[str, ...]) -> FieldCause:
    listed = ", ".join(f'"{v}"' for v in allowed)
    return FieldCause(
        where,
        f"Unsupported value: {bad_value(value)}: supported values: {listed}",
        "FieldValueNotSupported",
    )


def _quantity(value: Any) -> Any:
    """A parsed quantity; a malformed one fails decoding (a 400 upstream), as ValueError."""
    try:
        return parse_quantity(value)
    except (QuantityError, ValueError, TypeError) as error:
        raise ValueError(
            "quantities must match the regular expression "
            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value!r}"
        ) from error


def _resource_causes(resources: Any, where: str) -> list[FieldCause]:
    """`ValidateContainerResourceRequirements`: requests at most the limits; extended
    resources (`example.com/gpu`) requested exactly as limited, and limited when requested."""
    if not isinstance(resources, dict):
        return []
    causes: list[FieldCause] = []
    limits = {name: _quantity(v) for name, v in (resources.get("limits") or {}).items()}
    for name, value in (resources.get("requests") or {}).items():
        request = _quantity(value)
        limit = limits.get(name)
        extended = name not in _STANDARD and "/" in name and not name.startswith("kubernetes.io/")
        if extended and name not in limits:
            causes.append(
                FieldCause(
                    f"{where}.limits",
                    "Required value: Limit must be set for non overcommitable resources",
                    "FieldValueRequired",
                )
            )
        elif limit is not None and extended and request != limit:
            causes.append(
                FieldCause(
                    f"{where}.requests[{name}]",
                    f'Invalid value: "{value}": must be equal to {name} limit of '
                    f"{resources['limits'][name]}",
                )
            )
        elif limit is not None and request > limit:
            causes.append(
                FieldCause(
                    f"{where}.requests",
                    f'Invalid value: "{value}": must be less than or equal to {name} limit of '
                    f"{resources['limits'][name]}",
                )
            )
    return causes


def _port_causes(ports: Any, where: str) -> list[FieldCause]:
    causes: list[FieldCause] = []
    names: set[str] = set()
    for index, port in enumerate(ports if isinstance(ports, list) else []):
        if not isinstance(port, dict):
            continue
        at = f"{where}.ports[{index}]"
        number = port.get("containerPort")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= 65535:
            causes.append(
                FieldCause(
                    f"{at}.containerPort",
                    f"Invalid value: {bad_value(number)}: must be between 1 and 65535, inclusive",
                )
            )
        name = port.get("name")
        if isinstance(name, str) and name:
            if name in names:
                causes.append(
                    FieldCause(f"{at}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate")
                )
            names.add(name)
    return causes


def pod_spec_causes(spec: dict[str, Any], path: str) -> list[FieldCause]:
    """The faults of a (defaulted) pod spec at `path` (`spec` or `spec.template.spec`)."""
    causes: list[FieldCause] = []
    names: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            if not isinstance(container, dict):
                continue
            where = f"{path}.{group}[{index}]"
            name = container.get("name")
            if isinstance(name, str) and name:
                if not _DNS_LABEL.match(name) or len(name) > 63:
                    causes.append(
                        FieldCause(f"{where}.name", f'Invalid value: "{name}": {_DNS_LABEL_HELP}')
                    )
                elif name in names:
                    causes.append(
                        FieldCause(
                            f"{where}.name", f'Duplicate value: "{name}"', "FieldValueDuplicate"
                        )
                    )
                names.add(name)
            policy = container.get("imagePullPolicy")
            if policy not in _PULL_POLICIES:
                causes.append(_unsupported(f"{where}.imagePullPolicy", policy, _PULL_POLICIES))
            causes += _port_causes(container.get("ports"), where)
            causes += _resource_causes(container.get("resources"), f"{where}.resources")
    for field, allowed in _ENUMS:
        if spec.get(field) not in allowed:
            causes.append(_unsupported(f"{path}.{field}", spec.get(field), allowed))
    return causes
