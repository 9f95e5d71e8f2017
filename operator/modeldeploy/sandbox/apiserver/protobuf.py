"""Request bodies in Kubernetes protobuf, for the few kinds clients send that way.

client-go's typed clients (kubectl's `create configmap|secret|namespace|deployment|job|service`,
`kubectl expose`, helm's release storage) encode bodies as protobuf: the `k8s\\x00` magic, a
`runtime.Unknown` envelope, then the object as generated from the `generated.proto` files of
`k8s.io/api`. This decodes those kinds into their JSON form, field numbers as in those files;
other kinds are refused with 415.

The workload kinds are decoded only as far as kubectl's `create` commands fill them in. Their
messages are strict: a field number missing from the table below that carries a value is
refused (415 naming the message and number), never dropped, so a richer object from another
client is not stored with parts silently missing. `status` is read as nothing: the API server
ignores it on writes.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# message -> field number -> (JSON name, how to decode it)
Schema = dict[int, tuple[str, str]]
_STATUS = ("status", "ignore")
_MESSAGES: dict[str, Schema] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "raw")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int,omitempty"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", "map:string"),
        12: ("annotations", "map:string"),
        13: ("ownerReferences", "list:OwnerReference"),
        14: ("finalizers", "list:string"),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:bytes"),
        3: ("type", "string"),
        4: ("stringData", "map:string"),
        5: ("immutable", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", "map:string"),
        3: ("binaryData", "map:bytes"),
        4: ("immutable", "bool"),
    },
    "Namespace": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "NamespaceSpec"),
    },
    "NamespaceSpec": {1: ("finalizers", "list:string")},
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int"),
        2: ("preconditions", "Preconditions"),
        3: ("orphanDependents", "bool"),
        4: ("propagationPolicy", "string"),
        5: ("dryRun", "list:string"),
    },
    "Preconditions": {1: ("uid", "string"), 2: ("resourceVersion", "string")},
    "MapEntry": {1: ("key", "string"), 2: ("value", "raw")},
    # apps/v1, batch/v1 and core/v1 workloads: what `kubectl create` and `expose` send.
    "Deployment": {1: ("metadata", "ObjectMeta"), 2: ("spec", "DeploymentSpec"), 3: _STATUS},
    "DeploymentSpec": {
        1: ("replicas", "int"),
        2: ("selector", "LabelSelector"),
        3: ("template", "PodTemplateSpec"),
        4: ("strategy", "DeploymentStrategy"),
        5: ("minReadySeconds", "int,omitempty"),
        6: ("revisionHistoryLimit", "int"),
        7: ("paused", "bool"),
        9: ("progressDeadlineSeconds", "int"),
    },
    "DeploymentStrategy": {1: ("type", "string"), 2: ("rollingUpdate", "RollingUpdate")},
    "RollingUpdate": {1: ("maxUnavailable", "IntOrString"), 2: ("maxSurge", "IntOrString")},
    "LabelSelector": {
        1: ("matchLabels", "map:string"),
        2: ("matchExpressions", "list:LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {
        1: ("key", "string"),
        2: ("operator", "string"),
        3: ("values", "list:string"),
    },
    "Job": {1: ("metadata", "ObjectMeta"), 2: ("spec", "JobSpec"), 3: _STATUS},
    "JobSpec": {6: ("template", "PodTemplateSpec")},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta"), 2: ("spec", "PodSpec")},
    "PodSpec": {2: ("containers", "list:Container"), 3: ("restartPolicy", "string")},
    "Container": {
        1: ("name", "string"),
        2: ("image", "string"),
        3: ("command", "list:string"),
        4: ("args", "list:string"),
        6: ("ports", "list:ContainerPort"),
        8: ("resources", "ResourceRequirements"),
    },
    "ContainerPort": {
        1: ("name", "string"),
        3: ("containerPort", "int"),
        4: ("protocol", "string"),
    },
    "ResourceRequirements": {1: ("limits", "map:Quantity"), 2: ("requests", "map:Quantity")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec"), 3: _STATUS},
    "ServiceSpec": {
        1: ("ports", "list:ServicePort"),
        2: ("selector", "map:string"),
        3: ("clusterIP", "string"),
        4: ("type", "string"),
        10: ("externalName", "string"),
    },
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        3: ("port", "int"),
        4: ("targetPort", "IntOrString"),
        5: ("nodePort", "int,omitempty"),
    },
    "ServiceAccount": {1: ("metadata", "ObjectMeta")},
    # rbac.authorization.k8s.io/v1: `kubectl create role|clusterrole|rolebinding|...`.
    "Role": {1: ("metadata", "ObjectMeta"), 2: ("rules", "list:PolicyRule")},
    "ClusterRole": {
        1: ("metadata", "ObjectMeta"),
        2: ("rules", "list:PolicyRule"),
        3: ("aggregationRule", "AggregationRule"),
    },
    "PolicyRule": {
        1: ("verbs", "list:string"),
        2: ("apiGroups", "list:string"),
        3: ("resources", "list:string"),
        4: ("resourceNames", "list:string"),
        5: ("nonResourceURLs", "list:string"),
    },
    "AggregationRule": {1: ("clusterRoleSelectors", "list:LabelSelector")},
    "RoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "list:Subject"),
        3: ("roleRef", "RoleRef"),
    },
    "ClusterRoleBinding": {
        1: ("metadata", "ObjectMeta"),
        2: ("subjects", "list:Subject"),
        3: ("roleRef", "RoleRef"),
    },
    "Subject": {
        1: ("kind", "string"),
        2: ("apiGroup", "string"),
        3: ("name", "string"),
        4: ("namespace", "string"),
    },
    "RoleRef": {1: ("apiGroup", "string"), 2: ("kind", "string"), 3: ("name", "string")},
    # authorization.k8s.io/v1 and authentication.k8s.io/v1: what `kubectl auth` and
    # `kubectl create token` send.
    "SelfSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "AccessReviewSpec")},
    "SubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "AccessReviewSpec")},
    "LocalSubjectAccessReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "AccessReviewSpec")},
    "AccessReviewSpec": {
        1: ("resourceAttributes", "ResourceAttributes"),
        2: ("nonResourceAttributes", "NonResourceAttributes"),
        3: ("user", "string"),
        4: ("groups", "list:string"),
        6: ("uid", "string"),
    },
    "ResourceAttributes": {
        1: ("namespace", "string"),
        2: ("verb", "string"),
        3: ("group", "string"),
        4: ("version", "string"),
        5: ("resource", "string"),
        6: ("subresource", "string"),
        7: ("name", "string"),
    },
    "NonResourceAttributes": {1: ("path", "string"), 2: ("verb", "string")},
    "SelfSubjectRulesReview": {1: ("metadata", "ObjectMeta"), 2: ("spec", "RulesReviewSpec")},
    "RulesReviewSpec": {1: ("namespace", "string")},
    "SelfSubjectReview": {1: ("metadata", "ObjectMeta"), 2: _STATUS},
    "TokenRequest": {1: ("metadata", "ObjectMeta"), 2: ("spec", "TokenRequestSpec"), 3: _STATUS},
    "TokenRequestSpec": {
        1: ("audiences", "list:string"),
        3: ("boundObjectRef", "BoundObjectReference"),
        4: ("expirationSeconds", "int"),
    },
    "BoundObjectReference": {
        1: ("kind", "string"),
        2: ("apiVersion", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
    },
}
_REVIEW_KINDS = (
    "LocalSubjectAccessReview",
    "SelfSubjectAccessReview",
    "SelfSubjectReview",
    "SelfSubjectRulesReview",
    "SubjectAccessReview",
    "TokenRequest",
)
# Messages whose unknown fields are refused rather than skipped: the workloads' own.
_STRICT = frozenset(_MESSAGES) - {
    "Unknown",
    "TypeMeta",
    "ObjectMeta",
    "OwnerReference",
    "Secret",
    "ConfigMap",
    "Namespace",
    "NamespaceSpec",
    "DeleteOptions",
    "Preconditions",
    "MapEntry",
    # Requests, not stored objects: fields they do not read (selectors, extra) are skipped.
    *_REVIEW_KINDS,
    "AccessReviewSpec",
    "ResourceAttributes",
    "NonResourceAttributes",
    "RulesReviewSpec",
    "TokenRequestSpec",
    "BoundObjectReference",
}
DECODABLE_KINDS = (
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "DeleteOptions",
    "Deployment",
    "Job",
    "Namespace",
    "Secret",
    "Service",
    "ServiceAccount",
    *_REVIEW_KINDS,
)


class ProtobufError(ValueError):
    """The body is not a protobuf encoding of a kind this server decodes."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "raw":
        return value
    if kind == "string":
        return bytes(value).decode() if isinstance(value, bytes) else str(value)
    if kind == "bytes":
        return base64.b64encode(value).decode() if isinstance(value, bytes) else ""
    if kind == "bool":
        return bool(value)
    if isinstance(value, bytes):
        raise ProtobufError(f"expected a number, got {len(value)} bytes")
    return value - (1 << 64) if value >= 1 << 63 else value  # int64 two's complement


