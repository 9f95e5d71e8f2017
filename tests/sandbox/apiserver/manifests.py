"""Objects the tests create."""

from __future__ import annotations

from typing import Any

OPEN_SCHEMA = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def crd(
    plural: str,
    kind: str,
    schema: dict[str, Any] = OPEN_SCHEMA,
    subresources: dict[str, Any] | None = None,
    group: str = "example.com",
) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition with one served and stored version, v1."""
    version: dict[str, Any] = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema},
    }
    if subresources:
        version["subresources"] = subresources
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [version],
        },
    }
