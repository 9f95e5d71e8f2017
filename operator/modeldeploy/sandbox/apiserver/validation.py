"""Value validation of built-in kinds, with kube-apiserver's field paths and messages.

Upstream: pkg/apis/core/validation/validation.go (`ValidateService`, `ValidateConfigMap`,
`ValidateSecret`), pkg/apis/core/validation/events.go (`ValidateEventCreate`,
`legacyValidateEvent`), pkg/apis/apps/validation/validation.go (`ValidateDeploymentSpec`,
`ValidatePodTemplateSpecForReplicaSet`). Every offending field is reported, as upstream does.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from modeldeploy.sandbox.apiserver import errors
from modeldeploy.sandbox.apiserver.errors import FieldCause, bad_value

# core.MaxSecretSize: the limit of a ConfigMap's or Secret's data (1 MiB).
MAX_DATA_BYTES = 1024 * 1024
_PORT_RANGE = "must be between 1 and 65535, inclusive"
_NODE_PORTS = (30000, 32767)
_PROTOCOLS = ('"SCTP"', '"TCP"', '"UDP"')
_SERVICE_TYPES = ('"ClusterIP"', '"ExternalName"', '"LoadBalancer"', '"NodePort"')
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIG_KEY_HELP = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
_IANA_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\r\n]")
# Events: pkg/apis/core/validation/events.go limits.
_REPORTING_INSTANCE_LIMIT, _ACTION_LIMIT, _REASON_LIMIT, _NOTE_LIMIT = 128, 128, 128, 1024


def _port_causes(value: Any, where: str) -> list[FieldCause]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return [FieldCause(where, f"Invalid value: {bad_value(value)}: {_PORT_RANGE}")]
    return []


def _target_port_causes(value: Any, where: str) -> list[FieldCause]:
    if isinstance(value, str):
        if _IANA_NAME.match(value) and re.search("[a-z]", value) and "--" not in value:
            return []
        return [
            FieldCause(
                where,
                f"Invalid value: {bad_value(value)}: must contain only alpha-numeric characters "
                "(a-z, 0-9), and hyphens (-), at most 15 characters, with at least one letter",
            )
        ]
    return _port_causes(value, where)


def _service_port_causes(spec: dict[str, Any], index: int, port: Any) -> list[FieldCause]:
    where = f"spec.ports[{index}]"
    if not isinstance(port, dict):
        return [FieldCause(where, "Invalid value: must be an object")]
    causes: list[FieldCause] = []
    if len(spec.get("ports") or []) > 1 and not port.get("name"):
        causes.append(FieldCause(f"{where}.name", "Required value", "FieldValueRequired"))
    if "port" not in port:
        causes.append(FieldCause(f"{where}.port", "Required value", "FieldValueRequired"))
    else:
        causes += _port_causes(port["port"], f"{where}.port")
    protocol = port.get("protocol")
    if protocol not in ("TCP", "UDP", "SCTP"):
        causes.append(
            FieldCause(
                f"{where}.protocol",
                f"Unsupported value: {bad_value(protocol)}: supported values: "
                + ", ".join(_PROTOCOLS),
                "FieldValueNotSupported",
            )
        )
    if "targetPort" in port and spec.get("clusterIP") != "None":
        causes += _target_port_causes(port["targetPort"], f"{where}.targetPort")
    node_port = port.get("nodePort")
    if node_port not in (None, 0):
        low, high = _NODE_PORTS
        if spec.get("type") not in ("NodePort", "LoadBalancer"):
            causes.append(
                FieldCause(
                    f"{where}.nodePort",
                    f"Forbidden: may not be used when `type` is '{spec.get('type')}'",
                    "FieldValueForbidden",
                )
            )
        elif not isinstance(node_port, int) or not low <= node_port <= high:
            causes.append(
                FieldCause(
                    f"{where}.nodePort",
                    f"Invalid value: {bad_value(node_port)}: provided port is not in the valid "
                    f"range. The range of valid ports is {low}-{high}",
                )
            )
    return causes


def service(obj: dict[str, Any]) -> list[FieldCause]:
    spec = obj.get("spec") or {}
    kind = spec.get("type")
    causes: list[FieldCause] = []
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        causes.append(
            FieldCause(
                "spec.type",
                f"Unsupported value: {bad_value(kind)}: supported values: "
                + ", ".join(_SERVICE_TYPES),
                "FieldValueNotSupported",
            )
        )
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        causes.append(FieldCause("spec.ports", "Required value", "FieldValueRequired"))
    for index, port in enumerate(ports):
        causes += _service_port_causes(spec, index, port)
    if kind == "ExternalName" and not spec.get("externalName"):
        causes.append(FieldCause("spec.externalName", "Required value", "FieldValueRequired"))
    return causes


def _key_causes(data: Any, field: str) -> list[FieldCause]:
    return [
        FieldCause(f"{field}[{key}]", f"Invalid value: {bad_value(key)}: {_CONFIG_KEY_HELP}")
        for key in (data or {})
        if not _CONFIG_KEY.match(key)
    ]


def _too_long(field: str) -> FieldCause:
    return FieldCause(
        field, f"Too long: may not be more than {MAX_DATA_BYTES} bytes", "FieldValueTooLong"
    )


def config_map(obj: dict[str, Any]) -> list[FieldCause]:
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    causes = _key_causes(data, "data") + _key_causes(binary, "binaryData")
    for key in set(data) & set(binary):
        causes.append(
            FieldCause(
                f"data[{key}]",
                f"Invalid value: {bad_value(key)}: duplicate of key present in binaryData",
            )
        )
    size = sum(len(str(v).encode()) for v in data.values())
    size += sum(len(_decoded(obj, "binaryData", key, str(v))) for key, v in binary.items())
    if size > MAX_DATA_BYTES:
        # Upstream passes an empty path: the error is about the whole object.
        causes.append(_too_long("[]"))
    return causes


def _decoded(obj: dict[str, Any], field: str, key: str, value: str) -> bytes:
    """The bytes of a base64 `[]byte` field, or the 400 of a body that cannot be decoded."""
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as error:
        offset = next((i for i, char in enumerate(value) if not _BASE64.match(char)), None)
        if offset is None:
            offset = len(value) - len(value) % 4
        kind = obj.get("kind", "Secret")
        raise errors.bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: illegal base64 data at input '
            f"byte {offset}"
        ) from error


def secret(obj: dict[str, Any]) -> list[FieldCause]:
    """Runs after `stringData` is folded into `data` (so every value is base64)."""
    data = obj.get("data") or {}
    causes = _key_causes(data, "data")
    decoded = {key: _decoded(obj, "data", key, str(value)) for key, value in data.items()}
    if sum(len(value) for value in decoded.values()) > MAX_DATA_BYTES:
        causes.append(_too_long("data"))
    return causes + _secret_type_causes(obj, decoded)


def _required_key(field: str) -> FieldCause:
    return FieldCause(field, "Required value", "FieldValueRequired")


def _secret_type_causes(obj: dict[str, Any], data: dict[str, bytes]) -> list[FieldCause]:
    """The keys each built-in Secret type needs (`ValidateSecret`)."""
    kind = obj.get("type")
    if kind == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            return [_required_key("metadata.annotations[kubernetes.io/service-account.name]")]
    elif kind == "kubernetes.io/tls":
        return [_required_key(f"data[{k}]") for k in ("tls.crt", "tls.key") if k not in data]
    elif kind in ("kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"):
        key = ".dockerconfigjson" if kind.endswith("json") else ".dockercfg"
        if key not in data:
            return [_required_key(f"data[{key}]")]
        try:
            json.loads(data[key])
        except ValueError as error:
            return [
                FieldCause(f"data[{key}]", f'Invalid value: "<secret contents redacted>": {error}')
            ]
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            return [_required_key("data[username]"), _required_key("data[password]")]
    elif kind == "kubernetes.io/ssh-auth" and not data.get("ssh-privatekey"):
        return [_required_key("data[ssh-privatekey]")]
    return []


def _set(value: Any) -> bool:
    return value not in (None, "", 0, {})


def event(obj: dict[str, Any], events_api: bool) -> list[FieldCause]:
    """`legacyValidateEvent` for every Event, then the strict rules of events.k8s.io/v1
    creates (`obj` is in core/v1 form; paths name the core fields, as upstream)."""
    causes: list[FieldCause] = []
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    involved = obj.get("involvedObject") or {}
    involved_namespace = involved.get("namespace") or ""
    if not obj.get("eventTime"):
        if (involved_namespace or namespace not in ("", "default")) and (
            involved_namespace != namespace
        ):
            causes.append(
                FieldCause(
                    "involvedObject.namespace",
                    f"Invalid value: {bad_value(involved_namespace)}: does not match "
                    "event.namespace",
                )
            )
    else:
        if not involved_namespace and namespace not in ("default", "kube-system"):
            causes.append(
                FieldCause(
                    "involvedObject.namespace",
                    'Invalid value: "": does not match event.namespace',
                )
            )
        controller = "reportingController" if events_api else "reportingComponent"
        limits = (
            (controller, "reportingComponent", None),
            ("reportingInstance", "reportingInstance", _REPORTING_INSTANCE_LIMIT),
            ("action", "action", _ACTION_LIMIT),
            ("reason", "reason", _REASON_LIMIT),
        )
        for field, stored, limit in limits:
            value = str(obj.get(stored) or "")
            if not value:
                causes.append(FieldCause(field, "Required value", "FieldValueRequired"))
            elif limit is not None and len(value) > limit:
                causes.append(
                    FieldCause(field, f'Invalid value: "": can have at most {limit} characters')
                )
        if len(str(obj.get("message") or "")) > _NOTE_LIMIT:
            causes.append(
                FieldCause(
                    "message", f'Invalid value: "": can have at most {_NOTE_LIMIT} characters'
                )
            )
    if events_api:
        causes += _strict_event(obj)
    return causes


def _at_most(field: str, limit: int) -> FieldCause:
    return FieldCause(field, f'Invalid value: "": can have at most {limit} characters')


def _strict_event(obj: dict[str, Any]) -> list[FieldCause]:
    causes: list[FieldCause] = []
    if not obj.get("eventTime"):
        causes.append(FieldCause("eventTime", "Required value", "FieldValueRequired"))
    if obj.get("type") not in ("Normal", "Warning"):
        causes.append(
            FieldCause("type", f'Invalid value: "": has invalid value: {obj.get("type") or ""}')
        )
    for field in ("firstTimestamp", "lastTimestamp", "count"):
        if _set(obj.get(field)):
            causes.append(FieldCause(field, 'Invalid value: "": needs to be unset'))
    source = obj.get("source") or {}
    if source.get("component") or source.get("host"):
        causes.append(FieldCause("source", 'Invalid value: "": needs to be unset'))
    return causes


def selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """Whether a LabelSelector object selects `labels` (matchLabels and matchExpressions)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for requirement in selector.get("matchExpressions") or []:
        key, operator = requirement.get("key"), requirement.get("operator")
        values = requirement.get("values") or []
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def template_causes(spec: dict[str, Any], replicated: bool) -> list[FieldCause]:
    """A workload's selector and pod template labels, all their faults together
    (`ValidateDeploymentSpec` / `ValidateReplicaSetSpec` / `ValidateJobSpec`)."""
    causes: list[FieldCause] = []
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        causes.append(FieldCause("spec.selector", "Required value", "FieldValueRequired"))
    elif replicated and not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(
            FieldCause(
                "spec.selector",
                f"Invalid value: {bad_value(selector)}: empty selector is invalid for deployment",
            )
        )
    template = spec.get("template")
    if not isinstance(template, dict):
        return [*causes, FieldCause("spec.template", "Required value", "FieldValueRequired")]
    labels = (template.get("metadata") or {}).get("labels")
    selects_all = isinstance(selector, dict) and not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    )
    if not selects_all and not (
        isinstance(selector, dict) and selector_matches(selector, labels or {})
    ):
        shown = "map[string]string(nil)" if labels is None else bad_value(labels)
        causes.append(
            FieldCause(
                "spec.template.metadata.labels",
                f"Invalid value: {shown}: `selector` does not match template `labels`",
            )
        )
    restart = (template.get("spec") or {}).get("restartPolicy")
    if replicated and restart != "Always":
        causes.append(
            FieldCause(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: {bad_value(restart)}: supported values: "Always"',
                "FieldValueNotSupported",
            )
        )
    return causes


