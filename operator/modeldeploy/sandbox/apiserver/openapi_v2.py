"""`/openapi/v2`: a minimal OpenAPI v2 document, in the gnostic protobuf form kube-apiserver
serves (asked as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, the only form
client-go's `OpenAPISchema()` decodes; github.com/google/gnostic-models openapiv2/OpenAPIv2.proto),
answered with kube-openapi's content type (pkg/handler/handler.go: `...spec.v2.v1.0+protobuf`).

It names no schemas: kubectl 1.27/1.28 ask for it before `apply`, `diff` and `edit`, and with no
schema of a kind they fall back to their compiled-in types (strategic merge patch) or to a merge
patch (custom resources); field validation is the server's (`fieldValidation`, OpenAPI v3).
"""

from __future__ import annotations

from modeldeploy.sandbox.apiserver.discovery import KUBERNETES_VERSION

MEDIA = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
# Field numbers of the gnostic messages used.
_DOCUMENT_SWAGGER, _DOCUMENT_INFO, _DOCUMENT_PATHS = 1, 2, 8
_INFO_TITLE, _INFO_VERSION = 1, 2


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def document() -> bytes:
    """Document{swagger: "2.0", info: {title, version}, paths: {}}, serialized."""
    info = _length_delimited(_INFO_TITLE, b"Kubernetes") + _length_delimited(
        _INFO_VERSION, KUBERNETES_VERSION["gitVersion"].encode()
    )
    return (
        _length_delimited(_DOCUMENT_SWAGGER, b"2.0")
        + _length_delimited(_DOCUMENT_INFO, info)
        + _length_delimited(_DOCUMENT_PATHS, b"")
    )
