"""A real API server's view of the generated CRD: every bad resource pydantic rejects is rejected
by the CRD's schema and CEL rules too, naming the same field, and defaults agree.

The admission here is the sandbox API server's (kube-apiserver's order: prune, default, validate
the schema, evaluate x-kubernetes-validations).
"""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.api.v1alpha1 import ModelDeployment
from modeldeploy.api.v1alpha1.crdgen import custom_resource_definition
from modeldeploy.sandbox.apiserver.crd import CustomResourceSchema, validate_crd
from tests.api.test_invalid_specs import BASE, CASES, mutated

PRUNED_NOT_REJECTED = {"unknown-field"}  # a real API server drops unknown fields silently


@pytest.fixture(scope="module")
def admission() -> CustomResourceSchema:
    crd = custom_resource_definition()
    assert validate_crd(crd) == []
    return CustomResourceSchema.from_crd(crd, "v1alpha1")


def test_valid_resource_is_admitted(admission: CustomResourceSchema) -> None:
    _, causes = admission.admit(BASE)
    assert causes == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [(c[1], c[2]) for c in CASES if c[0] not in PRUNED_NOT_REJECTED],
    ids=[c[0] for c in CASES if c[0] not in PRUNED_NOT_REJECTED],
)
def test_crd_rejects_naming_the_field(
    admission: CustomResourceSchema, changes: dict[str, Any], field: str
) -> None:
    _, causes = admission.admit(mutated(changes))
    fields = [cause.field for cause in causes]
    assert field in fields, [str(c) for c in causes]


def test_unknown_fields_are_pruned(admission: CustomResourceSchema) -> None:
    admitted, causes = admission.admit(mutated({"spec.serving.replica": 3}))
    assert causes == []
    assert "replica" not in admitted["spec"]["serving"]


@pytest.mark.parametrize(
    "spec",
    [
        {"model": {"version": "1", "uri": "pvc://m/model.onnx"}},
        {"model": {"version": "1", "uri": "pvc://m/model.onnx"}, "rollout": {"steps": []}},
        {
            "model": {"version": "1", "uri": "pvc://m/model.onnx"},
            "rollout": {"analysis": {"provider": "prometheus", "address": "http://p:9090"}},
            "serving": {"batching": {"maxDelayMs": 2}},
        },
    ],
)
def test_api_server_defaults_equal_model_defaults(
    admission: CustomResourceSchema, spec: dict[str, Any]
) -> None:
    resource = {
        "apiVersion": "modeldeploy.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "m", "namespace": "ml"},
        "spec": spec,
    }
    admitted, causes = admission.admit(resource)
    assert causes == []
    from_models = ModelDeployment.model_validate(resource).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert admitted["spec"] == from_models["spec"]
