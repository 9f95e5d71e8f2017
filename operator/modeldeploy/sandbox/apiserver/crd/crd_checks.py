"""`validate_crd`: what kube-apiserver checks before it accepts a CustomResourceDefinition.

Names (`metadata.name` is `<plural>.<group>`, DNS labels, a kind), scope, versions
(unique, exactly one storage version, each with a structural schema), subresources,
printer columns and the conversion strategy. Messages are the real server's.
"""

from __future__ import annotations

import re
from typing import Any

from modeldeploy.sandbox.apiserver.crd import causes, paths
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.schema import as_list, as_mapping
from modeldeploy.sandbox.apiserver.crd.structural import check_schema
from modeldeploy.sandbox.apiserver.crd.values import json_equal

SCOPES = ("Cluster", "Namespaced")
COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
COLUMN_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "password")
CONVERSION_STRATEGIES = ("None", "Webhook")
# Version fields the server validates once, at the top of the spec, when all versions share them.
_HOISTED = ("schema", "subresources", "additionalPrinterColumns")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = re.compile(rf"{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*")
_KIND = re.compile(r"[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?")
DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def validate_crd(crd: dict[str, Any]) -> list[Cause]:
    """Every reason a real API server would refuse this apiextensions.k8s.io/v1 CRD."""
    if not isinstance(crd, dict):
        return [causes.invalid(causes.NO_FIELD, crd, "must be an object")]
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return [causes.required("spec", "")]
    found: list[Cause] = []
    group = _text(spec, "group")
    names = as_mapping(spec.get("names"))
    _check_group(group, found)
    _check_names(names, found)
    metadata = as_mapping(crd.get("metadata"))
    name = _text(metadata, "name")
    plural = _text(names, "plural")
    if name != f"{plural}.{group}":
        found.append(
            causes.invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group')
        )
    scope = spec.get("scope")
    if not scope:
        found.append(causes.required("spec.scope", ""))
    elif scope not in SCOPES:
        found.append(causes.not_supported("spec.scope", scope, SCOPES))
    _check_versions(spec, found)
    _check_conversion(spec.get("conversion"), found)
    return found


def _text(mapping: Any, key: str) -> str:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, str) else ""


def _check_group(group: str, found: list[Cause]) -> None:
    if not group:
        found.append(causes.required("spec.group", ""))
    elif "." not in group:
        found.append(
            causes.invalid("spec.group", group, "should be a domain with at least one dot")
        )
    elif len(group) > 253 or _DNS1123_SUBDOMAIN.fullmatch(group) is None:
        found.append(causes.invalid("spec.group", group, DNS1123_SUBDOMAIN_MESSAGE))


def _check_names(names: dict[str, Any], found: list[Cause]) -> None:
    kind_detail = "may have mixed case, but should otherwise match: " + _KIND.pattern
    # field, required, pattern, message
    rules = (
        ("plural", True, _DNS1035_LABEL, DNS1035_MESSAGE),
        ("singular", False, _DNS1035_LABEL, DNS1035_MESSAGE),
        ("kind", True, _KIND, kind_detail),
        ("listKind", False, _KIND, kind_detail),
    )
    for field, required, pattern, detail in rules:
        value = _text(names, field)
        if not value and required:
            found.append(causes.required(f"spec.names.{field}", ""))
        elif value and pattern.fullmatch(value) is None:
            found.append(causes.invalid(f"spec.names.{field}", value, detail))
    for position, short in enumerate(as_list(names.get("shortNames"))):
        if not isinstance(short, str) or _DNS1035_LABEL.fullmatch(short) is None:
            short_path = paths.index("spec.names.shortNames", position)
            found.append(causes.invalid(short_path, short, DNS1035_MESSAGE))
    kind = _text(names, "kind")
    if kind and _text(names, "listKind") == kind:
        found.append(
            causes.invalid("spec.names.listKind", kind, "kind and listKind cannot be the same")
        )


