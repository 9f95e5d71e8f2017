"""Discovery (`/api`, `/apis`, resource lists), `/version` and the OpenAPI v3 index.

`/api` and `/apis` answer aggregated discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList,
what kubectl and client-go ask first) when the Accept header asks for it, and the legacy
APIVersions / APIGroupList otherwise. The OpenAPI v3 documents
describe each resource's operations and parameters (no schemas): enough for kubectl to see
that the server validates fields itself (`fieldValidation`), so it needs no client schemas.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from modeldeploy.sandbox.apiserver.resources import ALL_VERBS, ResourceType

# The release the sandbox emulates (its defaults, validation messages and discovery).
KUBERNETES_VERSION = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.0-sandbox",
}
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
# Resources served without storage of their own: (group, version, name, kind, verbs, parent).
# `bindings` is the older form of pods/binding; pods/eviction deletes a pod (no PDBs here).
_STORAGELESS_RESOURCES = (("", "v1", "bindings", "Binding", ("create",)),)
_EVICTION = {"group": "policy", "version": "v1", "kind": "Eviction"}
_SUBRESOURCE_VERBS = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "binding": ("create",),
    "log": ("get",),
    "finalize": ("update",),
    "eviction": ("create",),
}
_WRITE_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "pretty")


def version_info() -> dict[str, Any]:
    return {
        **KUBERNETES_VERSION,
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _resource_entries(rt: ResourceType) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(ALL_VERBS),
        "storageVersionHash": hashlib.sha256(
            rt.api_version.encode() + rt.kind.encode()
        ).hexdigest()[:11],
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entries = [entry]
    for sub in sorted(rt.subresources):
        sub_entry: dict[str, Any] = {
            "name": f"{rt.plural}/{sub}",
            "singularName": "",
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(_SUBRESOURCE_VERBS[sub]),
        }
        if sub == "scale":
            sub_entry.update({"group": "autoscaling", "version": "v1", "kind": "Scale"})
        elif sub == "binding":
            sub_entry["kind"] = "Binding"
        elif sub == "eviction":
            sub_entry.update(_EVICTION)
        entries.append(sub_entry)
    return entries


def _storageless(group: str, version: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "singularName": "", "namespaced": True, "kind": kind, "verbs": list(verbs)}
        for g, v, name, kind, verbs in _STORAGELESS_RESOURCES
        if (g, v) == (group, version)
    ]


def resource_list(types: list[ResourceType], group: str, version: str) -> dict[str, Any] | None:
    chosen = [rt for rt in types if rt.group == group and rt.version == version]
    if not chosen:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": chosen[0].api_version,
        "resources": [
            *(entry for rt in chosen for entry in _resource_entries(rt)),
            *_storageless(group, version),
        ],
    }


def core_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    }


def _groups(types: list[ResourceType]) -> dict[str, list[str]]:
    versions: dict[str, list[str]] = defaultdict(list)
    for rt in types:
        if rt.group and rt.version not in versions[rt.group]:
            versions[rt.group].append(rt.version)
    return versions


def _group_entry(name: str, versions: list[str]) -> dict[str, Any]:
    # Like upstream, the preferred version is the "highest" by Kubernetes version ordering.
    ordered = sorted(versions, key=_version_priority, reverse=True)
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def _version_priority(version: str) -> tuple[int, int, int]:
    """v1 > v1beta2 > v1beta1 > v1alpha1 (GA, then beta, then alpha, each by number)."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (-1, 0, 0)
    major, stage, minor = match.groups()
    return ({"alpha": 0, "beta": 1, None: 2}[stage], int(major), int(minor or 0))


def group_list(types: list[ResourceType]) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(name, versions) for name, versions in _groups(types).items()],
    }


def wants_aggregated(accept: str) -> bool:
    """Whether the Accept header asks for aggregated discovery v2 (first or among others)."""
    return any(
        "g=apidiscovery.k8s.io" in clause
        and "v=v2" in clause.replace(" ", "").split(";")
        and "as=APIGroupDiscoveryList" in clause
        for clause in accept.split(",")
    )


