"""Pod subresources the node agent and scheduler use: binding, status, log; graceful deletion."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.sandbox.apiserver.http import call
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

from modeldeploy.sandbox.apiserver.logs import pod_log_dir
from modeldeploy.sandbox.apiserver.server import POD_LOG_DIR

PODS = "/api/v1/namespaces/default/pods"


def _pod(api: SandboxApi, name: str, containers: tuple[str, ...] = ("main",)) -> dict[str, Any]:
    body = {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": c, "image": "busybox:1"} for c in containers]},
    }
    status, pod = call(api, "POST", PODS, body)
    assert status == 201
    return dict(pod)


def _bind(api: SandboxApi, name: str, node: str) -> tuple[int, Any]:
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name},
        "target": {"kind": "Node", "name": node},
    }
    return call(api, "POST", f"{PODS}/{name}/binding", binding)


def test_binding_assigns_a_node_once(sandbox_api: SandboxApi) -> None:
    _pod(sandbox_api, "p")
    assert _bind(sandbox_api, "p", "node-a")[0] == 201
    _, pod = call(sandbox_api, "GET", f"{PODS}/p")
    assert pod["spec"]["nodeName"] == "node-a"
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled[0]["status"] == "True"
    status, answer = _bind(sandbox_api, "p", "node-b")
    assert (status, answer["reason"]) == (409, "Conflict")


def test_bound_pods_terminate_gracefully_until_the_node_deletes_them(
    sandbox_api: SandboxApi,
) -> None:
    _pod(sandbox_api, "unbound")
    status, _ = call(sandbox_api, "DELETE", f"{PODS}/unbound")
    assert status == 200
    assert call(sandbox_api, "GET", f"{PODS}/unbound")[0] == 404
    _pod(sandbox_api, "bound")
    _bind(sandbox_api, "bound", "node-a")
    status, pod = call(sandbox_api, "DELETE", f"{PODS}/bound")
    assert status == 200  # graceful deletion answers 200 with the pod, as upstream
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    # The node reports the pod stopped, then removes it with grace 0.
    status, _ = call(
        sandbox_api,
        "PATCH",
        f"{PODS}/bound/status",
        {"status": {"phase": "Succeeded"}},
        "application/merge-patch+json",
    )
    assert status == 200
    assert call(sandbox_api, "GET", f"{PODS}/bound")[0] == 200
    status, _ = call(sandbox_api, "DELETE", f"{PODS}/bound", {"gracePeriodSeconds": 0})
    assert status == 200
    assert call(sandbox_api, "GET", f"{PODS}/bound")[0] == 404


def _write_log(api: SandboxApi, pod: dict[str, Any], container: str, run: int, text: str) -> Path:
    meta = pod["metadata"]
    directory = pod_log_dir(api.directory / POD_LOG_DIR, "default", meta["name"], meta["uid"])
    path = directory / container / f"{run}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _log(api: SandboxApi, query: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(
            f"{api.url}{PODS}/{query}", timeout=30, context=api.ssl_context
        ) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["message"]


def test_logs_come_from_the_node_agents_files(sandbox_api: SandboxApi) -> None:
    pod = _pod(sandbox_api, "logger", ("app", "sidecar"))
    status, message = _log(sandbox_api, "logger/log?container=app")
    assert status == 400
    assert "is waiting to start" in message
    _write_log(sandbox_api, pod, "app", 0, "first run\n")
    _write_log(sandbox_api, pod, "app", 1, "one\ntwo\nthree\n")
    assert _log(sandbox_api, "logger/log?container=app") == (200, "one\ntwo\nthree\n")
    assert _log(sandbox_api, "logger/log?container=app&tailLines=2") == (200, "two\nthree\n")
    assert _log(sandbox_api, "logger/log?container=app&limitBytes=3") == (200, "one")
    assert _log(sandbox_api, "logger/log?container=app&previous=true") == (200, "first run\n")
    status, message = _log(sandbox_api, "logger/log")
    assert status == 400
    assert "choose one of: [app sidecar]" in message
    status, message = _log(sandbox_api, "logger/log?container=nope")
    assert status == 400


def test_kubectl_logs_follow_streams_until_the_pod_finishes(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    pod = _pod(sandbox_api, "runner")
    path = _write_log(sandbox_api, pod, "main", 0, "started\n")
    assert kubectl.run("logs", "runner") == "started\n"
    follower = kubectl.popen("logs", "-f", "runner")
    assert follower.stdout is not None
    assert follower.stdout.readline() == "started\n"
    with path.open("a") as log:
        log.write("working\n")
    call(
        sandbox_api,
        "PATCH",
        f"{PODS}/runner/status",
        {"status": {"phase": "Succeeded"}},
        "application/merge-patch+json",
    )
    out, _ = follower.communicate(timeout=30)
    assert out == "working\n"
