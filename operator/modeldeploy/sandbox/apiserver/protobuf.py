"""Request bodies in Kubernetes protobuf, for the few kinds clients send that way.

client-go's typed clients (kubectl's `create configmap|secret|namespace`, helm's release
storage) encode bodies as protobuf: the `k8s\\x00` magic, a `runtime.Unknown` envelope, then
the object as generated from `k8s.io/api/core/v1/generated.proto`. This decodes those kinds
into their JSON form, field numbers as in that file; other kinds are refused with 415.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

PROTOBUF = "application/vnd.kubernetes.protobuf"
_MAGIC = b"k8s\x00"

# message -> field number -> (JSON name, how to decode it)
Schema = dict[int, tuple[str, str]]
_MESSAGES: dict[str, Schema] = {
    "Unknown": {1: ("typeMeta", "TypeMeta"), 2: ("raw", "raw")},
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
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
}
DECODABLE_KINDS = ("ConfigMap", "DeleteOptions", "Namespace", "Secret")


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
            continue  # fields this server does not read (status, timestamps...)
        field, kind = schema[number]
        if kind.startswith("map:"):
            entry = _message("MapEntry", _bytes(value))
            item = _scalar(kind[4:], entry.get("value", b""))
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
