"""The rollout state machine: `plan(inputs) -> Plan`, pure (no I/O, no clock, no kopf).

Each pass re-derives everything from the spec, the status and the observed children, in a
fixed order (as Argo Rollouts' canary reconcile): supersede a stale canary, refuse a version
that already failed for this generation, make sure the artifact exists, then serve it — at
once for the first version, through the canary steps for a later one. The caller applies the
actions and writes `status` only when it differs from what is stored.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec, Outcome, Phase, duration_seconds
from modeldeploy.api.v1alpha1.status import HISTORY_LIMIT
from modeldeploy.rollout import labels
from modeldeploy.rollout.conditions import set_condition, timestamp
from modeldeploy.rollout.observed import JobPhase, JobState, RevisionState, parse_time
from modeldeploy.rollout.revision import Revision, job_name, wanted_revision
from modeldeploy.rollout.scaling import canary_replicas, scale_towards
from modeldeploy.rollout.verdict import Outcome as VerdictOutcome
from modeldeploy.rollout.verdict import Verdict

COMPRESSED = "Compressed"
PROGRESSING = "Progressing"
AVAILABLE = "Available"
DEGRADED = "Degraded"
# Outcomes that stop a version from being tried again in the same generation.
_REFUSED = frozenset({Outcome.FAILED, Outcome.REJECTED, Outcome.ROLLED_BACK})


@dataclass(frozen=True)
class Inputs:
    name: str
    generation: int
    annotations: Mapping[str, str]
    spec: ModelDeploymentSpec
    status: Mapping[str, Any]
    jobs: Mapping[str, JobState]
    revisions: Mapping[str, RevisionState]
    now: datetime
    verdict: Verdict | None = None
    """The analysis of the canary's current step; None when no analysis runs."""


@dataclass(frozen=True)
class NewRevision:
    name: str
    version: str
    digest: str | None
    """Artifact to serve; None serves `spec.model.uri` as it is."""
    replicas: int
    compression_key: str | None


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Plan:
    status: dict[str, Any]
    create_job: str | None = None
    delete_jobs: list[str] = field(default_factory=list)
    create_revision: NewRevision | None = None
    scale: dict[str, int] = field(default_factory=dict)
    roles: dict[str, str | None] = field(default_factory=dict)
    delete_revisions: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None


def plan(inputs: Inputs) -> Plan:
    return _Planner(inputs).run()