def _message(name: str, data: bytes) -> dict[str, Any]:
    schema = _MESSAGES[name]
    result: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            # gogo-protobuf writes every non-pointer field, set or not; a zero value is what
            # JSON leaves out, so only a field that carries something is refused.
            if name in _STRICT and value not in (0, b""):
                raise ProtobufError(f"field {number} of {name} is not decoded by this server")
            continue  # metadata this server does not read (timestamps, managedFields...)
        field, kind = schema[number]
        if kind == "ignore":
            continue
        if kind.endswith(",omitempty"):  # a plain (not pointer) number: 0 means unset
            if value:
                result[field] = _scalar(kind.removesuffix(",omitempty"), value)
            continue
        if kind == "IntOrString":
            result[field] = _int_or_string(_bytes(value))
        elif kind.startswith("map:"):
            entry = _message("MapEntry", _bytes(value))
            raw = entry.get("value", b"")
            item = _quantity(_bytes(raw)) if kind == "map:Quantity" else _scalar(kind[4:], raw)
            result.setdefault(field, {})[entry.get("key", "")] = item
        elif kind.startswith("list:"):
            item_kind = kind[5:]
            item = (
                _message(item_kind, _bytes(value))
                if item_kind in _MESSAGES
                else _scalar(item_kind, value)
            )
            result.setdefault(field, []).append(item)
        elif kind in _MESSAGES:
            result[field] = _message(kind, _bytes(value))
        else:
            decoded = _scalar(kind, value)
            # gogo-protobuf writes empty strings and false; JSON leaves them out. Numbers stay
            # (an explicit gracePeriodSeconds of 0 means "now").
            if decoded != "" and decoded is not False:
                result[field] = decoded
    return result


def _int_or_string(data: bytes) -> int | str:
    """intstr.IntOrString: {1: type (0 int, 1 string), 2: intVal, 3: strVal}."""
    fields = dict(_fields(data))
    if fields.get(1, 0) == 1:
        return str(_scalar("string", fields.get(3, b"")))
    value = _scalar("int", fields.get(2, 0))
    return int(value)


def _quantity(data: bytes) -> str:
    """resource.Quantity: {1: string}, its canonical text."""
    return str(_scalar("string", dict(_fields(data)).get(1, b"")))


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtobufError("expected an embedded message")
    return value


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of one of `DECODABLE_KINDS`."""
    if not body.startswith(_MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic")
    envelope = _message("Unknown", body[len(_MAGIC) :])
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in DECODABLE_KINDS:
        raise ProtobufError(f"{kind or 'this kind'} is not accepted as protobuf")
    obj = _message(kind, bytes(envelope.get("raw", b"")))
    obj["apiVersion"] = type_meta.get("apiVersion", "v1")
    obj["kind"] = kind
    obj.setdefault("metadata", {})
    return obj
