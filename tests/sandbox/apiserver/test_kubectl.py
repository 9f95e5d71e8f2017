"""kubectl v1.35 drives the sandbox: apply, get, watch, describe, patch, label, scale, delete."""

from __future__ import annotations

import queue
import threading
import time

import pytest
import yaml
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.conftest import SandboxApi

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        ports: [{containerPort: 80}]
      - name: side
        image: busybox:1
"""


def _configmap(name: str) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})


@pytest.fixture
def kubectl(sandbox_api: SandboxApi) -> Kubectl:
    return Kubectl(sandbox_api)


def test_apply_twice_changes_the_one_object(kubectl: Kubectl) -> None:
    assert "deployment.apps/web created" in kubectl.run("apply", "-f", "-", stdin=DEPLOYMENT)
    changed = yaml.safe_load(DEPLOYMENT)
    changed["spec"]["replicas"] = 3
    main = changed["spec"]["template"]["spec"]["containers"][0]
    main["env"] = [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    del changed["spec"]["template"]["spec"]["containers"][1]
    out = kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(changed))
    assert "deployment.apps/web configured" in out
    assert "unchanged" in kubectl.run("apply", "-f", "-", stdin=yaml.safe_dump(changed))
    listed = kubectl.json("get", "deployments")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["web"]
    web = listed["items"][0]
    assert web["spec"]["replicas"] == 3
    assert web["metadata"]["generation"] == 2
    containers = web["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["main"]
    assert containers[0]["env"] == [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]


def test_get_describe_label_annotate_patch_scale_delete(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=DEPLOYMENT)
    as_yaml = yaml.safe_load(kubectl.run("get", "deployment", "web", "-o", "yaml"))
    assert as_yaml["metadata"]["uid"]
    table = kubectl.run("get", "deployments")
    assert table.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.split("\n")[1].split()[:2] == ["web", "0/2"]
    kubectl.run("label", "deployment", "web", "tier=front")
    kubectl.run("annotate", "deployment", "web", "owner=ml-team")
    assert kubectl.run("get", "deploy", "-l", "tier=front", "-o", "name") == "deployment.apps/web\n"
    kubectl.run(
        "patch",
        "deployment",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:1.26"}]}}}}',
    )
    kubectl.run("scale", "deployment", "web", "--replicas=5")
    web = kubectl.json("get", "deployment", "web")
    assert web["metadata"]["labels"]["tier"] == "front"
    assert web["metadata"]["annotations"]["owner"] == "ml-team"
    images = {c["name"]: c["image"] for c in web["spec"]["template"]["spec"]["containers"]}
    assert images == {"main": "nginx:1.26", "side": "busybox:1"}
    assert web["spec"]["replicas"] == 5
    described = kubectl.run("describe", "deployment", "web")
    assert "Name:" in described
    assert "tier=front" in described
    assert "nginx:1.26" in described
    kubectl.run("label", "deployment", "web", "tier-")
    assert "tier" not in kubectl.json("get", "deployment", "web")["metadata"]["labels"]
    assert 'deployment.apps "web" deleted' in kubectl.run("delete", "deployment", "web")
    assert "NotFound" in kubectl.fails("get", "deployment", "web")


def test_describe_pod_shows_its_events(kubectl: Kubectl) -> None:
    kubectl.run("run", "solo", "--image=busybox:1", "--restart=Never")
    pod = kubectl.json("get", "pod", "solo")
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "solo.1"},
        "involvedObject": {
            "kind": "Pod",
            "name": "solo",
            "namespace": "default",
            "uid": pod["metadata"]["uid"],
        },
        "reason": "Testing",
        "message": "an event for describe",
        "type": "Normal",
    }
    kubectl.run("create", "-f", "-", stdin=yaml.safe_dump(event))
    described = kubectl.run("describe", "pod", "solo")
    assert "Testing" in described
    assert "an event for describe" in described


def test_get_watch_sees_later_changes(kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=_configmap("first"))
    watcher = kubectl.popen("get", "configmaps", "--watch", "--output-watch-events")
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in watcher.stdout or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if text in lines.get(timeout=1):
                    return
            except queue.Empty:
                continue
        raise AssertionError(f"kubectl get -w never printed {text!r}")

    try:
        wait_for("first")
        kubectl.run("apply", "-f", "-", stdin=_configmap("second"))
        wait_for("second")
        kubectl.run("delete", "configmap", "first")
        wait_for("DELETED")
    finally:
        watcher.kill()
        watcher.wait()


def test_api_resources_lists_core_apps_batch(kubectl: Kubectl) -> None:
    out = kubectl.run("api-resources")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    for name in ("pods", "deployments", "jobs", "leases", "customresourcedefinitions", "events"):
        assert name in rows
    assert rows["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]


def test_kubectl_wait_uses_a_watch_list(kubectl: Kubectl) -> None:
    """kubectl 1.35's informers ask for the initial events and their end bookmark."""
    kubectl.run("apply", "-f", "-", stdin=_configmap("flag"))
    waiter = kubectl.popen(
        "wait", "--for=jsonpath={.data.ready}=yes", "configmap/flag", "--timeout=30s"
    )
    kubectl.run("patch", "configmap", "flag", "--type=merge", "-p", '{"data":{"ready":"yes"}}')
    out, _ = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, out
    assert "condition met" in out


def test_unknown_top_level_fields_of_built_in_kinds(kubectl: Kubectl) -> None:
    typo = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "typo"},
        "dta": {"a": "b"},
    }
    refused = kubectl.fails("apply", "-f", "-", stdin=yaml.safe_dump(typo))
    assert 'strict decoding error: unknown field "dta"' in refused
    warned = kubectl.run(
        "apply", "--validate=warn", "-f", "-", stdin=yaml.safe_dump(typo), check=False
    )
    assert 'unknown field "dta"' in warned
    assert "dta" not in kubectl.json("get", "configmap", "typo")