def _aggregated_resource(rt: ResourceType, entries: list[dict[str, Any]]) -> dict[str, Any]:
    main, subresources = entries[0], entries[1:]
    resource: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": main["verbs"],
    }
    for field in ("shortNames", "categories"):
        if field in main:
            resource[field] = main[field]
    if subresources:
        resource["subresources"] = [
            {
                "subresource": sub["name"].split("/", 1)[1],
                "responseKind": {
                    "group": sub.get("group", rt.group),
                    "version": sub.get("version", rt.version),
                    "kind": sub["kind"],
                },
                "verbs": sub["verbs"],
            }
            for sub in subresources
        ]
    return resource


def _group_discovery(types: list[ResourceType], name: str, versions: list[str]) -> dict[str, Any]:
    ordered = sorted(versions, key=_version_priority, reverse=True)
    listed = []
    for version in ordered:
        chosen = [rt for rt in types if rt.group == name and rt.version == version]
        resources = [_aggregated_resource(rt, _resource_entries(rt)) for rt in chosen]
        resources += [
            {
                "resource": entry["name"],
                "responseKind": {"group": name, "version": version, "kind": entry["kind"]},
                "scope": "Namespaced",
                "singularResource": entry["kind"].lower(),
                "verbs": entry["verbs"],
            }
            for entry in _storageless(name, version)
        ]
        listed.append({"version": version, "resources": resources, "freshness": "Current"})
    metadata: dict[str, Any] = {"name": name} if name else {}
    return {"metadata": metadata, "versions": listed}


def aggregated(types: list[ResourceType], core: bool) -> dict[str, Any]:
    """The APIGroupDiscoveryList of `/api` (core) or `/apis` (every named group)."""
    if core:
        items = [_group_discovery(types, "", ["v1"])]
    else:
        items = [_group_discovery(types, n, versions) for n, versions in _groups(types).items()]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def group(types: list[ResourceType], name: str) -> dict[str, Any] | None:
    versions = _groups(types).get(name)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(name, versions)}


# --- OpenAPI v3 --------------------------------------------------------------------------------


def _gv_path(group_name: str, version: str) -> str:
    return f"apis/{group_name}/{version}" if group_name else f"api/{version}"


def openapi_document(
    types: list[ResourceType],
    group_name: str,
    version: str,
    schemas: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Operations per resource path, tagged with the GVK and their query parameters.

    `schemas` (kind -> openAPIV3Schema, from CRDs) become component schemas for
    `kubectl explain`. No operation lists strategic merge patch as a body type, so kubectl
    builds its apply patches for built-in kinds from its own compiled-in types.
    """
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for rt in types:
        if rt.group != group_name or rt.version != version:
            continue
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        if schemas and rt.kind in schemas:
            name = ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])
            components[name] = {**schemas[rt.kind], "x-kubernetes-group-version-kind": [gvk]}
        base = "/" + _gv_path(rt.group, rt.version)
        scope = "/namespaces/{namespace}" if rt.namespaced else ""
        parameters = [
            {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
            for name in _WRITE_PARAMETERS
        ]
        operation = {
            "x-kubernetes-group-version-kind": gvk,
            "parameters": parameters,
            "responses": {"200": {"description": "OK"}},
        }
        paths[f"{base}{scope}/{rt.plural}/{{name}}"] = {
            "get": {**operation, "x-kubernetes-action": "get"},
            "put": {**operation, "x-kubernetes-action": "put"},
            "patch": {**operation, "x-kubernetes-action": "patch"},
            "delete": {**operation, "x-kubernetes-action": "delete"},
        }
        paths[f"{base}{scope}/{rt.plural}"] = {
            "get": {**operation, "x-kubernetes-action": "list"},
            "post": {**operation, "x-kubernetes-action": "post"},
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": components},
    }


def openapi_index(
    types: list[ResourceType], schemas: Callable[[str, str], dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    """`/openapi/v3`: one entry per group-version, with a hash that changes with its content."""
    index: dict[str, Any] = {}
    for group_name, version in sorted({(rt.group, rt.version) for rt in types}):
        document = openapi_document(types, group_name, version, schemas(group_name, version))
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        gv_path = _gv_path(group_name, version)
        index[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={digest.upper()}"}
    return {"paths": index}
