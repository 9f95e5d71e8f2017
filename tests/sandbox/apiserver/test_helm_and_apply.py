"""helm (v4: server-side apply, protobuf release secrets) and kubectl's server-side apply and
protobuf-encoding `create` commands against the sandbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from tests.sandbox.apiserver.kubectl import Kubectl
from tests.sandbox.apiserver.manifests import crd
from tests.sandbox.conftest import SandboxApi

HELM = Path(sys.prefix) / "tools" / "bin" / "helm"


def _chart(directory: Path) -> Path:
    chart = directory / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "crds").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "crds" / "things.yaml").write_text(yaml.safe_dump(crd("things", "Thing")))
    config = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "{{ .Release.Name }}-settings"},
        "data": {"greeting": "{{ .Values.greeting }}"},
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "{{ .Release.Name }}-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    }
    thing = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "one"},
        "size": 1,
    }
    for name, body in (("config", config), ("role", role), ("thing", thing)):
        (chart / "templates" / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return chart


def _helm(kubectl: Kubectl, *args: str) -> str:
    done = subprocess.run(
        [str(HELM), *args],
        capture_output=True,
        text=True,
        env=kubectl.env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_helm_install_upgrade_uninstall(sandbox_api: SandboxApi, tmp_path: Path) -> None:
    kubectl = Kubectl(sandbox_api)
    chart = _chart(tmp_path)
    _helm(kubectl, "install", "demo", str(chart), "--namespace", "apps", "--create-namespace")
    settings = kubectl.json("get", "configmap", "demo-settings", "-n", "apps")
    assert settings["data"] == {"greeting": "hello"}
    assert kubectl.json("get", "thing", "one", "-n", "apps")["size"] == 1
    assert kubectl.json("get", "clusterrole", "demo-reader")["rules"][0]["verbs"] == ["get"]
    _helm(kubectl, "upgrade", "demo", str(chart), "--namespace", "apps", "--set", "greeting=hi")
    settings = kubectl.json("get", "configmap", "demo-settings", "-n", "apps")
    assert settings["data"] == {"greeting": "hi"}
    assert "deployed" in _helm(kubectl, "status", "demo", "--namespace", "apps")
    _helm(kubectl, "uninstall", "demo", "--namespace", "apps")
    assert "NotFound" in kubectl.fails("get", "configmap", "demo-settings", "-n", "apps")
    secrets = kubectl.json("get", "secrets", "-n", "apps")["items"]
    assert [s for s in secrets if s["type"] == "helm.sh/release.v1"] == []


def test_kubectl_server_side_apply_removes_what_it_no_longer_sets(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    first = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa", "labels": {"a": "1", "b": "2"}},
        "data": {"x": "1", "y": "2"},
    }
    kubectl.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(first))
    # Someone else adds a field: a later apply must keep it.
    kubectl.run("label", "configmap", "ssa", "owner=other")
    second = {**first, "metadata": {"name": "ssa", "labels": {"a": "1"}}, "data": {"x": "3"}}
    kubectl.run("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(second))
    live = kubectl.json("get", "configmap", "ssa")
    assert live["data"] == {"x": "3"}
    assert live["metadata"]["labels"] == {"a": "1", "owner": "other"}
    shown = kubectl.json("get", "configmap", "ssa", "--show-managed-fields")
    managers = [entry["manager"] for entry in shown["metadata"]["managedFields"]]
    assert "kubectl" in managers


def test_kubectl_create_commands_that_send_protobuf(sandbox_api: SandboxApi) -> None:
    kubectl = Kubectl(sandbox_api)
    kubectl.run("create", "namespace", "team")
    kubectl.run("create", "configmap", "settings", "-n", "team", "--from-literal=a=b")
    kubectl.run("create", "secret", "generic", "token", "-n", "team", "--from-literal=t=s3cret")
    assert kubectl.json("get", "configmap", "settings", "-n", "team")["data"] == {"a": "b"}
    secret = kubectl.json("get", "secret", "token", "-n", "team")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"t": "czNjcmV0"}
    kubectl.run("delete", "secret", "token", "-n", "team")
    assert "NotFound" in kubectl.fails("get", "secret", "token", "-n", "team")
