"""The operator is SIGKILLed at each distinct point of a rollout and started again: every time
it converges to the same end state, with exactly one Job per version and compression spec,
and a complete history (level-triggered, nothing kept in memory that matters)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.controller.conftest import (
    NAMESPACE,
    QUANTIZE_ON_GPU,
    Env,
    model_deployment,
    start_operator,
    stop_operator,
)
from tests.sandbox.cluster.conftest import wait_for

pytestmark = pytest.mark.slow
DEADLINE = 120.0
STEPS = [{"weight": 50, "pause": "3s"}]


def _job(env: Env, version: str) -> Any:
    jobs = [
        j for j in env.jobs("digits") if j.metadata.labels["modeldeploy.dev/version"] == version
    ]
    return jobs[0] if jobs else None


def _job_pod_running(env: Env, version: str) -> bool:
    job = _job(env, version)
    if job is None:
        return False
    pods = env.cluster.core.list_namespaced_pod(
        NAMESPACE, label_selector=f"job-name={job.metadata.name}"
    ).items
    return any(p.status.phase == "Running" for p in pods)


def _job_done(env: Env, version: str) -> bool:
    job = _job(env, version)
    return job is not None and any(
        c.type == "Complete" and c.status == "True" for c in job.status.conditions or []
    )


def _canary_created(env: Env) -> bool:
    return any(
        d.metadata.labels["modeldeploy.dev/version"] == "2"
        for d in env.deployments("digits").values()
    )


def test_killed_at_every_point_of_a_rollout_it_converges(env: Env, tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    operator = start_operator(env.api.kubeconfig, log)

    def promoted() -> bool:
        return env.status("digits").get("stableVersion") == "2"

    # Each point is "reached or already passed": a short phase that went by while the
    # operator was down is killed at the next moment instead of waited for forever.
    points: list[tuple[str, Callable[[], bool]]] = [
        ("v1 Job created", lambda: _job(env, "1") is not None),
        ("v1 Job running", lambda: _job_pod_running(env, "1") or _job_done(env, "1")),
        ("v1 Job done", lambda: _job_done(env, "1")),
        ("v1 Ready", lambda: env.status("digits").get("phase") == "Ready"),
        ("v2 Job created", lambda: _job(env, "2") is not None),
        ("v2 Job done", lambda: _job_done(env, "2")),
        ("canary created", lambda: _canary_created(env)),
        (
            "mid-step",
            lambda: (
                bool(env.status("digits").get("stepReadyAt"))
                or env.status("digits").get("currentStep") == len(STEPS)
                or promoted()
            ),
        ),
        ("promoting", lambda: env.status("digits").get("currentStep") == len(STEPS) or promoted()),
    ]
    killed_at: list[str] = []
    try:
        env.apply(model_deployment("digits", "1", compression=QUANTIZE_ON_GPU, steps=STEPS))
        for name, reached in points:
            if name == "v2 Job created":
                env.apply(model_deployment("digits", "2", compression=QUANTIZE_ON_GPU, steps=STEPS))
            wait_for(lambda reached=reached: reached() or None, name, DEADLINE)  # type: ignore[misc]
            stop_operator(operator, signal.SIGKILL)
            killed_at.append(name)
            operator = start_operator(env.api.kubeconfig, log)
        wait_for(
            lambda: (
                env.status("digits").get("stableVersion") == "2"
                and env.status("digits").get("phase") == "Ready"
            ),
            "version 2 Ready after the restarts",
            DEADLINE,
        )
        # The promotion's status is written before version 1's last scale-down.
        wait_for(
            lambda: (
                {
                    d.metadata.labels["modeldeploy.dev/version"]: d.spec.replicas
                    for d in env.deployments("digits").values()
                }
                == {"1": 0, "2": 2}
            ),
            "version 1 at 0",
            DEADLINE,
        )
    finally:
        stop_operator(operator)
    assert len(killed_at) >= 6
    status = env.status("digits")
    jobs = env.jobs("digits")
    assert sorted(j.metadata.labels["modeldeploy.dev/version"] for j in jobs) == ["1", "2"]
    assert len({j.metadata.name for j in jobs}) == 2
    history = [(h["version"], h["outcome"]) for h in status["history"]]
    assert history == [("2", "Promoted"), ("1", "Promoted")]
    assert status["observedGeneration"] == env.resource("digits")["metadata"]["generation"]
