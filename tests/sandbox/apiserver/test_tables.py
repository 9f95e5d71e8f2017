"""Server-side Tables: `includeObject` decides what each row carries, so `kubectl get
--sort-by` (which asks for whole objects) sorts by any field, in every kubectl version."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import KUBECTL, OLD_KUBECTL, Kubectl
from tests.sandbox.conftest import SandboxApi

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.mark.parametrize("binary", [KUBECTL, OLD_KUBECTL], ids=["1.35", "1.33"])
def test_sort_by_a_field_outside_metadata(sandbox_api: SandboxApi, binary: Path) -> None:
    kubectl = Kubectl(sandbox_api, binary)
    for name, value in (("b", "2"), ("a", "3"), ("c", "1")):
        kubectl.run("create", "configmap", name, f"--from-literal=v={value}")
    out = kubectl.run("get", "configmaps", "--sort-by=.data.v", "-o", "name")
    names = [line for line in out.split() if line != "configmap/kube-root-ca.crt"]
    assert names == ["configmap/c", "configmap/b", "configmap/a"]


def test_rows_carry_metadata_the_whole_object_or_nothing(sandbox_api: SandboxApi) -> None:
    Kubectl(sandbox_api).run("create", "configmap", "one", "--from-literal=k=v")
    path = "/api/v1/namespaces/default/configmaps"
    rows = {}
    for include in ("Metadata", "Object", "None"):
        code, table = call(sandbox_api, "GET", f"{path}?includeObject={include}", accept=TABLE)
        assert code == 200
        rows[include] = next(r for r in table["rows"] if r["cells"][0] == "one")["object"]
    assert rows["Metadata"]["kind"] == "PartialObjectMetadata"
    assert "data" not in rows["Metadata"]
    assert (rows["Object"]["kind"], rows["Object"]["data"]) == ("ConfigMap", {"k": "v"})
    assert rows["None"] is None
    code, body = call(sandbox_api, "GET", f"{path}?includeObject=All", accept=TABLE)
    assert (code, body["message"]) == (
        400,
        'includeObject: Unsupported value: "All": supported values: "Metadata", "None", "Object"',
    )
