"""Watches through the `kubernetes` client: events, resume from a resourceVersion, 410 Gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from tests.sandbox.conftest import SandboxApi

MERGE = "application/merge-patch+json"


@pytest.fixture
def core(sandbox_api: SandboxApi) -> Iterator[client.CoreV1Api]:
    with config.new_client_from_config(str(sandbox_api.kubeconfig)) as api_client:
        yield client.CoreV1Api(api_client)


def _events(core: client.CoreV1Api, count: int, **kwargs: object) -> list[tuple[str, str]]:
    """The first `count` (type, name) events of a watch that ends by itself within 10 s."""
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map, "default", timeout_seconds=10, **kwargs
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == count:
            stream.stop()
    return seen


def test_watch_resumes_from_a_resource_version(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "one"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "two"}})
    core.patch_namespaced_config_map("one", "default", {"data": {"a": "b"}}, _content_type=MERGE)
    core.delete_namespaced_config_map("two", "default")
    events = _events(core, 3, resource_version=first.metadata.resource_version)
    assert events == [("ADDED", "two"), ("MODIFIED", "one"), ("DELETED", "two")]


def test_watch_without_version_lists_then_follows(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "before"}})
    events = _events(core, 1)
    assert events == [("ADDED", "before")]


def test_watch_selector_turns_relabelling_into_added_and_deleted(core: client.CoreV1Api) -> None:
    start = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm", "labels": {"team": "a"}}}
    )
    for team in ("b", "a"):
        core.patch_namespaced_config_map(
            "cm", "default", {"metadata": {"labels": {"team": team}}}, _content_type=MERGE
        )
    events = _events(
        core, 2, resource_version=start.metadata.resource_version, label_selector="team=a"
    )
    assert events == [("DELETED", "cm"), ("ADDED", "cm")]


def test_watch_from_a_compacted_version_is_410(tmp_path: Path) -> None:
    small = SandboxApi(tmp_path / "small", history=5)
    small.start()
    try:
        with config.new_client_from_config(str(small.kubeconfig)) as api_client:
            core = client.CoreV1Api(api_client)
            first = core.create_namespaced_config_map("default", {"metadata": {"name": "c0"}})
            for index in range(1, 10):
                core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
            stream = watch.Watch()
            with pytest.raises(ApiException) as gone:
                for _ in stream.stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version=first.metadata.resource_version,
                    timeout_seconds=5,
                    _request_timeout=10,
                ):
                    pass
            assert gone.value.status == 410
            assert "too old resource version" in str(gone.value.reason)
            # A continue token from before the compaction has expired too.
            page = core.list_namespaced_config_map("default", limit=2)
            for index in range(10, 20):
                core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
            with pytest.raises(ApiException) as expired:
                core.list_namespaced_config_map(
                    "default", limit=2, _continue=page.metadata._continue
                )
            assert expired.value.status == 410
    finally:
        small.stop()
