"""Building blocks of the custom-resource admission tests: a Widget CRD around a spec schema."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.sandbox.apiserver.crd import CustomResourceSchema

REPO = Path(__file__).resolve().parents[3]
PROJECT_CRD = REPO / "crds" / "modeldeployments.modeldeploy.dev.yaml"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


def metrics_list(**item_extra: Any) -> dict[str, Any]:
    """A list-type=map list of metrics keyed by name (extra keywords go on the items)."""
    return {
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "max": {"type": "number"}},
            **item_extra,
        },
    }


def with_template(**template_extra: Any) -> dict[str, Any]:
    """A spec schema with one embedded resource, `template`."""
    template = {"type": "object", "x-kubernetes-embedded-resource": True, **template_extra}
    return {"type": "object", "properties": {"template": template}}


def make_crd(spec_schema: dict[str, Any], **root_extra: Any) -> dict[str, Any]:
    """A valid v1 CRD `widgets.example.com` whose `spec` has the given schema."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {
                "plural": "widgets",
                "singular": "widget",
                "kind": "Widget",
                "listKind": "WidgetList",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": copy.deepcopy(spec_schema)},
                            **root_extra,
                        }
                    },
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def widget(spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "default"},
        "spec": spec,
    }


def schema_for(spec_schema: dict[str, Any], **root_extra: Any) -> CustomResourceSchema:
    return CustomResourceSchema.from_crd(make_crd(spec_schema, **root_extra), "v1")


def messages(spec_schema: dict[str, Any], spec: Any, old_spec: Any = None) -> list[str]:
    """`field: message` lines of admitting a Widget with `spec` (an update when old_spec is "
    "given)."""
    old = widget(old_spec) if old_spec is not None else None
    _, causes = schema_for(spec_schema).admit(widget(spec), old)
    return [str(cause) for cause in causes]


def admitted_spec(spec_schema: dict[str, Any], spec: Any) -> Any:
    obj, causes = schema_for(spec_schema).admit(widget(spec), None)
    assert causes == []
    return obj["spec"]


def load_project_crd() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(PROJECT_CRD.read_text())
    return crd
