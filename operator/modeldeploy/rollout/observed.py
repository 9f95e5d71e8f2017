"""What the operator sees of its children, boiled down from their API bodies (pure functions).

The planner decides from these states only, never from raw bodies, so its tests need no
cluster and a restart sees exactly what a running operator saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from modeldeploy.rollout import labels

Body = Mapping[str, Any]
# Container waiting reasons that mean "this will not start by itself".
_STUCK = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


class JobPhase(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobState:
    name: str
    phase: JobPhase
    result: Mapping[str, Any] | None = None
    """The compression summary (the termination message) of a succeeded Job."""
    message: str = ""
    """Why it failed, or why its pod is not running yet (e.g. the scheduler's message)."""
    gate_failed: bool = False


@dataclass(frozen=True)
class RevisionState:
    """One serving Deployment and its pods."""

    name: str
    version: str
    digest: str | None
    compression_key: str | None
    replicas: int
    """spec.replicas"""
    pods: int
    """Pods that exist, terminating ones included (they still hold their node's resources)."""
    ready: int
    """Ready pods that are not terminating (what the Service sends traffic to)."""
    created: str = ""
    waiting: tuple[str, ...] = field(default=())
    """Why pods are not ready: container waiting reasons and scheduling failures."""

    @property
    def counted(self) -> int:
        """Pods towards the pod budget: spec.replicas until the pods catch up."""
        return max(self.replicas, self.pods)


def _terminated_message(pod: Body) -> str:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated") or {}
        if terminated.get("message"):
            return str(terminated["message"]).strip()
    return ""


def _pod_waiting(pod: Body) -> list[str]:
    status = pod.get("status") or {}
    reasons = []
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reasons.append(
                f"{condition.get('reason', 'Unschedulable')}: {condition.get('message', '')}"
            )
    for container in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _STUCK:
            detail = waiting.get("message") or ""
            reasons.append(_joined(reason, detail))
        terminated = (container.get("lastState") or {}).get("terminated") or {}
        if reason == "CrashLoopBackOff" and terminated.get("message"):
            reasons.append(f"last exit: {terminated['message'].strip()[:200]}")
    return reasons


def _joined(reason: str, detail: str) -> str:
    return f"{reason}: {detail}" if detail else reason


def _is_ready(pod: Body) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _finished(pod: Body) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _condition(body: Body, type_: str) -> Mapping[str, Any] | None:
    for condition in (body.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_ and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def job_state(job: Body, pods: Iterable[Body]) -> JobState:
    """The compression Job's outcome; the short report comes from its pod's termination
    message, where `modeldeploy compress` writes it."""
    name = job["metadata"]["name"]
    pods = sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
    messages = [m for m in (_terminated_message(p) for p in pods) if m]
    gate = next((m for m in messages if m.startswith("gate failed")), None)
    if _condition(job, "Complete"):
        result = _summary(messages)
        if result is not None:
            return JobState(name, JobPhase.SUCCEEDED, result=result)
        # The Job's and the pod's watch events come on separate streams: the pod's final
        # status (with the report) may still be on its way.
        if not any(p.get("status", {}).get("phase") == "Succeeded" for p in pods):
            return JobState(name, JobPhase.RUNNING, message="waiting for the Job's report")
        return JobState(name, JobPhase.FAILED, message="the Job succeeded without a report")
    # A gate failure is a verdict on the model: retrying the Job cannot change it.
    if gate is not None:
        return JobState(name, JobPhase.FAILED, message=gate, gate_failed=True)
    failed = _condition(job, "Failed")
    if failed is not None:
        reason = messages[-1] if messages else ""
        detail = _joined(failed.get("reason", "Failed"), failed.get("message", ""))
        return JobState(name, JobPhase.FAILED, message=f"{reason} ({detail})" if reason else detail)
    waiting = [r for p in pods if not _finished(p) for r in _pod_waiting(p)]
    return JobState(name, JobPhase.RUNNING, message="; ".join(waiting))


def _summary(messages: list[str]) -> Mapping[str, Any] | None:
    for message in reversed(messages):
        try:
            parsed = json.loads(message)
        except ValueError:
            continue
        if isinstance(parsed, dict) and parsed.get("passed") and parsed.get("digest"):
            return parsed
    return None


def revision_state(deployment: Body, pods: Iterable[Body]) -> RevisionState:
    metadata = deployment["metadata"]
    meta_labels = metadata.get("labels") or {}
    pods = list(pods)
    live = [p for p in pods if not _finished(p)]
    waiting = tuple(dict.fromkeys(r for p in live if not _is_ready(p) for r in _pod_waiting(p)))
    return RevisionState(
        name=metadata["name"],
        version=str(meta_labels.get(labels.VERSION, "")),
        digest=(metadata.get("annotations") or {}).get(labels.DIGEST),
        compression_key=meta_labels.get(labels.COMPRESSION),
        replicas=int((deployment.get("spec") or {}).get("replicas", 1)),
        pods=len(live),
        ready=sum(1 for p in live if _is_ready(p)),
        created=str(metadata.get("creationTimestamp", "")),
        waiting=waiting,
    )


def parse_time(text: str | datetime | None) -> datetime | None:
    if text is None or isinstance(text, datetime):
        return text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
