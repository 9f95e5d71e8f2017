"""Watches through the `kubernetes` client: events, resume from a resourceVersion, 410 Gone."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def _stream(api: SandboxApi, query: str, count: int, accept: str = "application/json") -> list[Any]:
    """The first `count` events of a raw watch on config maps."""
    request = urllib.request.Request(
        f"{api.url}/api/v1/namespaces/default/configmaps?watch=1&{query}",
        headers={"Accept": accept},
    )
    events = []
    with urllib.request.urlopen(request, timeout=30, context=api.ssl_context) as response:
        for line in response:
            events.append(json.loads(line))
            if len(events) == count:
                break
    return events


def test_initial_events_end_with_a_bookmark(tmp_path: Path) -> None:
    quick = SandboxApi(tmp_path / "quick", bookmark_seconds=0.2)
    quick.start()
    try:
        with config.new_client_from_config(str(quick.kubeconfig)) as api_client:
            client.CoreV1Api(api_client).create_namespaced_config_map(
                "default", {"metadata": {"name": "one"}}
            )
        events = _stream(
            quick,
            "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
            3,
        )
        assert [e["type"] for e in events] == ["ADDED", "BOOKMARK", "BOOKMARK"]
        assert events[1]["object"]["metadata"]["annotations"] == {
            "k8s.io/initial-events-end": "true"
        }
        assert (
            events[2]["object"]["metadata"]["resourceVersion"]
            == events[0]["object"]["metadata"]["resourceVersion"]
        )
    finally:
        quick.stop()


def test_watch_as_table_for_kubectl(sandbox_api: SandboxApi) -> None:
    with config.new_client_from_config(str(sandbox_api.kubeconfig)) as api_client:
        client.CoreV1Api(api_client).create_namespaced_config_map(
            "default", {"metadata": {"name": "tab"}, "data": {"a": "1", "b": "2"}}
        )
    [event] = _stream(sandbox_api, "", 1, accept="application/json;as=Table;v=v1;g=meta.k8s.io")
    table = event["object"]
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["tab", 2]


def test_watch_on_one_object_url(sandbox_api: SandboxApi) -> None:
    with config.new_client_from_config(str(sandbox_api.kubeconfig)) as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
        core.create_namespaced_config_map("default", {"metadata": {"name": "mine"}})
    request = urllib.request.Request(
        f"{sandbox_api.url}/api/v1/namespaces/default/configmaps/mine?watch=true&timeoutSeconds=1"
    )
    with urllib.request.urlopen(request, timeout=30, context=sandbox_api.ssl_context) as response:
        events = [json.loads(line) for line in response]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "mine")]
