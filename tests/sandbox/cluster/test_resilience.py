"""The components ride out an API server restart: watches resume, pods keep running."""

from __future__ import annotations

from typing import Any

import pytest
from tests.sandbox.cluster.conftest import Cluster, wait_for


def sleeper(name: str) -> dict[str, Any]:
    container = {"name": "c", "image": "modeldeploy/modeldeploy", "command": ["sleep", "300"]}
    spec = {"terminationGracePeriodSeconds": 2, "containers": [container]}
    return {"metadata": {"name": name}, "spec": spec}


def running(cluster: Cluster, name: str) -> bool:
    return bool(cluster.core.read_namespaced_pod(name, "default").status.phase == "Running")


@pytest.mark.slow
def test_an_api_server_restart_interrupts_nothing(cluster: Cluster) -> None:
    cluster.core.create_namespaced_pod("default", sleeper("before"))
    wait_for(lambda: running(cluster, "before"), "the first pod running")

    cluster.sandbox.restart()  # same port and state; every watch connection drops

    cluster.core.create_namespaced_pod("default", sleeper("after"))
    wait_for(lambda: running(cluster, "after"), "a pod created after the restart running", 60)
    before = cluster.core.read_namespaced_pod("before", "default").status
    assert before.phase == "Running"
    assert before.container_statuses[0].restart_count == 0
    cluster.core.delete_namespaced_pod("before", "default")
    wait_for(
        lambda: (
            not cluster.core.list_namespaced_pod(
                "default", field_selector="metadata.name=before"
            ).items
        ),
        "the deleted pod gone",
    )
