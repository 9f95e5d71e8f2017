"""What a request asks to do, as the authorizer sees it.

The parsing of staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go
(RequestInfoFactory.NewRequestInfo): verb from the method (get -> list or watch without a
name, delete -> deletecollection), namespace, resource, name and subresource from the path;
everything outside /api and /apis, and discovery paths, are non-resource requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_VERBS_BY_METHOD = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}
_NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes: one request's verb and target."""

    verb: str
    resource_request: bool
    path: str = ""
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""

    @property
    def resource_with_subresource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    parts = [part for part in path.strip("/").split("/") if part]
    non_resource = Attributes(verb=method.lower(), resource_request=False, path=path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    rest = parts[1:]
    group = ""
    if parts[0] == "apis":
        if len(rest) < 3:
            return non_resource
        group, rest = rest[0], rest[1:]
    version, rest = rest[0], rest[1:]
    verb = _VERBS_BY_METHOD.get(method.upper(), "")
    if rest[0] == "watch" and len(rest) > 1:
        verb, rest = "watch", rest[1:]
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch") in ("1", "true") else "list"
        name = _exact_name(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(verb, True, path, group, version, namespace, resource, subresource, name)


def _exact_name(field_selector: str) -> str:
    """The name a field selector pins with metadata.name=... (RequiresExactMatch)."""
    for term in field_selector.split(","):
        for operator in ("==", "="):
            key, found, value = term.partition(operator)
            if found and key.strip() == "metadata.name" and not value.startswith("="):
                return value.strip()
    return ""
