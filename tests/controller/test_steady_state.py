"""Once Ready the operator is quiet (no write to the API server for a minute) and a GitOps
tool sees no drift: `kubectl diff` of the applied file is empty and a server-side apply by
the user's field manager has no conflict."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from tests.controller.conftest import NAMESPACE, Env, OperatorProcess, model_deployment
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0
IDLE_SECONDS = 60.0


def _versions(env: Env) -> dict[str, str]:
    """resourceVersion of every object in the namespace, by kind/name."""
    core, apps = env.cluster.core, client.AppsV1Api(env.cluster.api)
    lists = [
        core.list_namespaced_pod(NAMESPACE),
        core.list_namespaced_service(NAMESPACE),
        core.list_namespaced_endpoints(NAMESPACE),
        core.list_namespaced_event(NAMESPACE),
        core.list_namespaced_persistent_volume_claim(NAMESPACE),
        apps.list_namespaced_deployment(NAMESPACE),
        apps.list_namespaced_replica_set(NAMESPACE),
        client.BatchV1Api(env.cluster.api).list_namespaced_job(NAMESPACE),
    ]
    found = {
        f"{type(item).__name__}/{item.metadata.name}": item.metadata.resource_version
        for listed in lists
        for item in listed.items
    }
    resource = env.resource("digits")
    found["ModelDeployment/digits"] = resource["metadata"]["resourceVersion"]
    return found


def _writes(operator: OperatorProcess) -> float:
    pattern = r"^modeldeploy_operator_api_writes_total\{[^}]*\} ([0-9.e+]+)$"
    return sum(float(v) for v in re.findall(pattern, operator.metrics(), re.MULTILINE))


def test_ready_is_quiet_and_shows_no_drift(
    env: Env, operator: OperatorProcess, tmp_path: Path
) -> None:
    steps = [{"weight": 50, "pause": "1s"}]
    env.apply(model_deployment("digits", "1", steps=steps))
    wait_for(lambda: env.status("digits").get("phase") == "Ready", "version 1 Ready", DEADLINE)
    applied = tmp_path / "digits.yaml"
    applied.write_text(yaml.safe_dump(model_deployment("digits", "2", steps=steps)))
    env.kubectl("apply", "-f", str(applied))
    wait_for(
        lambda: (
            env.status("digits").get("stableVersion") == "2"
            and env.status("digits").get("phase") == "Ready"
        ),
        "version 2 Ready",
        DEADLINE,
    )

    diff = env.kubectl("diff", "-f", str(applied), check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    server_side = env.kubectl(
        "apply", "--server-side", "--field-manager=gitops", "-f", str(applied), check=False
    )
    assert server_side.returncode == 0, server_side.stderr
    assert "conflict" not in server_side.stderr.lower()

    # Let the last reactions settle (the apply above, pods' final probes), then watch.
    wait_for(lambda: _versions(env) == _versions(env) or None, "a settled namespace", 30)
    before, writes = _versions(env), _writes(operator)
    deadline = time.monotonic() + IDLE_SECONDS
    while time.monotonic() < deadline:
        assert _writes(operator) == writes
        time.sleep(1.0)  # sampling interval of the quiet window, not a wait for a condition
    after = _versions(env)
    changed = {k: (before.get(k), v) for k, v in after.items() if before.get(k) != v}
    assert not changed, changed
    assert _writes(operator) == writes