def _check_versions(spec: dict[str, Any], found: list[Cause]) -> None:
    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        found.append(
            causes.required(
                "spec.versions", "must have exactly one version marked as storage version"
            )
        )
        return
    # The server checks the internal form of a v1 CRD, where a schema, subresources or
    # printer columns that every version shares are moved up to spec.validation,
    # spec.subresources and spec.additionalPrinterColumns; errors are named there.
    shared = {key: _shared(versions, key) for key in _HOISTED}
    seen: set[str] = set()
    storage = 0
    for position, version in enumerate(versions):
        version_path = paths.index("spec.versions", position)
        if not isinstance(version, dict):
            found.append(causes.invalid(version_path, version, "must be an object"))
            continue
        name = _text(version, "name")
        if not name:
            found.append(causes.required(paths.child(version_path, "name"), ""))
        elif name in seen:
            found.append(causes.invalid(paths.child(version_path, "name"), name, "must be unique"))
        elif _DNS1035_LABEL.fullmatch(name) is None:
            found.append(causes.invalid(paths.child(version_path, "name"), name, DNS1035_MESSAGE))
        seen.add(name)
        storage += version.get("storage") is True
        openapi = _openapi_schema(version.get("schema"))
        if openapi is None or not shared["schema"]:
            found.extend(check_schema(openapi, paths.child(version_path, "schema.openAPIV3Schema")))
        if not shared["subresources"]:
            _check_subresources(
                version.get("subresources"), paths.child(version_path, "subresources"), found
            )
        if not shared["additionalPrinterColumns"]:
            columns_path = paths.child(version_path, "additionalPrinterColumns")
            _check_columns(version.get("additionalPrinterColumns"), columns_path, found)
    if storage != 1:
        names = [v.get("name") for v in versions if isinstance(v, dict)]
        detail = "must have exactly one version marked as storage version"
        found.append(causes.invalid("spec.versions", names, detail))
    _check_shared(versions[0], shared, found)


def _shared(versions: list[Any], key: str) -> bool:
    """Whether every version has the same `key` (kube-apiserver then validates it once)."""
    first = versions[0].get(key) if isinstance(versions[0], dict) else None
    return all(isinstance(v, dict) and json_equal(v.get(key), first) for v in versions)


def _openapi_schema(schema: Any) -> Any:
    return schema.get("openAPIV3Schema") if isinstance(schema, dict) else None


def _check_shared(first: Any, shared: dict[str, bool], found: list[Cause]) -> None:
    if not isinstance(first, dict):
        return
    openapi = _openapi_schema(first.get("schema"))
    if shared["schema"] and openapi is not None:
        found.extend(check_schema(openapi, "spec.validation.openAPIV3Schema"))
    if shared["subresources"]:
        _check_subresources(first.get("subresources"), "spec.subresources", found)
    if shared["additionalPrinterColumns"]:
        _check_columns(
            first.get("additionalPrinterColumns"), "spec.additionalPrinterColumns", found
        )


def _check_subresources(subresources: Any, path: str, found: list[Cause]) -> None:
    if not isinstance(subresources, dict):
        return
    scale = subresources.get("scale")
    if not isinstance(scale, dict):
        return
    scale_path = paths.child(path, "scale")
    for field, prefix in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
        value = _text(scale, field)
        field_path = paths.child(scale_path, field)
        if not value:
            found.append(causes.required(field_path, ""))
        elif not value.startswith(prefix):
            found.append(
                causes.invalid(field_path, value, f"should be a json path under {prefix[:-1]}")
            )
    selector = _text(scale, "labelSelectorPath")
    if selector and not selector.startswith((".spec.", ".status.")):
        field_path = paths.child(scale_path, "labelSelectorPath")
        found.append(
            causes.invalid(
                field_path, selector, "should be a json path under either .spec or .status"
            )
        )


def _check_columns(columns: Any, path: str, found: list[Cause]) -> None:
    if not isinstance(columns, list):
        return
    for position, column in enumerate(columns):
        column_path = paths.index(path, position)
        if not isinstance(column, dict):
            found.append(causes.invalid(column_path, column, "must be an object"))
            continue
        for field in ("name", "type", "jsonPath"):
            if not _text(column, field):
                found.append(causes.required(paths.child(column_path, field), ""))
        column_type = _text(column, "type")
        if column_type and column_type not in COLUMN_TYPES:
            found.append(
                causes.not_supported(paths.child(column_path, "type"), column_type, COLUMN_TYPES)
            )
        column_format = _text(column, "format")
        if column_format and column_format not in COLUMN_FORMATS:
            found.append(
                causes.not_supported(
                    paths.child(column_path, "format"), column_format, COLUMN_FORMATS
                )
            )


def _check_conversion(conversion: Any, found: list[Cause]) -> None:
    if not isinstance(conversion, dict):
        return
    strategy = conversion.get("strategy")
    if strategy not in CONVERSION_STRATEGIES:
        found.append(
            causes.not_supported("spec.conversion.strategy", strategy, CONVERSION_STRATEGIES)
        )
