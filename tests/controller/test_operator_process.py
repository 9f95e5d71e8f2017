"""The operator process as it runs in production: JSON logs on request, and a resource whose
serving pods the API server would refuse says so by field while the others go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.controller.conftest import Env, model_deployment, start_operator, stop_operator
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0


def test_json_logs_and_a_bad_pod_override_is_refused_by_field(env: Env, tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    operator = start_operator(env.api.kubeconfig, log, "--log-format=json")
    try:
        # Pod overrides the Deployment cannot carry: an image that is a number, a typo.
        broken = model_deployment(
            "broken",
            "1",
            serving={
                "podOverrides": {
                    "containers": [{"name": "server", "image": 5}],
                    "nodeSelecter": {"pool": "gpu"},
                }
            },
        )
        env.apply(broken)
        env.apply(model_deployment("digits", "1"))
        wait_for(
            lambda: env.status("digits").get("phase") == "Ready", "the good one Ready", DEADLINE
        )
        accepted = wait_for(
            lambda: next(
                (
                    c
                    for c in env.status("broken").get("conditions") or []
                    if c["type"] == "Accepted"
                ),
                None,
            ),
            "the broken one's Accepted condition",
            DEADLINE,
        )
        assert accepted["status"] == "False", env.status("broken")
        assert "spec.serving.podOverrides: containers.0.image" in accepted["message"]
        assert "spec.serving.podOverrides: nodeSelecter" in accepted["message"]
        assert env.status("broken")["phase"] == "Failed"
        assert not env.deployments("broken")
    finally:
        stop_operator(operator)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records
    assert len(records) >= len(lines) - 5  # kopf's and ours: JSON, but for a traceback's lines
    assert any("ml/digits" in str(r.get("message")) for r in records)
