"""CRDs through kubectl: served at once, validated, defaulted, pruned, printed, scaled, removed."""

from __future__ import annotations

import time

import pytest
import yaml
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wd]}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Color, type: string, jsonPath: .spec.color}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            x-kubernetes-validations:
            - rule: "self.size % 2 == 1 || self.color == 'blue'"
              message: even widgets must be blue
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              color: {type: string, enum: [red, blue], default: red}
              replicas: {type: integer}
          status:
            type: object
            properties:
              replicas: {type: integer}
"""
CLUSTER_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: pools.example.com
spec:
  group: example.com
  scope: Cluster
  names: {plural: pools, singular: pool, kind: Pool}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""


def _widget(name: str, **spec: object) -> str:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}}
    return yaml.safe_dump({**body, "spec": spec})


@pytest.fixture
def kubectl(sandbox_api: SandboxApi) -> Kubectl:
    tool = Kubectl(sandbox_api)
    tool.run("apply", "-f", "-", stdin=CRD)
    return tool


def test_custom_objects_are_served_defaulted_and_printed(kubectl: Kubectl) -> None:
    assert "widget.example.com/w1 created" in kubectl.run(
        "apply", "-f", "-", stdin=_widget("w1", size=3)
    )
    assert "unchanged" in kubectl.run("apply", "-f", "-", stdin=_widget("w1", size=3))
    kubectl.run("apply", "-f", "-", stdin=_widget("w1", size=5))
    widget = kubectl.json("get", "wd", "w1")
    assert widget["spec"] == {"size": 5, "color": "red"}
    assert widget["metadata"]["generation"] == 2
    table = kubectl.run("get", "widgets").splitlines()
    assert table[0].split() == ["NAME", "SIZE", "COLOR"]
    assert table[1].split() == ["w1", "5", "red"]
    assert "widgets" in kubectl.run("api-resources", "--api-group=example.com")
    assert "size" in kubectl.run("explain", "widgets.spec")
    # A write that changes nothing makes no new version (and no watch event).
    before = kubectl.json("get", "crd", "widgets.example.com")
    kubectl.run("patch", "crd", "widgets.example.com", "--type=merge", "-p", "{}")
    after = kubectl.json("get", "crd", "widgets.example.com")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_invalid_custom_objects_are_rejected_naming_the_field(kubectl: Kubectl) -> None:
    too_big = kubectl.fails("apply", "-f", "-", stdin=_widget("big", size=30))
    assert "spec.size" in too_big
    assert "less than or equal to 10" in too_big
    missing = kubectl.fails("apply", "-f", "-", stdin=_widget("none", color="red"))
    assert "spec.size: Required value" in missing
    wrong_color = kubectl.fails("apply", "-f", "-", stdin=_widget("odd", size=3, color="green"))
    assert 'spec.color: Unsupported value: "green"' in wrong_color
    rule = kubectl.fails("apply", "-f", "-", stdin=_widget("even", size=2))
    assert "even widgets must be blue" in rule
    unknown = kubectl.fails("apply", "-f", "-", stdin=_widget("extra", size=3, shape="round"))
    assert 'unknown field "spec.shape"' in unknown
    assert "No resources found" in kubectl.run("get", "widgets", check=False)


def test_unknown_fields_are_pruned_when_not_strict(kubectl: Kubectl) -> None:
    out = kubectl.run(
        "apply",
        "--validate=warn",
        "-f",
        "-",
        stdin=_widget("w2", size=3, shape="round"),
        check=False,
    )
    assert 'unknown field "spec.shape"' in out
    assert kubectl.json("get", "widget", "w2")["spec"] == {"size": 3, "color": "red"}


def test_status_and_scale_subresources(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=_widget("w3", size=3, replicas=1))
    kubectl.run("scale", "widget", "w3", "--replicas=4")
    assert kubectl.json("get", "widget", "w3")["spec"]["replicas"] == 4
    kubectl.run(
        "patch",
        "widget",
        "w3",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"replicas":2},"spec":{"size":9}}',
    )
    widget = kubectl.json("get", "widget", "w3")
    assert widget["status"] == {"replicas": 2}
    assert widget["spec"]["size"] == 3
    kubectl.run("patch", "widget", "w3", "--type=merge", "-p", '{"status":{"replicas":7}}')
    assert kubectl.json("get", "widget", "w3")["status"] == {"replicas": 2}


def test_cluster_scoped_custom_resources(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=CLUSTER_CRD)
    pool = {"apiVersion": "example.com/v1", "kind": "Pool", "metadata": {"name": "gpu"}, "size": 2}
    kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(pool))
    assert kubectl.json("get", "pool", "gpu")["size"] == 2
    assert "namespace" not in kubectl.json("get", "pool", "gpu")["metadata"]


def test_deleting_the_crd_removes_its_objects_and_endpoint(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=_widget("w4", size=1))
    kubectl.run("delete", "crd", "widgets.example.com")
    deadline = time.monotonic() + 10
    while "widgets.example.com" in kubectl.run("get", "crd", "-o", "name"):
        assert time.monotonic() < deadline, "the CRD was never removed"
        time.sleep(0.1)
    # kubectl's discovery cache may still know the type; the server no longer serves it.
    gone = kubectl.fails("get", "widgets")
    assert "could not find the requested resource" in gone or "doesn't have a resource" in gone
