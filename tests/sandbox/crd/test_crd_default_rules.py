"""A CRD whose defaults break its own CEL rules is refused, as kube-apiserver refuses it.

The fixture is the project's CRD as it was before its object defaults were written fully
defaulted (`default: {}` on `rollout` and `rollout.analysis`): kube-apiserver v1.36 refused it
with exactly these four errors, evaluating each rule on the default as written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import KUBECTL, Kubectl
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.apiserver.crd import validate_crd

from .helpers import make_crd

FIXTURE = Path(__file__).parents[2] / "fixtures" / "crd_with_unsatisfiable_defaults.yaml"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
ROLLOUT = "spec.validation.openAPIV3Schema.properties[spec].properties[rollout]"
ANALYSIS = f"{ROLLOUT}.properties[analysis]"
# (field, message) of each cause, in kube-apiserver's order.
EXPECTED = [
    (
        f"{ROLLOUT}.default",
        'Invalid value: "object": no such key: steps evaluating rule: '
        "step weights must be strictly increasing",
    ),
    (
        f"{ANALYSIS}.default",
        'Invalid value: "object": no such key: provider evaluating rule: '
        "address is required for the prometheus provider",
    ),
    (
        f"{ANALYSIS}.default",
        'Invalid value: "object": no such key: provider evaluating rule: '
        "metrics with a query need the prometheus provider",
    ),
    (
        f"{ANALYSIS}.default",
        'Invalid value: "object": no such key: metrics evaluating rule: '
        "metric names must be unique",
    ),
]


def _fixture() -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    return crd


def test_the_sandbox_refuses_the_crd_with_the_four_errors(sandbox_api: SandboxApi) -> None:
    status, answer = call(sandbox_api, "POST", CRDS, _fixture())
    assert (status, answer["reason"]) == (422, "Invalid")
    causes = answer["details"]["causes"]
    assert [(c["field"], c["message"]) for c in causes] == EXPECTED
    assert {c["reason"] for c in causes} == {"FieldValueInvalid"}
    lines = ", ".join(f"{field}: {message}" for field, message in EXPECTED)
    assert answer["message"] == (
        'CustomResourceDefinition.apiextensions.k8s.io "modeldeployments.modeldeploy.dev" '
        f"is invalid: [{lines}]"
    )


@pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl is installed by `make tools`")
def test_kubectl_apply_prints_what_a_cluster_prints(sandbox_api: SandboxApi) -> None:
    stderr = Kubectl(sandbox_api).fails("apply", "-f", str(FIXTURE))
    bullets = "".join(f"\n* {field}: {message}" for field, message in EXPECTED)
    assert stderr.strip() == (
        f'The CustomResourceDefinition "modeldeployments.modeldeploy.dev" is invalid: {bullets}'
    )


def test_an_update_to_such_defaults_is_refused_too(sandbox_api: SandboxApi) -> None:
    crd = _fixture()
    rollout = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["rollout"]
    broken_default = rollout.pop("default")
    rollout["properties"]["analysis"].pop("default")
    status, created = call(sandbox_api, "POST", CRDS, crd)
    assert status == 201
    rollout["default"] = broken_default
    crd["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    status, answer = call(sandbox_api, "PUT", f"{CRDS}/{crd['metadata']['name']}", crd)
    assert (status, answer["reason"]) == (422, "Invalid")
    assert [(c["field"], c["message"]) for c in answer["details"]["causes"]] == EXPECTED[:1]


def test_a_rule_sees_the_default_as_written_not_defaulted() -> None:
    def batching(default: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "default": default,
            "properties": {"size": {"type": "integer", "default": 8}},
            "x-kubernetes-validations": [{"rule": "self.size > 0", "message": "size > 0"}],
        }

    path = "spec.validation.openAPIV3Schema.properties[spec].properties[batching].default"
    written = {"type": "object", "properties": {"batching": batching({})}}
    assert [str(c) for c in validate_crd(make_crd(written))] == [
        f'{path}: Invalid value: "object": no such key: size evaluating rule: size > 0'
    ]
    defaulted = {"type": "object", "properties": {"batching": batching({"size": 8})}}
    assert validate_crd(make_crd(defaulted)) == []


@pytest.mark.parametrize(
    ("rule", "missing"),
    [
        ("self.a == 1 || self.b == 1", "a"),
        ("self.a == 1 && self.b == 1", "a"),
        ("(self.b > 0 || self.a > 0) && true", "b"),
        ("true && self.x.all(i, i > 0) || self.a == 1", "x"),
        ("'||' == self.c || self.a == 1", "c"),
    ],
)
def test_a_failing_logical_rule_reports_its_leftmost_error_as_cel_go(
    rule: str, missing: str
) -> None:
    schema = {
        "type": "object",
        "default": {},
        "properties": {name: {"type": "integer"} for name in ("a", "b", "c")}
        | {"x": {"type": "array", "items": {"type": "integer"}}},
        "x-kubernetes-validations": [{"rule": rule}],
    }
    (cause,) = validate_crd(make_crd(schema))
    assert cause.message == (
        f'Invalid value: "object": no such key: {missing} evaluating rule: {rule}'
    )


def test_schemas_that_differ_per_version_are_named_per_version() -> None:
    crd = make_crd({"type": "object", "properties": {"a": {"type": "string", "default": 1}}})
    other = {
        **crd["spec"]["versions"][0],
        "name": "v2",
        "storage": False,
        "schema": {"openAPIV3Schema": {"type": "object"}},
    }
    crd["spec"]["versions"].append(other)
    (cause,) = validate_crd(crd)
    assert cause.field == (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[a].default"
    )