class _Planner:
    def __init__(self, inputs: Inputs) -> None:
        self.i = inputs
        self.spec = inputs.spec
        self.replicas = inputs.spec.serving.replicas
        self.wanted: Revision = wanted_revision(inputs.name, inputs.spec)
        self.status: dict[str, Any] = copy.deepcopy(dict(inputs.status))
        self.plan = Plan(status=self.status)
        self.now_text = timestamp(inputs.now)

    # -- the pass --------------------------------------------------------------------------

    def run(self) -> Plan:
        before = self.status.get("phase")
        self._supersede_stale_canary()
        refused = self._refused()
        if refused is not None:
            self._hold_stable()
        else:
            digest, ready = self._artifact()
            if not ready:
                self._hold_stable()
            elif self._stable() in (None, self.wanted.name):
                self._serve_directly(digest)
            else:
                self._canary(digest)
        self._available()
        after = self.status.get("phase")
        if after != before and after is not None:
            warning = after in (Phase.FAILED, Phase.ROLLED_BACK)
            self._event("Warning" if warning else "Normal", f"Phase{after}", self._progress_text())
        return self.plan

    # -- state helpers ---------------------------------------------------------------------

    def _stable(self) -> str | None:
        return self.status.get("stableRevision")

    def _set(self, **fields: Any) -> None:
        for key, value in fields.items():
            if value is None:
                self.status.pop(key, None)
            else:
                self.status[key] = value

    def _condition(self, type_: str, ok: bool, reason: str, message: str) -> None:
        self.status["conditions"] = set_condition(
            self.status.get("conditions") or [],
            type_=type_,
            status=ok,
            reason=reason,
            message=message[:32768],
            generation=self.i.generation,
            now=self.i.now,
        )

    def _drop_condition(self, type_: str) -> None:
        kept = [c for c in self.status.get("conditions") or [] if c.get("type") != type_]
        self.status["conditions"] = kept

    def _event(self, type_: str, reason: str, message: str) -> None:
        self.plan.events.append(Event(type_, reason, message[:1024]))

    def _requeue(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        current = self.plan.requeue_after
        self.plan.requeue_after = seconds if current is None else min(current, seconds)

    def _record(self, version: str, revision: str, outcome: Outcome, reason: str) -> None:
        entry: dict[str, Any] = {
            "version": version,
            "revision": revision,
            "generation": self.i.generation,
            "outcome": outcome.value,
            "reason": reason[:1024],
            "at": self.now_text,
        }
        compression = self.status.get("compression") or {}
        if compression.get("revision") == revision:
            entry["digest"] = compression.get("digest")
            entry["compression"] = compression
        else:
            state = self.i.revisions.get(revision)
            if state is not None and state.digest:
                entry["digest"] = state.digest
        history = [entry, *(self.status.get("history") or [])]
        self.status["history"] = history[:HISTORY_LIMIT]

    def _progress_text(self) -> str:
        for condition in self.status.get("conditions") or []:
            if condition.get("type") == PROGRESSING:
                return f"{condition.get('reason')}: {condition.get('message')}"
        return ""

    # -- steps of the pass -------------------------------------------------------------------

    def _supersede_stale_canary(self) -> None:
        canary = self.status.get("canaryRevision")
        if canary is None or canary == self.wanted.name:
            return
        version = self.status.get("canaryVersion", "")
        self._record(
            version, canary, Outcome.SUPERSEDED, f"superseded by version {self.wanted.version}"
        )
        self._event(
            "Normal", "Superseded", f"version {version} superseded by {self.wanted.version}"
        )
        self._clear_canary()

    def _clear_canary(self) -> None:
        self._set(
            canaryRevision=None,
            canaryVersion=None,
            canaryWeight=None,
            currentStep=None,
            stepStartedAt=None,
            stepReadyAt=None,
        )

    def _refused(self) -> Mapping[str, Any] | None:
        """The history entry that ended the wanted version in this generation, if any."""
        if self.wanted.name == self._stable():
            return None
        for entry in self.status.get("history") or []:
            if (
                entry.get("revision") == self.wanted.name
                and entry.get("generation") == self.i.generation
                and entry.get("outcome") in _REFUSED
            ):
                return entry  # type: ignore[no-any-return]
        return None

    def _converge(self, targets: Mapping[str, int], digest: str | None = None) -> None:
        """Scale every revision towards `targets` (others to 0) within the pod budget."""
        revisions = self.i.revisions
        everything = {name: 0 for name, state in revisions.items() if state.replicas > 0}
        everything.update(targets)
        scaled = scale_towards(self.replicas, self.spec.rollout.max_surge, revisions, everything)
        for name, replicas in scaled.items():
            if name in revisions:
                if replicas != revisions[name].replicas:
                    self.plan.scale[name] = replicas
            elif name == self.wanted.name:
                self.plan.create_revision = NewRevision(
                    name=name,
                    version=self.wanted.version,
                    digest=digest,
                    replicas=replicas,
                    compression_key=self.wanted.compression_key,
                )

    def _drop_scaling(self) -> None:
        """Forget the scaling decided earlier in this pass: a rollback decides anew."""
        self.plan.scale.clear()
        self.plan.create_revision = None
        self.plan.roles.clear()

    def _hold_stable(self) -> None:
        stable = self._stable()
        if stable is not None:
            self._converge({stable: self.replicas})
            self.plan.roles[stable] = labels.STABLE

    def _artifact(self) -> tuple[str | None, bool]:
        """(digest, ready): the compressed model to serve, or None to serve the source."""
        if self.spec.compression is None:
            self._drop_condition(COMPRESSED)
            return None, True
        key = self.wanted.compression_key
        for state in self.i.revisions.values():
            if state.compression_key == key and state.digest:
                return state.digest, True
        assert self.wanted.job_name is not None
        job = self.i.jobs.get(self.wanted.job_name)
        if job is None:
            self.plan.create_job = self.wanted.job_name
            self._compressing(f"created Job {self.wanted.job_name}")
            self._event("Normal", "CompressionStarted", f"Job {self.wanted.job_name}")
            return None, False
        if job.phase == JobPhase.RUNNING:
            self._compressing(job.message or f"Job {job.name} is running")
            return None, False
        if job.phase == JobPhase.FAILED:
            if self._failed_before():
                # Recorded for an earlier generation: the spec changed since, so try again.
                self.plan.delete_jobs.append(job.name)
                self._compressing(f"retrying: the Job {job.name} failed before the spec changed")
                return None, False
            self._compression_failed(job)
            return None, False
        assert job.result is not None
        digest = str(job.result["digest"])
        self._compressed(job.result)
        return digest, True

    def _failed_before(self) -> bool:
        return any(
            e.get("revision") == self.wanted.name
            and e.get("outcome") in (Outcome.FAILED, Outcome.REJECTED)
            for e in self.status.get("history") or []
        )

    def _compressing(self, message: str) -> None:
        unschedulable = "Unschedulable" in message
        self._condition(
            COMPRESSED, False, "Unschedulable" if unschedulable else "JobRunning", message
        )
        self._condition(
            PROGRESSING, True, "Compressing", f"version {self.wanted.version}: {message}"
        )
        self._set(phase=Phase.COMPRESSING.value)

    def _compression_failed(self, job: JobState) -> None:
        reason = "GateFailed" if job.gate_failed else "CompressionFailed"
        outcome = Outcome.REJECTED if job.gate_failed else Outcome.FAILED
        message = f"version {self.wanted.version}: {job.message}"
        self._record(self.wanted.version, self.wanted.name, outcome, job.message)
        self._condition(COMPRESSED, False, reason, message)
        self._condition(PROGRESSING, False, reason, message)
        self._condition(DEGRADED, True, reason, message)
        self._set(phase=Phase.FAILED.value)
        self._event("Warning", reason, message)
        if job.gate_failed:  # its retries could only fail the same way
            self.plan.delete_jobs.append(job.name)

    def _compressed(self, result: Mapping[str, Any]) -> None:
        metric = result.get("metric") or {}
        compression = {
            "revision": self.wanted.name,
            "digest": result["digest"],
            "ratio": result.get("ratio"),
            "sizeBefore": result.get("sizeBefore"),
            "sizeAfter": result.get("sizeAfter"),
            "metricBefore": metric.get("baseline"),
            "metricAfter": metric.get("compressed"),
            "metricDrop": metric.get("drop"),
            "seconds": result.get("seconds"),
        }
        self.status["compression"] = {k: v for k, v in compression.items() if v is not None}
        self._condition(
            COMPRESSED,
            True,
            "ArtifactReady",
            f"{result['digest']}: {result.get('reason', '')}, ratio {result.get('ratio')}",
        )

    def _serve_directly(self, digest: str | None) -> None:
        """The first version, or the stable one: all replicas on it, every other one at 0."""
        name = self.wanted.name
        self._converge({name: self.replicas}, digest)
        self.plan.roles[name] = labels.STABLE
        state = self.i.revisions.get(name)
        first = self._stable() is None
        if first and (state is None or state.ready < self.replicas):
            self._set(phase=Phase.ROLLING_OUT.value)
            self._condition(
                PROGRESSING,
                True,
                "RollingOut",
                f"version {self.wanted.version}: {0 if state is None else state.ready}/"
                f"{self.replicas} replicas ready",
            )
            return
        if first:
            self._record(self.wanted.version, name, Outcome.PROMOTED, "first version")
            self._event("Normal", "Promoted", f"version {self.wanted.version} serves all traffic")
        elif self._failed_after_promotion():
            return
        self._set(stableRevision=name, stableVersion=self.wanted.version, phase=Phase.READY.value)
        self._clear_canary()
        self._condition(
            PROGRESSING, False, "RolloutComplete", f"version {self.wanted.version} is stable"
        )
        self._condition(DEGRADED, False, "AsExpected", "")
        self._prune()

    def _failed_after_promotion(self) -> bool:
        """Within the post-promotion window a failing verdict on the new stable version
        brings the previous one back: it is scaled up first, and becomes the stable version
        once all its replicas are ready, so the stable version always has ready pods."""
        previous = self.status.get("previousRevision")
        if not previous:
            return False
        if not self._rolling_back_after_promotion():
            verdict = self.i.verdict
            if verdict is None or verdict.outcome != VerdictOutcome.FAIL:
                return False
            message = f"after promotion: {verdict.reason}"
            self._record(self.wanted.version, self.wanted.name, Outcome.ROLLED_BACK, message)
            text = f"{message}; back to version {self.status.get('previousVersion')}"
            self._set(phase=Phase.ROLLED_BACK.value)
            self._condition(PROGRESSING, False, "AnalysisFailed", text)
            self._condition(DEGRADED, True, "AnalysisFailed", text)
            self._event("Warning", "AnalysisFailed", text)
        self._drop_scaling()
        self._converge({previous: self.replicas, self.wanted.name: 0})
        self.plan.roles[self.wanted.name] = labels.STABLE
        state = self.i.revisions.get(previous)
        if state is not None and state.ready >= self.replicas:
            self._set(
                stableRevision=previous,
                stableVersion=self.status.get("previousVersion"),
                previousRevision=None,
                previousVersion=None,
                promotedAt=None,
            )
            self.plan.roles[previous] = labels.STABLE
            self.plan.roles[self.wanted.name] = None
        return True

    def _rolling_back_after_promotion(self) -> bool:
        """Whether a post-promotion rollback of the wanted version is under way."""
        history = self.status.get("history") or []
        return bool(history) and (
            history[0].get("revision") == self.wanted.name
            and history[0].get("generation") == self.i.generation
            and history[0].get("outcome") == Outcome.ROLLED_BACK
            and self.status.get("phase") == Phase.ROLLED_BACK
        )

    def _canary(self, digest: str | None) -> None:
        steps = self.spec.rollout.steps
        name = self.wanted.name
        stable = self._stable()
        assert stable is not None
        if self.status.get("canaryRevision") != name:
            fast = self._was_promoted(name) and name in self.i.revisions
            self._set(
                canaryRevision=name,
                canaryVersion=self.wanted.version,
                currentStep=len(steps) if fast else 0,
                stepStartedAt=self.now_text,
                stepReadyAt=None,
            )
            what = "fast rollback to kept revision" if fast else "canary rollout"
            self._event("Normal", "RolloutStarted", f"{what} of version {self.wanted.version}")
        if self._manual_abort():
            return
        self._manual_promote(len(steps))
        step = int(self.status["currentStep"])
        promoting = step >= len(steps)
        weight = 100 if promoting else steps[step].weight
        target = self.replicas if promoting else canary_replicas(self.replicas, weight)
        self._converge({name: target, stable: self.replicas - target}, digest)
        self.plan.roles[name] = labels.CANARY
        self.plan.roles[stable] = labels.STABLE
        self._set(canaryWeight=weight, phase=Phase.ROLLING_OUT.value)
        verdict = self.i.verdict
        if verdict is not None and verdict.outcome == VerdictOutcome.FAIL:
            self._rollback(Outcome.ROLLED_BACK, "AnalysisFailed", verdict.reason)
            return
        canary = self.i.revisions.get(name)
        old = self.i.revisions.get(stable)
        # A step's share holds once the old pods are down to theirs; a promotion holds as
        # soon as the new version alone can serve (the old one then drains as the stable's
        # predecessor, so the stable version always has ready pods).
        reached = (
            canary is not None
            and canary.ready >= target
            and (promoting or old is None or old.pods <= self.replicas - target)
        )
        where = "promoting" if promoting else f"step {step + 1}/{len(steps)}, weight {weight}%"
        if not reached:
            self._wait_for_step(canary, where)
            return
        if promoting:
            self._promote()
            return
        ready_at = parse_time(self.status.get("stepReadyAt"))
        if ready_at is None:
            ready_at = self.i.now
            self._set(stepReadyAt=self.now_text)
        remaining = duration_seconds(steps[step].pause) - (self.i.now - ready_at).total_seconds()
        # With metrics to watch, a step advances only on a passing verdict of every metric.
        analysed = bool(self.spec.rollout.analysis.metrics)
        passed = verdict is not None and verdict.outcome == VerdictOutcome.PASS
        if remaining > 0 or (analysed and not passed):
            if verdict is not None and verdict.paused:
                self._condition(PROGRESSING, False, "AnalysisInconclusive", verdict.reason)
            else:
                detail = f" ({verdict.reason})" if verdict is not None and not passed else ""
                self._condition(
                    PROGRESSING,
                    True,
                    "CanaryStep",
                    f"version {self.wanted.version}: {where}{detail}",
                )
            if remaining > 0:
                self._requeue(remaining)
            return
        self._event("Normal", "StepCompleted", f"version {self.wanted.version}: {where}")
        self._set(currentStep=step + 1, stepStartedAt=self.now_text, stepReadyAt=None)
        self._condition(
            PROGRESSING, True, "CanaryStep", f"version {self.wanted.version}: {where} done"
        )
        self._requeue(0)

    def _was_promoted(self, revision: str) -> bool:
        return any(
            e.get("revision") == revision and e.get("outcome") == Outcome.PROMOTED
            for e in self.status.get("history") or []
        )

    def _manual_abort(self) -> bool:
        value = self.i.annotations.get(labels.ABORT)
        if not value or value == self.status.get("handledAbort"):
            return False
        self._set(handledAbort=value)
        self._rollback(
            Outcome.ROLLED_BACK, "Aborted", f"aborted by annotation {labels.ABORT}={value}"
        )
        return True

    def _manual_promote(self, steps: int) -> None:
        value = self.i.annotations.get(labels.PROMOTE)
        if not value or value == self.status.get("handledPromote"):
            return
        self._set(
            handledPromote=value, currentStep=steps, stepStartedAt=self.now_text, stepReadyAt=None
        )
        self._event("Normal", "PromotedManually", f"annotation {labels.PROMOTE}={value}")

    def _wait_for_step(self, canary: RevisionState | None, where: str) -> None:
        started = parse_time(self.status.get("stepStartedAt")) or self.i.now
        deadline = duration_seconds(self.spec.rollout.progress_deadline)
        waited = (self.i.now - started).total_seconds()
        if waited > deadline:
            why = (
                "; ".join(canary.waiting)
                if canary is not None and canary.waiting
                else "pods not ready"
            )
            self._rollback(
                Outcome.FAILED,
                "ProgressDeadlineExceeded",
                f"version {self.wanted.version} not ready within progressDeadline "
                f"{self.spec.rollout.progress_deadline} ({where}): {why}",
            )
            return
        ready = 0 if canary is None else canary.ready
        self._condition(
            PROGRESSING,
            True,
            "CanaryStep",
            f"version {self.wanted.version}: {where} ({ready} ready)",
        )
        self._requeue(deadline - waited + 0.5)

    def _promote(self) -> None:
        name = self.wanted.name
        old = self._stable()
        if old is not None:
            self.plan.roles[old] = None
        self._record(self.wanted.version, name, Outcome.PROMOTED, "all canary steps passed")
        self._event("Normal", "Promoted", f"version {self.wanted.version} serves all traffic")
        self._set(
            previousRevision=self._stable(),
            previousVersion=self.status.get("stableVersion"),
            promotedAt=self.now_text,
            stableRevision=name,
            stableVersion=self.wanted.version,
            phase=Phase.READY.value,
        )
        self._clear_canary()
        self.plan.roles[name] = labels.STABLE
        self._condition(
            PROGRESSING, False, "RolloutComplete", f"version {self.wanted.version} is stable"
        )
        self._condition(DEGRADED, False, "AsExpected", "")

    def _rollback(self, outcome: Outcome, reason: str, message: str) -> None:
        stable = self._stable()
        assert stable is not None
        self._record(self.wanted.version, self.wanted.name, outcome, message)
        self._clear_canary()
        self._drop_scaling()
        self._converge({stable: self.replicas, self.wanted.name: 0})
        canary = self.i.revisions.get(self.wanted.name)
        if canary is not None and canary.replicas > 0:
            self.plan.scale[canary.name] = 0  # now: no more traffic to the failing version
        self.plan.roles[stable] = labels.STABLE
        self.plan.roles[self.wanted.name] = None
        phase = Phase.ROLLED_BACK if outcome == Outcome.ROLLED_BACK else Phase.FAILED
        self._set(phase=phase.value)
        text = f"{message}; version {self.status.get('stableVersion')} keeps serving"
        self._condition(PROGRESSING, False, reason, text)
        self._condition(DEGRADED, True, reason, text)
        self._event("Warning", reason, text)

    def _available(self) -> None:
        serving = self._stable() or self.wanted.name
        state = self.i.revisions.get(serving)
        ready = 0 if state is None else state.ready
        version = self.status.get("stableVersion") or self.wanted.version
        if ready > 0:
            self._condition(
                AVAILABLE, True, "MinimumReplicasAvailable", f"version {version} is served"
            )
        else:
            self._condition(
                AVAILABLE, False, "NoReplicasAvailable", f"no ready replica of version {version}"
            )

    def _prune(self) -> None:
        """Old revisions beyond `keepRevisions` (at 0 replicas, no pods left) and the Jobs no
        kept revision needs."""
        keep = {self.wanted.name, self._stable()}
        idle = sorted(
            (s for s in self.i.revisions.values() if s.name not in keep),
            key=lambda s: s.created,
            reverse=True,
        )
        kept = idle[: self.spec.rollout.keep_revisions]
        for state in idle[self.spec.rollout.keep_revisions :]:
            if state.replicas == 0 and state.pods == 0:
                self.plan.delete_revisions.append(state.name)
        for state in kept:
            self.plan.roles[state.name] = None
        needed = {
            job_name(self.i.name, s.compression_key)
            for s in [*kept, *(self.i.revisions.get(n) for n in keep if n)]
            if s is not None and s.compression_key
        }
        if self.wanted.job_name:
            needed.add(self.wanted.job_name)
        self.plan.delete_jobs.extend(sorted(set(self.i.jobs) - needed))
