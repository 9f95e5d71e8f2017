"""Stopping and starting the sandbox keeps objects, resourceVersions and watch history."""

from __future__ import annotations

from kubernetes import client, config, watch
from tests.sandbox.conftest import SandboxApi


def _core(api: SandboxApi) -> tuple[client.ApiClient, client.CoreV1Api]:
    api_client = config.new_client_from_config(str(api.kubeconfig))
    return api_client, client.CoreV1Api(api_client)


def test_restart_keeps_objects_versions_and_watch_history(sandbox_api: SandboxApi) -> None:
    api_client, core = _core(sandbox_api)
    kept = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "kept"}, "data": {"a": "1"}}
    )
    last_seen = kept.metadata.resource_version
    # A change the watcher has not seen yet when the server stops.
    core.create_namespaced_config_map("default", {"metadata": {"name": "unseen"}})
    api_client.close()

    sandbox_api.restart()

    api_client, core = _core(sandbox_api)
    again = core.read_namespaced_config_map("kept", "default")
    assert again.data == {"a": "1"}
    assert again.metadata.uid == kept.metadata.uid
    later = core.create_namespaced_config_map("default", {"metadata": {"name": "after"}})
    assert int(later.metadata.resource_version) > int(last_seen)
    # A watch re-established from the last version it saw gets what it missed, then more.
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map, "default", resource_version=last_seen, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            stream.stop()
    assert seen == [("ADDED", "unseen"), ("ADDED", "after")]
    api_client.close()
