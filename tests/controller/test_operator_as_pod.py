"""The operator as users install it: `helm install` of the chart, the operator in a pod that
finds the API through its in-cluster config and may do only what the chart's RBAC grants."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.controller.conftest import NAMESPACE, REPO, Env, free_port, model_deployment
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow

HELM = Path(sys.prefix) / "tools" / "bin" / "helm"
CHART = REPO / "charts" / "modeldeploy"
RELEASE_NAMESPACE = "modeldeploy-system"
SERVICE_ACCOUNT = f"system:serviceaccount:{RELEASE_NAMESPACE}:modeldeploy"
DEADLINE = 120.0


def _helm(env: Env, home: Path, *args: str) -> str:
    done = subprocess.run(
        [str(HELM), *args],
        env={
            **os.environ,
            "KUBECONFIG": str(env.api.kubeconfig),
            **{
                f"HELM_{kind}_HOME": str(home / kind.lower())
                for kind in ("CACHE", "CONFIG", "DATA")
            },
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _install(env: Env, home: Path, *values: str) -> client.V1Pod:
    # Sandbox pods share the host's network: ports no other process holds.
    ports = ("--set", f"metrics.port={free_port()}", "--set", f"health.port={free_port()}")
    _helm(
        env, home, "install", "modeldeploy", str(CHART), "-n", RELEASE_NAMESPACE,
        "--create-namespace", "--wait", "--timeout=180s", *ports, *values,
    )  # fmt: skip
    (pod,) = env.cluster.core.list_namespaced_pod(
        RELEASE_NAMESPACE, label_selector="app.kubernetes.io/name=modeldeploy"
    ).items
    return pod


def _operator_log(env: Env, pod: client.V1Pod) -> str:
    return str(env.cluster.core.read_namespaced_pod_log(pod.metadata.name, RELEASE_NAMESPACE))


def _events(env: Env, name: str, reason: str) -> list[Any]:
    events = env.cluster.core.list_namespaced_event(
        NAMESPACE, field_selector=f"involvedObject.name={name},reason={reason}"
    ).items
    return list(events)


def _wait_ready(env: Env, pod: client.V1Pod, name: str) -> None:
    """Wait for the resource's phase Ready; a timeout tells what the operator said."""
    try:
        wait_for(lambda: env.status(name).get("phase") == "Ready", f"{name} Ready", DEADLINE)
    except AssertionError as error:
        pods = env.kubectl("get", "pods", "-A", "-o", "wide").stdout
        raise AssertionError(
            f"{error}\nstatus: {env.status(name)}\npods:\n{pods}\n"
            f"operator log:\n{_operator_log(env, pod)[-3000:]}"
        ) from error


def _can_i(env: Env, *args: str) -> bool:
    done = env.kubectl("auth", "can-i", *args, f"--as={SERVICE_ACCOUNT}", check=False)
    return done.stdout.strip().splitlines()[-1] == "yes"


def test_the_helm_installed_operator_reconciles_with_the_charts_rbac_only(
    env: Env, tmp_path: Path
) -> None:
    pod = _install(env, tmp_path / "helm")
    assert pod.spec.service_account_name == "modeldeploy"
    assert pod.status.container_statuses[0].ready
    env.apply(model_deployment("digits", "1", replicas=1))
    _wait_ready(env, pod, "digits")
    assert env.status("digits")["stableVersion"] == "1"
    assert "ml/digits" in _operator_log(env, pod)
    # The chart grants what the operator needs, and no more.
    assert _can_i(env, "create", "deployments.apps", "-n", NAMESPACE)
    assert not _can_i(env, "create", "secrets", "-n", NAMESPACE)
    assert not _can_i(env, "delete", "modeldeployments.modeldeploy.dev", "-n", NAMESPACE)

    # One verb taken away: the operator says what it may not do, and keeps running.
    role = env.kubectl("get", "clusterrole", "modeldeploy", "-o", "json").stdout
    rules = json.loads(role)["rules"]
    for rule in rules:
        if rule.get("apiGroups") == ["apps"] and "deployments" in rule.get("resources", []):
            rule["verbs"] = [verb for verb in rule["verbs"] if verb != "create"]
    patch = json.dumps({"rules": rules})
    env.kubectl("patch", "clusterrole", "modeldeploy", "--type=merge", "-p", patch)
    env.apply(model_deployment("second", "1", replicas=1))
    refused = (
        'deployments.apps is forbidden: User "system:serviceaccount:modeldeploy-system:modeldeploy"'
        ' cannot create resource "deployments" in API group "apps" in the namespace "ml"'
    )
    events = wait_for(
        lambda: _events(env, "second", "Forbidden") or None, "a Forbidden event", DEADLINE
    )
    assert refused in events[0].message
    assert refused in _operator_log(env, pod)
    after = env.cluster.core.read_namespaced_pod(pod.metadata.name, RELEASE_NAMESPACE)
    assert after.status.container_statuses[0].restart_count == 0
    assert after.status.phase == "Running"
    assert env.status("digits")["phase"] == "Ready"  # what was running keeps running


def test_namespace_scope_never_reaches_outside_its_namespaces(env: Env, tmp_path: Path) -> None:
    env.kubectl("create", "namespace", "other")
    pod = _install(
        env,
        tmp_path / "helm",
        "--set",
        "scope=namespace",
        "--set",
        f"watchNamespaces={{{NAMESPACE}}}",
    )
    assert not _can_i(env, "list", "modeldeployments.modeldeploy.dev", "-n", "other")
    assert not _can_i(env, "create", "deployments.apps", "-n", "other")
    assert not _can_i(env, "list", "namespaces")
    assert not _can_i(env, "list", "nodes")
    outside = model_deployment("outside", "1", replicas=1)
    outside["metadata"]["namespace"] = "other"
    env.apply(outside)
    env.apply(model_deployment("digits", "1", replicas=1))
    _wait_ready(env, pod, "digits")
    untouched = env.custom.get_namespaced_custom_object(
        "modeldeploy.dev", "v1alpha1", "other", "modeldeployments", "outside"
    )
    assert "status" not in untouched
    assert not env.cluster.apps.list_namespaced_deployment("other").items
