"""The operator process as it runs in production: JSON logs on request, and a resource it
cannot reconcile never stops the others (it is retried with back-off)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.controller.conftest import Env, model_deployment, start_operator, stop_operator
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0


def test_json_logs_and_a_broken_resource_does_not_stop_the_others(env: Env, tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    operator = start_operator(env, log, "--log-format=json")
    try:
        # A pod override the Deployment cannot carry (an image that is a number): every pass
        # over this resource fails, the others go on.
        broken = model_deployment(
            "broken",
            "1",
            serving={"podOverrides": {"containers": [{"name": "server", "image": 5}]}},
        )
        env.apply(broken)
        env.apply(model_deployment("digits", "1"))
        wait_for(
            lambda: env.status("digits").get("phase") == "Ready", "the good one Ready", DEADLINE
        )
        wait_for(
            lambda: 'result="error"' in operator.metrics(), "the failed passes counted", DEADLINE
        )
        assert env.status("broken").get("phase") != "Ready"
    finally:
        stop_operator(operator)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records
    assert len(records) >= len(lines) - 5  # kopf's and ours: JSON, but for a traceback's lines
    assert any("ml/broken" in str(r.get("message")) for r in records)
    assert any("ml/digits" in str(r.get("message")) for r in records)
