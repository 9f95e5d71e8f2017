"""The `kubernetes` Python client against the sandbox: CRUD, selectors, paging, conflicts."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from tests.sandbox.conftest import SandboxApi

MERGE = "application/merge-patch+json"


@pytest.fixture
def api(sandbox_api: SandboxApi) -> Iterator[client.ApiClient]:
    with config.new_client_from_config(str(sandbox_api.kubeconfig)) as api_client:
        yield api_client


def _pod(name: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": "busybox:1"}]},
    }


def test_create_get_update_delete_configmap(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "settings"}, "data": {"a": "1"}}
    )
    assert created.metadata.uid
    assert int(created.metadata.resource_version) > 0
    created.data["a"] = "2"
    updated = core.replace_namespaced_config_map("settings", "default", created)
    assert updated.data == {"a": "2"}
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    assert core.read_namespaced_config_map("settings", "default").data == {"a": "2"}
    core.delete_namespaced_config_map("settings", "default")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("settings", "default")
    assert missing.value.status == 404


def test_duplicate_create_is_409_already_exists(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map("default", {"metadata": {"name": "once"}})
    with pytest.raises(ApiException) as duplicate:
        core.create_namespaced_config_map("default", {"metadata": {"name": "once"}})
    assert duplicate.value.status == 409
    assert '"reason":"AlreadyExists"' in duplicate.value.body


def test_stale_update_is_409_conflict(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    first = core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    stale_version = first.metadata.resource_version
    first.data = {"k": "v"}
    core.replace_namespaced_config_map("cm", "default", first)
    first.metadata.resource_version = stale_version
    first.data = {"k": "lost"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cm", "default", first)
    assert conflict.value.status == 409
    assert '"reason":"Conflict"' in conflict.value.body
    assert core.read_namespaced_config_map("cm", "default").data == {"k": "v"}


def test_label_and_field_selectors(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name, labels in (
        ("a", {"app": "web", "tier": "front"}),
        ("b", {"app": "web", "tier": "back"}),
        ("c", {"app": "db"}),
    ):
        core.create_namespaced_pod("default", _pod(name, labels))

    def names(**selectors: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("default", **selectors).items]

    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app==web,tier!=front") == ["b"]
    assert names(label_selector="tier in (front,back)") == ["a", "b"]
    assert names(label_selector="tier notin (front)") == ["b", "c"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(label_selector="!tier") == ["c"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="status.phase=Pending,metadata.name!=a") == ["b", "c"]
    with pytest.raises(ApiException) as unsupported:
        names(field_selector="spec.image=x")
    assert unsupported.value.status == 400
    assert "field label not supported" in unsupported.value.body


def test_limit_and_continue_page_through_everything(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for index in range(7):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map("default", limit=3, _continue=token)
        seen += [item.metadata.name for item in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert pages == 3
    assert seen == [f"cm-{index}" for index in range(7)]


def test_generate_name_and_dry_run(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    made = core.create_namespaced_config_map("default", {"metadata": {"generateName": "job-"}})
    assert made.metadata.name.startswith("job-")
    assert len(made.metadata.name) == len("job-") + 5
    dry = core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    assert dry.metadata.name == "dry"
    names = [c.metadata.name for c in core.list_namespaced_config_map("default").items]
    assert "dry" not in names


def test_status_subresource_and_generation(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1"}]},
            },
        },
        "status": {"replicas": 9},
    }
    created = apps.create_namespaced_deployment("default", body)
    assert created.metadata.generation == 1
    assert not created.status.replicas
    # A status write changes status only and leaves the generation alone.
    status = apps.patch_namespaced_deployment_status(
        "web", "default", {"status": {"replicas": 1}, "spec": {"replicas": 5}}, _content_type=MERGE
    )
    assert status.status.replicas == 1
    assert status.spec.replicas == 1
    assert status.metadata.generation == 1
    # A spec write bumps the generation and ignores status.
    spec = apps.patch_namespaced_deployment(
        "web", "default", {"spec": {"replicas": 2}, "status": {"replicas": 7}}, _content_type=MERGE
    )
    assert spec.metadata.generation == 2
    assert spec.status.replicas == 1
    # Metadata writes do not bump it.
    labelled = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"x": "y"}}}, _content_type=MERGE
    )
    assert labelled.metadata.generation == 2


def test_invalid_object_is_422_naming_the_field(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "x"}]}}
        )
    assert invalid.value.status == 422
    assert "spec.containers[0].image: Required value" in invalid.value.body
    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Not_Valid"}})
    assert bad_name.value.status == 422
    assert '"field":"metadata.name"' in bad_name.value.body


def test_missing_namespace_is_404(api: client.ApiClient) -> None:
    with pytest.raises(ApiException) as missing:
        client.CoreV1Api(api).create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}})
    assert missing.value.status == 404
    assert 'namespaces \\"nowhere\\" not found' in missing.value.body


def test_twenty_concurrent_writers_lose_no_update(sandbox_api: SandboxApi) -> None:
    """Each writer increments a counter with optimistic concurrency, retrying on 409."""
    setup = config.new_client_from_config(str(sandbox_api.kubeconfig))
    client.CoreV1Api(setup).create_namespaced_config_map(
        "default", {"metadata": {"name": "counter"}, "data": {"n": "0"}}
    )
    writers, increments = 20, 5
    failures: list[BaseException] = []

    def work() -> None:
        try:
            with config.new_client_from_config(str(sandbox_api.kubeconfig)) as own:
                core = client.CoreV1Api(own)
                done = 0
                while done < increments:
                    current = core.read_namespaced_config_map("counter", "default")
                    current.data["n"] = str(int(current.data["n"]) + 1)
                    try:
                        core.replace_namespaced_config_map("counter", "default", current)
                        done += 1
                    except ApiException as error:
                        if error.status != 409:
                            raise
        except BaseException as error:  # collected and re-raised in the test thread
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    final = client.CoreV1Api(setup).read_namespaced_config_map("counter", "default")
    assert final.data["n"] == str(writers * increments)
    setup.close()


def test_delete_collection_with_a_selector(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"team": team}}}
        )
    core.delete_collection_namespaced_config_map("default", label_selector="team=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]


def test_events_api_and_core_events_are_the_same_objects(api: client.ApiClient) -> None:
    pod = client.CoreV1Api(api).create_namespaced_pod("default", _pod("watched"))
    client.EventsV1Api(api).create_namespaced_event(
        "default",
        {
            "metadata": {"name": "watched.1"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "example.com/controller",
            "reportingInstance": "one",
            "action": "Check",
            "reason": "Checked",
            "note": "looked at it",
            "type": "Normal",
            "regarding": {
                "kind": "Pod",
                "name": "watched",
                "namespace": "default",
                "uid": pod.metadata.uid,
            },
        },
    )
    core_events = client.CoreV1Api(api).list_namespaced_event(
        "default", field_selector=f"involvedObject.uid={pod.metadata.uid}"
    )
    [event] = core_events.items
    assert event.message == "looked at it"
    assert event.reporting_component == "example.com/controller"
    assert event.involved_object.name == "watched"
    again = client.EventsV1Api(api).read_namespaced_event("watched.1", "default")
    assert again.note == "looked at it"
    assert again.regarding.uid == pod.metadata.uid


def test_secret_string_data_and_default_service_accounts(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    secret = core.create_namespaced_secret(
        "default", {"metadata": {"name": "creds"}, "stringData": {"user": "admin"}}
    )
    assert secret.data == {"user": "YWRtaW4="}
    assert secret.string_data is None
    assert secret.type == "Opaque"
    core.create_namespace({"metadata": {"name": "fresh"}})
    accounts = core.list_namespaced_service_account("fresh").items
    assert [a.metadata.name for a in accounts] == ["default"]