_PERCENT = re.compile(r"^[0-9]+%$")
_PERCENT_HELP = (
    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  "
    "or '93%', regex used for validation is '[0-9]+%')"
)


def _int_or_percent_causes(value: Any, where: str) -> list[FieldCause]:
    """`ValidatePositiveIntOrPercent` and `IsNotMoreThan100Percent` (IntOrString prints as its
    String(): 3 or 25%)."""
    if isinstance(value, str):
        if not _PERCENT.match(value):
            return [FieldCause(where, f"Invalid value: {value}: {_PERCENT_HELP}")]
        return []
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return [FieldCause(where, f"Invalid value: {value}: must be greater than or equal to 0")]
    return []


def _amount(value: Any) -> int:
    if isinstance(value, str) and _PERCENT.match(value):
        return int(value[:-1])
    return value if isinstance(value, int) else 0


def _nonnegative(spec: dict[str, Any], field: str) -> list[FieldCause]:
    value = spec.get(field)
    if isinstance(value, int) and value < 0:
        return [
            FieldCause(
                f"spec.{field}", f"Invalid value: {value}: must be greater than or equal to 0"
            )
        ]
    return []


def deployment_spec(spec: dict[str, Any]) -> list[FieldCause]:
    """`ValidateDeploymentStrategy`, `ValidateRollingUpdateDeployment` and the counts of
    `ValidateDeploymentSpec` (pkg/apis/apps/validation/validation.go)."""
    causes: list[FieldCause] = []
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    if kind == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            causes.append(
                FieldCause(
                    "spec.strategy.rollingUpdate",
                    "Forbidden: may not be specified when strategy `type` is 'Recreate'",
                    "FieldValueForbidden",
                )
            )
    elif kind == "RollingUpdate":
        rolling = strategy.get("rollingUpdate") or {}
        where = "spec.strategy.rollingUpdate"
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        causes += _int_or_percent_causes(unavailable, f"{where}.maxUnavailable")
        causes += _int_or_percent_causes(surge, f"{where}.maxSurge")
        if _amount(unavailable) == 0 and _amount(surge) == 0:
            causes.append(
                FieldCause(
                    f"{where}.maxUnavailable",
                    f"Invalid value: {unavailable}: may not be 0 when `maxSurge` is 0",
                )
            )
        if (
            isinstance(unavailable, str)
            and _PERCENT.match(unavailable)
            and _amount(unavailable) > 100
        ):
            causes.append(
                FieldCause(
                    f"{where}.maxUnavailable",
                    f"Invalid value: {unavailable}: must not be greater than 100%",
                )
            )
    else:
        causes.append(
            FieldCause(
                "spec.strategy",
                f'Unsupported value: {bad_value(strategy)}: supported values: "Recreate", '
                '"RollingUpdate"',
                "FieldValueNotSupported",
            )
        )
    for field in ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds"):
        causes += _nonnegative(spec, field)
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int) and isinstance(ready, int) and deadline <= ready:
        causes.append(
            FieldCause(
                "spec.progressDeadlineSeconds",
                f"Invalid value: {deadline}: must be greater than minReadySeconds",
            )
        )
    return causes
