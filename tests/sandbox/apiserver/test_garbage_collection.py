"""Owner references: background, foreground and orphan deletion; namespace deletion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tests.sandbox.conftest import SandboxApi, eventually


@pytest.fixture
def core(sandbox_api: SandboxApi) -> Iterator[client.CoreV1Api]:
    with config.new_client_from_config(str(sandbox_api.kubeconfig)) as api_client:
        yield client.CoreV1Api(api_client)


def _family(core: client.CoreV1Api, block: bool = False) -> tuple[Any, list[str]]:
    """An owner ConfigMap with two dependents, the second with its own dependent."""
    owner = core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})

    def ref(obj: Any) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": obj.metadata.name,
            "uid": obj.metadata.uid,
            "blockOwnerDeletion": block,
        }

    child = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "child", "ownerReferences": [ref(owner)]}}
    )
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "sibling", "ownerReferences": [ref(owner)]}}
    )
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "grandchild", "ownerReferences": [ref(child)]}}
    )
    return owner, ["child", "sibling", "grandchild"]


def _names(core: client.CoreV1Api) -> set[str]:
    return {c.metadata.name for c in core.list_namespaced_config_map("default").items}


def test_background_deletion_removes_dependents_after_the_owner(core: client.CoreV1Api) -> None:
    _, dependents = _family(core)
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Background")
    assert "owner" not in _names(core)
    eventually(lambda: not _names(core) & set(dependents), "dependents to be collected")


def test_foreground_deletion_removes_dependents_first(core: client.CoreV1Api) -> None:
    _family(core, block=True)
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    eventually(lambda: "owner" not in _names(core), "the owner to go")
    # The owner can only go once its blocking dependents are gone.
    assert not _names(core) & {"child", "sibling", "grandchild"}


def test_foreground_owner_waits_for_a_blocking_dependent_with_a_finalizer(
    core: client.CoreV1Api,
) -> None:
    _family(core, block=True)
    core.patch_namespaced_config_map(
        "child",
        "default",
        {"metadata": {"finalizers": ["example.com/hold"]}},
        _content_type="application/merge-patch+json",
    )
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    eventually(
        lambda: (
            core.read_namespaced_config_map("child", "default").metadata.deletion_timestamp
            is not None
        ),
        "the child to be marked",
    )
    owner = core.read_namespaced_config_map("owner", "default")
    assert owner.metadata.deletion_timestamp is not None
    assert "foregroundDeletion" in owner.metadata.finalizers
    core.patch_namespaced_config_map(
        "child",
        "default",
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    eventually(lambda: not _names(core), "everything to go")


def test_orphan_deletion_keeps_dependents_and_drops_the_reference(core: client.CoreV1Api) -> None:
    _family(core)
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Orphan")
    eventually(lambda: "owner" not in _names(core), "the owner to go")
    assert _names(core) == {"child", "sibling", "grandchild"}
    assert core.read_namespaced_config_map("sibling", "default").metadata.owner_references is None
    assert core.read_namespaced_config_map("grandchild", "default").metadata.owner_references


def test_finalizers_hold_an_object_until_the_last_one_goes(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(
        "default",
        {"metadata": {"name": "held", "finalizers": ["a.example.com/x", "b.example.com/y"]}},
    )
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as forbidden:
        core.patch_namespaced_config_map(
            "held",
            "default",
            {"metadata": {"finalizers": ["a.example.com/x", "b.example.com/y", "c.example.com/z"]}},
            _content_type="application/merge-patch+json",
        )
    assert forbidden.value.status == 422
    for remaining in (["b.example.com/y"], []):
        core.patch_namespaced_config_map(
            "held",
            "default",
            {"metadata": {"finalizers": remaining}},
            _content_type="application/merge-patch+json",
        )
        assert ("held" in _names(core)) == bool(remaining)


def test_deleting_a_namespace_deletes_its_content(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_config_map("team", {"metadata": {"name": "a"}})
    core.create_namespaced_secret("team", {"metadata": {"name": "b"}})
    core.delete_namespace("team")
    with pytest.raises(ApiException) as terminating:
        core.create_namespaced_config_map("team", {"metadata": {"name": "late"}})
    assert terminating.value.status in (403, 404)

    def gone() -> bool:
        try:
            core.read_namespace("team")
        except ApiException as error:
            return error.status == 404
        return False

    eventually(gone, "the namespace to go")
    assert core.list_namespaced_config_map("team").items == []
    assert core.list_namespaced_secret("team").items == []
