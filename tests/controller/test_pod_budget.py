"""A rollout fits a GPU pool with no spare capacity: with `maxSurge: 0` the canary grows only
as the stable shrinks, and the serving pods of all versions never exceed `replicas`."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.controller.conftest import NAMESPACE, Env, OperatorProcess, model_deployment
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 180.0
ON_GPUS: dict[str, Any] = {
    "resources": {"limits": {"nvidia.com/gpu": 1}},
    "nodeSelector": {"pool": "gpu"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}


def _pods(env: Env) -> int:
    pods = env.cluster.core.list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/component=server"
    ).items
    return sum(1 for p in pods if p.status.phase not in ("Succeeded", "Failed"))


@pytest.mark.parametrize("gpus", [4])
def test_replicas_4_max_surge_0_on_exactly_4_gpus(env: Env, operator: OperatorProcess) -> None:
    def resource(version: str) -> dict[str, Any]:
        return model_deployment(
            "digits",
            version,
            replicas=4,
            serving=ON_GPUS,
            steps=[{"weight": 25, "pause": "1s"}, {"weight": 50, "pause": "1s"}],
            rollout={"maxSurge": 0, "progressDeadline": "120s"},
        )

    env.apply(resource("1"))
    wait_for(lambda: env.status("digits").get("phase") == "Ready", "version 1 Ready", DEADLINE)
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(_pods(env))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        env.apply(resource("2"))
        wait_for(
            lambda: env.status("digits").get("stableVersion") == "2",
            "version 2 promoted",
            DEADLINE,
        )
    finally:
        done.set()
        sampler.join(10)
    assert len(samples) > 20
    assert max(samples) <= 4, max(samples)
    assert env.status("digits")["phase"] == "Ready"
