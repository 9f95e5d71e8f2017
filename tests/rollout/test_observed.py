"""What the planner sees of Jobs, Deployments and pods, boiled down from their API bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from modeldeploy.rollout import labels
from modeldeploy.rollout.observed import JobPhase, job_state, parse_time, revision_state
from tests.rollout.world import summary

UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."


def _job(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "digits-compress-abc"}, "status": {"conditions": list(conditions)}}


def _true(type_: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {"type": type_, "status": "True", "reason": reason, "message": message}


def _pod(
    name: str = "p",
    *,
    created: str = "2026-03-01T12:00:00Z",
    phase: str = "Running",
    ready: bool = False,
    terminated: str | None = None,
    waiting: tuple[str, str] | None = None,
    init_waiting: tuple[str, str] | None = None,
    last_exit: str | None = None,
    unschedulable: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if terminated is not None:
        state["terminated"] = {"exitCode": 1, "message": terminated}
    if waiting is not None:
        state["waiting"] = {"reason": waiting[0], "message": waiting[1]}
    container: dict[str, Any] = {"name": "c", "state": state}
    if last_exit is not None:
        container["lastState"] = {"terminated": {"exitCode": 1, "message": last_exit}}
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    if unschedulable:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": UNSCHEDULABLE,
            }
        )
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions,
        "containerStatuses": [container],
    }
    if init_waiting is not None:
        reason, message = init_waiting
        status["initContainerStatuses"] = [
            {"name": "fetch", "state": {"waiting": {"reason": reason, "message": message}}}
        ]
    metadata: dict[str, Any] = {"name": name, "creationTimestamp": created}
    if deleting:
        metadata["deletionTimestamp"] = "2026-03-01T12:05:00Z"
    return {"metadata": metadata, "status": status}


# -- Jobs ------------------------------------------------------------------------------------


def test_a_complete_job_carries_the_report_of_its_termination_message() -> None:
    report = summary("sha256:" + "a" * 64)
    pod = _pod(phase="Succeeded", terminated=json.dumps(report))
    state = job_state(_job(_true("Complete")), [pod])
    assert state.phase == JobPhase.SUCCEEDED
    assert state.result == report
    assert not state.gate_failed


def test_the_latest_passing_report_wins_over_earlier_pods() -> None:
    first = _pod("a", created="2026-03-01T12:00:00Z", phase="Failed", terminated="oom")
    second = {**summary("sha256:" + "b" * 64)}
    later = _pod(
        "b", created="2026-03-01T12:01:00Z", phase="Succeeded", terminated=json.dumps(second)
    )
    state = job_state(_job(_true("Complete")), [later, first])
    assert state.result is not None
    assert state.result["digest"] == "sha256:" + "b" * 64


def test_a_complete_job_without_a_report_is_a_failure() -> None:
    state = job_state(_job(_true("Complete")), [_pod(phase="Succeeded")])
    assert state.phase == JobPhase.FAILED
    assert "without a report" in state.message
    not_passed = json.dumps({"passed": False, "digest": None})
    state = job_state(_job(_true("Complete")), [_pod(phase="Succeeded", terminated=not_passed)])
    assert state.phase == JobPhase.FAILED


def test_a_gate_failure_ends_the_job_before_its_retries() -> None:
    gate = "gate failed: accuracy drop 0.0520 > maxDrop 0.0100"
    pods = [
        _pod(phase="Failed", terminated=f"{gate}\n"),
        _pod("retry", created="2026-03-01T12:02:00Z"),
    ]
    state = job_state(_job(), pods)  # the Job itself is still active
    assert state.phase == JobPhase.FAILED
    assert state.gate_failed
    assert state.message == gate


def test_a_failed_job_names_its_pod_message_and_its_condition() -> None:
    failed = _true("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    pod = _pod(phase="Failed", terminated="compression failed: no such file")
    state = job_state(_job(failed), [pod])
    assert state.phase == JobPhase.FAILED
    assert not state.gate_failed
    assert state.message == (
        "compression failed: no such file "
        "(BackoffLimitExceeded: Job has reached the specified backoff limit)"
    )


def test_a_job_past_its_deadline_without_pods() -> None:
    failed = _true("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
    state = job_state(_job(failed), [])
    assert state.phase == JobPhase.FAILED
    assert state.message == "DeadlineExceeded: Job was active longer than specified deadline"


def test_a_running_job_says_why_its_pod_does_not_start() -> None:
    state = job_state(_job(), [_pod(phase="Pending", unschedulable=True)])
    assert state.phase == JobPhase.RUNNING
    assert state.message == f"Unschedulable: {UNSCHEDULABLE}"
    pulling = _pod(phase="Pending", waiting=("ImagePullBackOff", 'Back-off pulling image "x"'))
    state = job_state(_job(), [pulling])
    assert state.message == 'ImagePullBackOff: Back-off pulling image "x"'
    assert job_state(_job(), [_pod()]).message == ""
    # A finished pod's reasons are history, not why the Job waits.
    done = _pod(phase="Failed", waiting=("CrashLoopBackOff", ""))
    assert job_state(_job(), [done]).message == ""


# -- serving revisions -----------------------------------------------------------------------


def _deployment(replicas: int | None = 3) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {
        "metadata": {
            "name": "digits-0123456789",
            "creationTimestamp": "2026-03-01T11:00:00Z",
            "labels": {labels.VERSION: "2", labels.COMPRESSION: "abcdef0123"},
            "annotations": {labels.DIGEST: "sha256:" + "c" * 64},
        },
        "spec": spec,
    }


def test_revision_state_from_the_deployment_and_its_pods() -> None:
    pods = [
        _pod("a", ready=True),
        _pod("b", ready=True, deleting=True),  # terminating: holds a node, gets no traffic
        _pod("c"),
        _pod("d", phase="Succeeded"),  # finished: neither
    ]
    state = revision_state(_deployment(), pods)
    assert (state.name, state.version, state.replicas) == ("digits-0123456789", "2", 3)
    assert state.digest == "sha256:" + "c" * 64
    assert state.compression_key == "abcdef0123"
    assert state.created == "2026-03-01T11:00:00Z"
    assert (state.pods, state.ready) == (3, 1)
    assert state.counted == 3
    assert revision_state(_deployment(replicas=1), pods).counted == 3
    assert revision_state(_deployment(replicas=0), []).replicas == 0
    assert revision_state(_deployment(replicas=None), []).replicas == 1


def test_waiting_reasons_of_pods_that_are_not_ready() -> None:
    pods = [
        _pod("a", waiting=("ImagePullBackOff", 'Back-off pulling image "nope:1"')),
        _pod("b", waiting=("ImagePullBackOff", 'Back-off pulling image "nope:1"')),
        _pod("c", waiting=("CrashLoopBackOff", "back-off 5m0s"), last_exit="model file missing\n"),
        _pod("d", init_waiting=("ErrImagePull", "")),
        _pod("e", phase="Pending", unschedulable=True),
        _pod("f", waiting=("ContainerCreating", "")),  # on its way: not a reason
        _pod("g", ready=True, waiting=("CrashLoopBackOff", "ignored: the pod is ready")),
    ]
    state = revision_state(_deployment(), pods)
    assert state.waiting == (
        'ImagePullBackOff: Back-off pulling image "nope:1"',
        "CrashLoopBackOff: back-off 5m0s",
        "last exit: model file missing",
        "ErrImagePull",
        f"Unschedulable: {UNSCHEDULABLE}",
    )
    assert revision_state(_deployment(), [_pod(ready=True)]).waiting == ()


def test_parse_time() -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_time("2026-03-01T12:00:00Z") == moment
    assert parse_time(moment) is moment
    assert parse_time(None) is None


def test_a_complete_job_whose_pod_status_has_not_arrived_yet_is_still_running() -> None:
    """The Job's Complete and its pod's final status come on separate watches."""
    state = job_state(_job(_true("Complete")), [_pod(phase="Running")])
    assert state.phase == JobPhase.RUNNING
    assert "waiting for the Job's report" in state.message
    assert job_state(_job(_true("Complete")), []).phase == JobPhase.RUNNING
