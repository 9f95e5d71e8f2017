"""kopf runs a minimal operator against the sandbox: create/update/delete handlers, its
finalizer and status writes, all through the sandbox's HTTP API."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from kopf.testing import KopfRunner
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tests.sandbox.apiserver.manifests import crd
from tests.sandbox.conftest import SandboxApi, eventually

CRD = crd(
    "gadgets",
    "Gadget",
    {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
    },
    subresources={"status": {}},
)

OPERATOR = textwrap.dedent(
    """
    import os
    import kopf

    LOG = os.environ["GADGET_LOG"]

    @kopf.on.login()
    def login(**kwargs):
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.startup()
    def configure(settings, **_):
        settings.watching.server_timeout = 10
        settings.persistence.finalizer = "example.com/gadget-finalizer"

    @kopf.on.create("example.com", "v1", "gadgets")
    def created(spec, **_):
        return {"size": spec["size"]}

    @kopf.on.update("example.com", "v1", "gadgets")
    def updated(spec, patch, **_):
        patch.status["seen"] = spec["size"]

    @kopf.on.delete("example.com", "v1", "gadgets")
    def deleted(name, **_):
        with open(LOG, "a") as log:
            log.write(f"deleted {name}\\n")
    """
)


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = obj.get("status") or {}
    return status


def test_kopf_operator_handles_create_update_delete(
    sandbox_api: SandboxApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = tmp_path / "operator.py"
    operator.write_text(OPERATOR)
    log = tmp_path / "deleted.log"
    monkeypatch.setenv("KUBECONFIG", str(sandbox_api.kubeconfig))
    monkeypatch.setenv("GADGET_LOG", str(log))
    api_client = config.new_client_from_config(str(sandbox_api.kubeconfig))
    client.ApiextensionsV1Api(api_client).create_custom_resource_definition(CRD)
    custom = client.CustomObjectsApi(api_client)
    args = ["example.com", "v1", "default", "gadgets"]

    def gadget() -> dict[str, Any]:
        found: dict[str, Any] = custom.get_namespaced_custom_object(*args, "g1")
        return found

    with KopfRunner(["run", "-A", "--standalone", str(operator)]) as runner:
        custom.create_namespaced_custom_object(
            *args,
            {
                "apiVersion": "example.com/v1",
                "kind": "Gadget",
                "metadata": {"name": "g1"},
                "spec": {"size": 3},
            },
        )
        eventually(lambda: _status(gadget()).get("created") == {"size": 3}, "the create handler")
        assert "example.com/gadget-finalizer" in gadget()["metadata"]["finalizers"]
        custom.patch_namespaced_custom_object(*args, "g1", {"spec": {"size": 4}})
        eventually(lambda: _status(gadget()).get("seen") == 4, "the update handler")
        custom.delete_namespaced_custom_object(*args, "g1")

        def gone() -> bool:
            try:
                gadget()
            except ApiException as error:
                return error.status == 404
            return False

        eventually(gone, "the delete handler to release the finalizer")
    assert runner.exception is None
    assert runner.exit_code == 0
    assert log.read_text() == "deleted g1\n"
    api_client.close()
