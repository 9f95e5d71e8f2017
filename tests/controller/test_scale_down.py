"""Serving pods that go away fail no request: a deleted pod keeps answering until the Service
has stopped sending it requests (the endpoints controller and the proxy follow the deletion by
watch, while the node agent signals the server at the same moment)."""

from __future__ import annotations

import numpy as np
import pytest

from modeldeploy.demo_traffic import Traffic
from tests.controller.conftest import Env, OperatorProcess, model_deployment
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0


def _settled(env: Env, replicas: int) -> bool:
    """`replicas` ready serving pods and none terminating."""
    pods = env.serving_pods("digits")
    ready = [
        p
        for p in pods
        if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    return len(pods) == len(ready) == replicas


def test_scaling_down_under_traffic_fails_no_request(env: Env, operator: OperatorProcess) -> None:
    env.apply(model_deployment("digits", "1", replicas=3))
    wait_for(lambda: env.status("digits").get("phase") == "Ready", "version 1 Ready", DEADLINE)
    wait_for(lambda: _settled(env, 3), "3 serving pods", DEADLINE)
    with np.load(env.digits.val) as data:
        rows = np.asarray(data["inputs"][:1], dtype=np.float32)
    # Back to back, a new connection each: requests reach every pod up to its deletion.
    traffic = Traffic(env.service_url("digits"), "digits", rows, pause=0.0).start()
    try:
        for replicas in (1, 3, 1):
            env.apply(model_deployment("digits", "1", replicas=replicas))
            wait_for(lambda n=replicas: _settled(env, n), f"{replicas} serving pods", DEADLINE)  # type: ignore[misc]
    finally:
        traffic.stop()
    assert traffic.answered["1"] > 100
    assert not traffic.failures, traffic.failures
