"""Job decisions: retries with back-off, the backoff limit, deadlines, completion, TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy.sandbox.controllers.clock import format_time
from modeldeploy.sandbox.controllers.jobplan import Backoff, plan_job

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
BACKOFF = Backoff(base_seconds=10, max_seconds=360)


def job(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "j", "namespace": "default"},
        "spec": {"template": {"spec": {"restartPolicy": "Never"}}, **spec},
        "status": status or {},
    }


def pod(
    name: str, phase: str, finished: datetime | None = None, restarts: int = 0
) -> dict[str, Any]:
    state = {"terminated": {"finishedAt": format_time(finished)}} if finished else {"running": {}}
    return {
        "metadata": {"name": name},
        "status": {
            "phase": phase,
            "containerStatuses": [{"state": state, "restartCount": restarts}],
        },
    }


def kinds(plan: Any) -> dict[str, str]:
    return {c["type"]: c.get("reason", "") for c in plan.status.get("conditions", [])}


def test_a_new_job_starts_one_pod_and_records_its_start() -> None:
    plan = plan_job(job(), [], NOW, BACKOFF)
    assert plan.create == 1
    assert plan.status["startTime"] == format_time(NOW)


def test_a_failed_pod_is_replaced_after_the_exponential_backoff() -> None:
    started = {"startTime": format_time(NOW - timedelta(minutes=1))}
    failed = [
        pod("a", "Failed", NOW - timedelta(seconds=5)),
        pod("b", "Failed", NOW - timedelta(seconds=4)),
    ]
    plan = plan_job(job(started, backoffLimit=6), failed, NOW, BACKOFF)
    assert plan.create == 0  # second failure: wait 20 s after the last one
    assert plan.requeue_after is not None
    assert 15 < plan.requeue_after <= 16
    later = plan_job(job(started, backoffLimit=6), failed, NOW + timedelta(seconds=17), BACKOFF)
    assert later.create == 1


def test_failures_past_the_backoff_limit_fail_the_job() -> None:
    started = {"startTime": format_time(NOW - timedelta(minutes=1))}
    failed = [pod(n, "Failed", NOW - timedelta(seconds=30)) for n in "abc"]
    plan = plan_job(job(started, backoffLimit=2), failed, NOW, BACKOFF)
    assert plan.create == 0
    assert kinds(plan) == {
        "FailureTarget": "BackoffLimitExceeded",
        "Failed": "BackoffLimitExceeded",
    }
    assert plan.status["failed"] == 3
    assert "completionTime" not in plan.status


def test_restarts_count_as_failures_with_on_failure() -> None:
    started = {"startTime": format_time(NOW)}
    spec = {"template": {"spec": {"restartPolicy": "OnFailure"}}}
    plan = plan_job(
        job(started, backoffLimit=1, **spec), [pod("a", "Running", restarts=2)], NOW, BACKOFF
    )
    assert plan.delete == ["a"]
    assert kinds(plan) == {"FailureTarget": "BackoffLimitExceeded"}  # Failed once "a" is gone


def test_the_deadline_stops_running_pods_before_failing() -> None:
    started = {"startTime": format_time(NOW - timedelta(seconds=11))}
    plan = plan_job(job(started, activeDeadlineSeconds=10), [pod("a", "Running")], NOW, BACKOFF)
    assert plan.delete == ["a"]
    assert kinds(plan) == {"FailureTarget": "DeadlineExceeded"}
    gone = plan_job(job(plan.status, activeDeadlineSeconds=10), [], NOW, BACKOFF)
    assert kinds(gone)["Failed"] == "DeadlineExceeded"
    early = plan_job(
        job({"startTime": format_time(NOW)}, activeDeadlineSeconds=10),
        [pod("a", "Running")],
        NOW,
        BACKOFF,
    )
    assert early.delete == []
    assert early.requeue_after is not None
    assert 9.9 < early.requeue_after <= 10


def test_success_completes_and_ttl_deletes_later() -> None:
    started = {"startTime": format_time(NOW - timedelta(seconds=3))}
    plan = plan_job(
        job(started, ttlSecondsAfterFinished=30), [pod("a", "Succeeded", NOW)], NOW, BACKOFF
    )
    assert kinds(plan) == {
        "SuccessCriteriaMet": "CompletionsReached",
        "Complete": "CompletionsReached",
    }
    assert plan.status["completionTime"] == format_time(NOW)
    assert plan.requeue_after is not None
    finished = job(plan.status, ttlSecondsAfterFinished=30)
    assert not plan_job(finished, [], NOW + timedelta(seconds=29), BACKOFF).delete_job
    assert plan_job(finished, [], NOW + timedelta(seconds=31), BACKOFF).delete_job


def test_parallel_completions_start_up_to_parallelism() -> None:
    plan = plan_job(job(completions=5, parallelism=2), [pod("a", "Succeeded", NOW)], NOW, BACKOFF)
    assert plan.create == 2
    assert plan.status["succeeded"] == 1
