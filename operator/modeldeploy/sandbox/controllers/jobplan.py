"""Pure Job planning: which pods to start or stop, and the Job's status.

Follows the Kubernetes Job controller for non-indexed Jobs: failures past
`backoffLimit` (pod failures, plus container restarts with restartPolicy
OnFailure) or running past `activeDeadlineSeconds` first add `FailureTarget`,
stop the active pods, and add `Failed` once no pod is left running; enough
successes add `SuccessCriteriaMet` then `Complete`. Replacement pods wait an
exponential back-off after each failure. `ttlSecondsAfterFinished` deletes a
finished Job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from modeldeploy.sandbox.controllers.clock import format_time, parse_time
from modeldeploy.sandbox.controllers.conditions import find_condition, set_condition

Obj = Mapping[str, Any]

BACKOFF_LIMIT = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS = ("CompletionsReached", "Reached expected number of succeeded pods")


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 10.0
    max_seconds: float = 360.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.base_seconds * 2 ** (failures - 1), self.max_seconds))


@dataclass
class JobPlan:
    status: dict[str, Any]
    create: int = 0
    delete: list[str] = field(default_factory=list)
    delete_job: bool = False
    requeue_after: float | None = None

    def wake_within(self, seconds: float) -> None:
        seconds = max(seconds, 0.05)
        self.requeue_after = (
            seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        )


def _is_true(status: Obj, kind: str) -> bool:
    condition = find_condition(status.get("conditions"), kind)
    return condition is not None and condition.get("status") == "True"


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _restarts(pod: Obj) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


def _is_ready(pod: Obj) -> bool:
    return _is_true(pod.get("status") or {}, "Ready")


def _finished_at(pod: Obj) -> datetime | None:
    latest: datetime | None = None
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        moment = parse_time(terminated.get("finishedAt"))
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return latest


def _finish_time(status: Obj) -> datetime | None:
    for kind in ("Complete", "Failed"):
        condition = find_condition(status.get("conditions"), kind)
        if condition is not None and condition.get("status") == "True":
            return parse_time(condition.get("lastTransitionTime"))
    return None


def _plan_ttl(spec: Obj, status: dict[str, Any], now: datetime) -> JobPlan:
    plan = JobPlan(status)
    ttl = spec.get("ttlSecondsAfterFinished")
    finished = _finish_time(status)
    if ttl is None or finished is None:
        return plan
    remaining = (finished + timedelta(seconds=int(ttl)) - now).total_seconds()
    if remaining <= 0:
        plan.delete_job = True
    else:
        plan.wake_within(remaining)
    return plan


def plan_job(job: Obj, pods: Sequence[Obj], now: datetime, backoff: Backoff) -> JobPlan:
    """The next actions for `job` given the pods it controls (terminal ones included)."""
    spec = job.get("spec") or {}
    status: dict[str, Any] = dict(job.get("status") or {})
    if _is_true(status, "Complete") or _is_true(status, "Failed"):
        return _plan_ttl(spec, status, now)
    conditions: list[dict[str, Any]] = list(status.get("conditions") or [])
    running = [p for p in pods if _phase(p) not in ("Succeeded", "Failed")]
    active = [p for p in running if not (p.get("metadata") or {}).get("deletionTimestamp")]
    succeeded = max(int(status.get("succeeded") or 0), sum(_phase(p) == "Succeeded" for p in pods))
    failed = max(int(status.get("failed") or 0), sum(_phase(p) == "Failed" for p in pods))
    plan = JobPlan(status)
    if spec.get("suspend"):
        plan.delete = [p["metadata"]["name"] for p in active]
        conditions = set_condition(
            conditions, "Suspended", True, now, "JobSuspended", "Job suspended"
        )
        status.pop("startTime", None)
        active = []
    else:
        if find_condition(conditions, "Suspended") is not None:
            conditions = set_condition(
                conditions, "Suspended", False, now, "JobResumed", "Job resumed"
            )
        status.setdefault("startTime", format_time(now))
    template_spec = (spec.get("template") or {}).get("spec") or {}
    counted_failures = failed
    if template_spec.get("restartPolicy") == "OnFailure":
        counted_failures += sum(_restarts(p) for p in active)
    failure = _failure_reason(spec, status, counted_failures, now, plan)
    completions = spec.get("completions")
    done = (
        succeeded >= int(completions)
        if completions is not None
        else succeeded > 0 and len(active) == 0
    )
    terminal_reason = failure or (COMPLETIONS if done else None)
    if failure and not _is_true(status, "FailureTarget"):
        conditions = set_condition(
            conditions, "FailureTarget", True, now, *failure, extra_times=["lastProbeTime"]
        )
    if done and not failure and not _is_true(status, "SuccessCriteriaMet"):
        conditions = set_condition(
            conditions, "SuccessCriteriaMet", True, now, *COMPLETIONS, extra_times=["lastProbeTime"]
        )
    if terminal_reason is not None:
        plan.delete = [p["metadata"]["name"] for p in active]
        if not running:  # the terminal condition waits until no pod is left running
            kind = "Failed" if failure else "Complete"
            conditions = set_condition(
                conditions, kind, True, now, *terminal_reason, extra_times=["lastProbeTime"]
            )
            if kind == "Complete":
                status["completionTime"] = format_time(now)
        active = []
    elif not spec.get("suspend"):
        plan.create = _pods_to_start(spec, succeeded, len(active))
        if plan.create:
            _apply_backoff(plan, pods, failed, now, backoff)
    status.update(
        active=len(active),
        ready=sum(_is_ready(p) for p in active),
        succeeded=succeeded,
        failed=failed,
        terminating=len(running) - len(active) if terminal_reason is None else len(running),
        conditions=conditions,
    )
    if not conditions:
        status.pop("conditions")
    if _is_true(status, "Complete") or _is_true(status, "Failed"):
        ttl_plan = _plan_ttl(spec, status, now)
        plan.requeue_after = ttl_plan.requeue_after
    return plan


def _failure_reason(
    spec: Obj, status: Obj, failures: int, now: datetime, plan: JobPlan
) -> tuple[str, str] | None:
    target = find_condition(status.get("conditions"), "FailureTarget")
    if target is not None and target.get("status") == "True":
        return (str(target.get("reason", "")), str(target.get("message", "")))
    backoff_limit = spec.get("backoffLimit")
    if failures > (6 if backoff_limit is None else int(backoff_limit)):
        return BACKOFF_LIMIT
    deadline = spec.get("activeDeadlineSeconds")
    started = parse_time(status.get("startTime"))
    if deadline is not None and started is not None:
        remaining = (started + timedelta(seconds=int(deadline)) - now).total_seconds()
        if remaining <= 0:
            return DEADLINE
        plan.wake_within(remaining)
    return None


def _pods_to_start(spec: Obj, succeeded: int, active: int) -> int:
    parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
    completions = spec.get("completions")
    if completions is None:
        wanted = parallelism if succeeded == 0 else 0
    else:
        wanted = min(parallelism, int(completions) - succeeded)
    return max(wanted - active, 0)


def _apply_backoff(
    plan: JobPlan, pods: Sequence[Obj], failed: int, now: datetime, backoff: Backoff
) -> None:
    finished = [moment for p in pods if _phase(p) == "Failed" and (moment := _finished_at(p))]
    if not failed or not finished:
        return
    remaining = (max(finished) + timedelta(seconds=backoff.delay(failed)) - now).total_seconds()
    if remaining > 0:
        plan.create = 0
        plan.wake_within(remaining)
