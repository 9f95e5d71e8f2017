"""The rollout state machine, driven pass by pass against a simulated cluster (world.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from modeldeploy.rollout import labels
from modeldeploy.rollout.conditions import timestamp
from modeldeploy.rollout.observed import JobPhase, JobState
from modeldeploy.rollout.plan import plan
from modeldeploy.rollout.revision import wanted_revision
from modeldeploy.rollout.verdict import Outcome, Verdict
from tests.rollout.world import (
    NAME,
    Session,
    World,
    condition,
    digest_of,
    events,
    history,
    make_spec,
    ready_on,
)

GATE = "gate failed: accuracy drop 0.0520 > maxDrop 0.0100 (baseline 0.9800, compressed 0.9280)"
UNSCHEDULABLE = (
    "Unschedulable: 0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
    "1 node(s) had untolerated taint(s). no new claims to deallocate, preemption: 0/2 nodes are "
    "available: 2 Preemption is not helpful for scheduling."
)
PULL = 'ImagePullBackOff: Back-off pulling image "registry.invalid/nope:1"'


def _step_of(session: Session) -> int | None:
    return session.status.get("currentStep")


def _at_step(step: int) -> Any:
    """Done when the canary's step `step` has its replicas and its pause is running."""
    return lambda s, _: _step_of(s) == step and "stepReadyAt" in s.status


def _version_2(session: Session, **spec: Any) -> None:
    session.apply_spec(make_spec("2", **{**_rollout_of(session), **spec}))


def _rollout_of(session: Session) -> dict[str, Any]:
    return {
        "replicas": session.spec.serving.replicas,
        "compression": session.spec.compression is not None,
        "maxSurge": session.spec.rollout.max_surge,
        "keepRevisions": session.spec.rollout.keep_revisions,
    }


def _pausing_at_step_1() -> tuple[Session, str, str]:
    """Version 2 rolling out over version 1, in step 1's pause: (session, old, new)."""
    session = ready_on("1")
    old = session.status["stableRevision"]
    _version_2(session)
    session.run_until(_at_step(0))
    return session, old, session.wanted.name


def _compressing_2(session: Session) -> str:
    """Version 2 (compressed) applied over a Ready version 1; its Job just created."""
    _version_2(session)
    job = session.wanted.job_name
    assert job is not None
    assert session.step().create_job == job
    return job


# -- the first version ---------------------------------------------------------------------


def test_first_version_without_compression_goes_straight_to_ready() -> None:
    session = Session(make_spec("1", replicas=2))
    first = session.step()
    wanted = session.wanted
    assert first.create_job is None
    assert first.create_revision is not None
    assert (first.create_revision.name, first.create_revision.replicas) == (wanted.name, 2)
    assert first.create_revision.digest is None  # the source model, served as it is
    assert first.roles == {wanted.name: labels.STABLE}
    assert session.status["phase"] == "RollingOut"
    assert condition(session.status, "Available")["status"] == "False"
    assert "Compressed" not in {c["type"] for c in session.status["conditions"]}

    session.world.settle()
    session.advance(5)
    done = session.step()
    assert session.status["phase"] == "Ready"
    assert (session.status["stableVersion"], session.status["stableRevision"]) == (
        "1",
        wanted.name,
    )
    assert history(session) == [("1", "Promoted")]
    assert session.status["history"][0]["at"] == timestamp(session.now)
    assert "canaryVersion" not in session.status
    assert condition(session.status, "Available")["status"] == "True"
    progressing = condition(session.status, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "RolloutComplete")
    assert condition(session.status, "Degraded")["status"] == "False"
    assert [e.reason for e in done.events] == ["Promoted", "PhaseReady"]
    assert session.world.jobs_created == []
    session.quiet()


def test_first_version_is_compressed_by_one_job_then_serves_the_artifact() -> None:
    session = Session(make_spec("1", compression=True))
    wanted = session.wanted
    assert wanted.job_name is not None
    first = session.step()
    assert first.create_job == wanted.job_name
    assert first.create_revision is None
    assert session.status["phase"] == "Compressing"
    compressed = condition(session.status, "Compressed")
    assert (compressed["status"], compressed["reason"]) == ("False", "JobRunning")
    assert "CompressionStarted" in events([first])

    # Running: no second Job, however many passes.
    for _ in range(3):
        session.advance(10)
        assert session.step().create_job is None
    session.quiet()
    assert session.world.jobs_created == [wanted.job_name]

    # The scheduler's reason reaches the Compressed condition.
    job = session.world.jobs[wanted.job_name]
    session.world.jobs[job.name] = JobState(job.name, JobPhase.RUNNING, message=UNSCHEDULABLE)
    session.advance(10)
    session.step()
    compressed = condition(session.status, "Compressed")
    assert (compressed["status"], compressed["reason"]) == ("False", "Unschedulable")
    assert UNSCHEDULABLE in compressed["message"]
    assert UNSCHEDULABLE in condition(session.status, "Progressing")["message"]
    assert compressed["lastTransitionTime"] == timestamp(session.now - timedelta(seconds=40))
    assert session.status["phase"] == "Compressing"

    digest = digest_of("1")
    session.world.finish_job(wanted.job_name, digest)
    session.advance(10)
    done = session.step()
    assert done.create_revision is not None
    assert (done.create_revision.digest, done.create_revision.compression_key) == (
        digest,
        wanted.compression_key,
    )
    assert session.status["compression"] == {
        "revision": wanted.name,
        "digest": digest,
        "ratio": 3.9,
        "sizeBefore": 4000,
        "sizeAfter": 1025,
        "metricBefore": 0.98,
        "metricAfter": 0.977,
        "metricDrop": 0.003,
        "seconds": 12.5,
    }
    compressed = condition(session.status, "Compressed")
    assert (compressed["status"], compressed["reason"]) == ("True", "ArtifactReady")
    assert digest in compressed["message"]

    session.run_to("Ready")
    assert session.status["history"][0]["digest"] == digest
    assert session.status["history"][0]["compression"]["metricDrop"] == 0.003
    assert session.world.jobs_created == [wanted.job_name]
    assert wanted.job_name in session.world.jobs  # kept: the serving revision needs it
    session.quiet()


def test_reapplying_the_same_compression_reuses_the_artifact() -> None:
    """A new version of the same file and compression spec needs no second Job."""
    session = ready_on("1", compression=True)
    same_file = make_spec("1", compression=True).model_dump(by_alias=True)
    same_file["model"]["version"] = "1b"
    session.apply_spec(type(session.spec).model_validate(same_file))
    first = session.step()
    assert first.create_job is None
    assert first.create_revision is not None
    assert first.create_revision.digest == digest_of("1")
    session.run_to("Ready")
    assert session.status["stableVersion"] == "1b"
    assert len(session.world.jobs_created) == 1


# -- compression failures ------------------------------------------------------------------


def test_gate_failure_fails_the_version_and_leaves_the_stable_untouched() -> None:
    session = ready_on("1", compression=True)
    stable = {k: session.status[k] for k in ("stableRevision", "stableVersion", "compression")}
    replicas = session.world.replicas()
    job = _compressing_2(session)
    session.world.fail_job(job, GATE, gate=True)
    session.advance(30)
    failed = session.step()
    assert session.status["phase"] == "Failed"
    assert history(session)[0] == ("2", "Rejected")
    assert session.status["history"][0]["reason"] == GATE
    assert session.status["history"][0]["generation"] == 2
    for type_ in ("Compressed", "Progressing"):
        assert condition(session.status, type_)["reason"] == "GateFailed"
        assert GATE in condition(session.status, type_)["message"]
    assert condition(session.status, "Degraded")["status"] == "True"
    assert condition(session.status, "Available")["status"] == "True"
    assert failed.delete_jobs == [job]  # its retries could only fail the same way
    assert "GateFailed" in events([failed])
    assert {k: session.status[k] for k in stable} == stable
    assert not failed.scale
    assert failed.create_revision is None
    assert session.world.replicas() == replicas

    # Not retried in the same generation, the Job being gone or not.
    for _ in range(3):
        session.advance(60)
        again = session.step()
        assert again.create_job is None
        assert again.create_revision is None
    assert history(session)[0] == ("2", "Rejected")
    assert len(history(session)) == 2
    session.quiet()

    # Retried once the spec changes (a new generation), with the same Job name.
    _version_2(session, progressDeadline="15m")
    assert session.step().create_job == job
    assert session.status["phase"] == "Compressing"


def test_gate_failure_of_the_first_version_serves_nothing() -> None:
    session = Session(make_spec("1", compression=True))
    job = session.wanted.job_name
    assert job is not None
    session.step()
    session.world.fail_job(job, GATE, gate=True)
    session.step()
    assert session.status["phase"] == "Failed"
    assert "stableVersion" not in session.status
    assert condition(session.status, "Available")["status"] == "False"
    assert session.world.revisions == {}
    session.quiet()


def test_a_failed_job_fails_the_version_once() -> None:
    session = ready_on("1", compression=True)
    job = _compressing_2(session)
    message = "compression failed: no such file models/digits/2 (BackoffLimitExceeded)"
    session.world.fail_job(job, message)
    failed = session.step()
    assert session.status["phase"] == "Failed"
    assert session.status["history"][0]["outcome"] == "Failed"
    assert session.status["history"][0]["reason"] == message
    assert condition(session.status, "Compressed")["reason"] == "CompressionFailed"
    assert failed.delete_jobs == []  # kept for `kubectl logs`
    session.advance(60)
    session.step()
    assert len(history(session)) == 2
    session.quiet()


def test_a_failed_job_is_retried_after_the_spec_changes() -> None:
    session = ready_on("1", compression=True)
    job = _compressing_2(session)
    session.world.fail_job(job, f"{PULL} (DeadlineExceeded: Job was active longer than specified)")
    session.step()
    assert session.status["phase"] == "Failed"
    # The user fixes the image the Job ran (spec.serving.image): a new generation.
    fixed = make_spec("2", compression=True).model_dump(by_alias=True)
    fixed["serving"]["image"] = "registry.example/modeldeploy:0.1.1"
    session.apply_spec(type(session.spec).model_validate(fixed))
    retry = session.step()
    assert retry.create_job is not None or job in retry.delete_jobs
    assert session.status["phase"] == "Compressing"


# -- canary steps --------------------------------------------------------------------------


def test_version_2_goes_through_the_canary_steps_and_is_promoted() -> None:
    session = ready_on("1")
    old = session.status["stableRevision"]
    mark = len(session.world.ready_seen)
    _version_2(session)
    new = session.wanted.name

    first = session.step()
    assert first.create_revision is not None
    assert (first.create_revision.name, first.create_revision.replicas) == (new, 1)
    assert first.roles == {new: labels.CANARY, old: labels.STABLE}
    assert old not in first.scale  # the stable shrinks only once the canary is ready
    assert session.status["canaryVersion"] == "2"
    assert session.status["canaryRevision"] == new
    assert (session.status["currentStep"], session.status["canaryWeight"]) == (0, 25)
    assert session.status["phase"] == "RollingOut"
    assert "RolloutStarted" in events([first])

    session.run_until(_at_step(0))
    assert session.world.replicas() == {old: 3, new: 1}
    paused = session.plans[-1]
    assert paused.requeue_after == pytest.approx(60)
    assert condition(session.status, "Progressing")["reason"] == "CanaryStep"
    session.advance(20)
    assert session.step().requeue_after == pytest.approx(40)
    session.quiet()
    session.advance(40)
    done = session.step()
    assert session.status["currentStep"] == 1
    assert "StepCompleted" in events([done])
    assert done.requeue_after == 0

    session.run_until(_at_step(1))
    assert session.status["canaryWeight"] == 50
    assert session.world.replicas() == {old: 2, new: 2}
    assert session.plans[-1].requeue_after == pytest.approx(120)
    session.advance(119)
    assert session.step().requeue_after == pytest.approx(1)
    session.advance(1)
    session.step()
    assert session.status["currentStep"] == 2
    session.step()
    assert session.status["canaryWeight"] == 100

    session.run_to("Ready")
    assert session.status["stableRevision"] == new
    assert session.status["stableVersion"] == "2"
    for key in ("canaryVersion", "canaryRevision", "canaryWeight", "currentStep"):
        assert key not in session.status
    assert history(session) == [("2", "Promoted"), ("1", "Promoted")]
    assert session.world.replicas() == {old: 0, new: 4}
    assert max(session.world.pods_seen) <= session.budget
    assert min(session.world.ready_seen[mark:]) >= 4  # maxSurge 1: never below replicas
    session.step()
    assert session.world.roles == {new: labels.STABLE, old: None}
    session.quiet()


def _canary_replicas_by_step(session: Session) -> dict[int, int]:
    """Most canary replicas seen at each step, over the recorded plans."""
    seen: dict[int, int] = {}
    new = session.wanted.name
    replicas = 0
    for result in session.plans:
        if result.create_revision is not None and result.create_revision.name == new:
            replicas = result.create_revision.replicas
        replicas = result.scale.get(new, replicas)
        step = result.status.get("currentStep")
        if step is not None:
            seen[step] = max(seen.get(step, 0), replicas)
    return seen


@pytest.mark.parametrize(("max_surge", "linger"), [(0, 0), (0, 2), (1, 1), (2, 2)])
def test_pod_budget_holds_throughout_a_rollout(max_surge: int, linger: int) -> None:
    session = ready_on("1", world=World(linger=linger), maxSurge=max_surge)
    mark = len(session.world.ready_seen)
    _version_2(session)
    session.run_to("Ready", passes=120)
    assert session.status["stableVersion"] == "2"
    assert max(session.world.pods_seen) <= 4 + max_surge
    floor = 4 if max_surge else 3
    assert min(session.world.ready_seen[mark:]) >= floor
    by_step = _canary_replicas_by_step(session)
    assert by_step[0] == 1
    assert by_step[1] == 2
    assert by_step[2] == 4


def test_progress_deadline_rolls_back_naming_the_waiting_reasons() -> None:
    session = ready_on("1")
    old = session.status["stableRevision"]
    session.world.broken["2"] = (PULL,)
    _version_2(session)
    new = session.wanted.name
    session.step()
    session.world.settle()
    session.advance(1)
    waiting = session.step()
    assert waiting.requeue_after is not None
    assert waiting.requeue_after > 500
    assert session.world.replicas() == {old: 4, new: 1}  # nothing taken from the stable
    session.advance(waiting.requeue_after)
    failed = session.step()
    assert session.status["phase"] == "Failed"
    entry = session.status["history"][0]
    assert (entry["version"], entry["outcome"]) == ("2", "Failed")
    assert PULL in entry["reason"]
    assert "progressDeadline 10m" in entry["reason"]
    degraded = condition(session.status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "ProgressDeadlineExceeded")
    assert PULL in degraded["message"]
    assert "version 1 keeps serving" in degraded["message"]
    assert failed.scale.get(new) == 0
    assert session.status["stableVersion"] == "1"
    assert "canaryVersion" not in session.status
    # Not retried in this generation.
    session.run_until(lambda s, _: s.world.replicas() == {old: 4, new: 0}, passes=10)
    for _ in range(3):
        session.advance(600)
        again = session.step()
        assert again.create_revision is None
        assert new not in again.scale
    assert session.world.replicas() == {old: 4, new: 0}
    assert [o for _, o in history(session)].count("Failed") == 1
    session.quiet()


def test_verdict_fail_rolls_back() -> None:
    session, old, new = _pausing_at_step_1()
    session.advance(10)
    verdict = Verdict(Outcome.FAIL, "error-rate 0.21 > 0.01")
    session.step(verdict)
    assert session.status["phase"] == "RolledBack"
    entry = session.status["history"][0]
    assert (entry["version"], entry["outcome"], entry["reason"]) == (
        "2",
        "RolledBack",
        "error-rate 0.21 > 0.01",
    )
    assert condition(session.status, "Degraded")["reason"] == "AnalysisFailed"
    session.run_until(lambda s, _: s.world.replicas() == {old: 4, new: 0}, passes=10)
    assert max(session.world.pods_seen) <= session.budget
    session.quiet()


def test_a_rollback_at_the_start_of_a_step_never_shrinks_the_stable() -> None:
    session = ready_on("1", maxSurge=0)
    _version_2(session)
    old = session.status["stableRevision"]
    session.run_until(_at_step(0))
    session.advance(60)
    session.step()  # step 1's pause is over: step 2 begins
    assert session.status["currentStep"] == 1
    assert session.world.replicas()[old] == 3
    session.advance(1)
    rollback = session.step(Verdict(Outcome.FAIL, "error-rate 0.21 > 0.01"))
    assert session.status["phase"] == "RolledBack"
    assert rollback.scale.get(old, 3) >= 3  # actual: 2, with the canary going to 0


def test_a_rollback_never_grows_the_canary_beyond_the_budget() -> None:
    session = ready_on("1")
    _version_2(session)
    new = session.wanted.name
    session.run_until(_at_step(0))
    session.advance(60)
    session.step()  # step 2 begins
    before = session.world.replicas()[new]
    session.advance(1)
    rollback = session.step(Verdict(Outcome.FAIL, "error-rate 0.21 > 0.01"))
    assert rollback.scale.get(new, before) <= before
    assert max(session.world.pods_seen) <= session.budget


def test_verdict_inconclusive_holds_the_step_and_pass_lets_it_go_on() -> None:
    session = ready_on("1")
    _version_2(session)
    session.run_until(_at_step(0))
    held = Verdict(Outcome.INCONCLUSIVE, "3 requests < minRequests 20")
    for _ in range(4):
        session.advance(60)
        session.step(held)
        assert session.status["currentStep"] == 0
        assert session.status["phase"] == "RollingOut"
    session.step(Verdict(Outcome.PASS))
    assert session.status["currentStep"] == 1


def test_abort_annotation_rolls_back_once_per_value() -> None:
    session, old, new = _pausing_at_step_1()
    session.annotations[labels.ABORT] = "true"
    aborted = session.step()
    assert session.status["phase"] == "RolledBack"
    assert session.status["handledAbort"] == "true"
    assert history(session)[0] == ("2", "RolledBack")
    assert labels.ABORT in session.status["history"][0]["reason"]
    assert condition(session.status, "Degraded")["reason"] == "Aborted"
    assert "Aborted" in events([aborted])
    session.run_until(lambda s, _: s.world.replicas() == {old: 4, new: 0}, passes=10)
    session.world.settle()
    assert [o for _, o in history(session)].count("RolledBack") == 1
    session.quiet()

    # A new version with the annotation unchanged is not aborted ...
    session.apply_spec(make_spec("3"))
    session.run_until(_at_step(0))
    assert session.status["canaryVersion"] == "3"
    # ... a new value is acted on.
    session.annotations[labels.ABORT] = "again"
    session.step()
    assert session.status["phase"] == "RolledBack"
    assert session.status["handledAbort"] == "again"
    assert history(session)[:2] == [("3", "RolledBack"), ("2", "RolledBack")]


def test_promote_annotation_skips_the_remaining_steps() -> None:
    session = ready_on("1")
    _version_2(session)
    session.run_until(_at_step(0))
    session.annotations[labels.PROMOTE] = "true"
    promoted = session.step()
    assert (session.status["currentStep"], session.status["canaryWeight"]) == (2, 100)
    assert session.status["handledPromote"] == "true"
    assert "PromotedManually" in events([promoted])
    start = len(session.plans)
    session.run_to("Ready")
    assert "StepCompleted" not in events(session.plans[start - 1 :])
    assert session.status["stableVersion"] == "2"
    assert history(session)[0] == ("2", "Promoted")
    assert max(session.world.pods_seen) <= session.budget


def test_a_new_version_mid_rollout_supersedes_the_canary() -> None:
    session = ready_on("1")
    old = session.status["stableRevision"]
    _version_2(session)
    superseded = session.wanted.name
    session.run_until(_at_step(1))
    session.apply_spec(make_spec("3"))
    first = session.step()
    entry = session.status["history"][0]
    assert (entry["version"], entry["outcome"]) == ("2", "Superseded")
    assert entry["revision"] == superseded
    assert "version 3" in entry["reason"]
    assert "Superseded" in events([first])
    assert session.status["canaryVersion"] == "3"
    assert session.status["canaryRevision"] == session.wanted.name
    assert session.status["currentStep"] == 0
    session.run_to("Ready", passes=120)
    assert history(session) == [("3", "Promoted"), ("2", "Superseded"), ("1", "Promoted")]
    assert session.world.replicas() == {old: 0, superseded: 0, session.wanted.name: 4}
    assert max(session.world.pods_seen) <= session.budget


def test_back_to_a_kept_revision_is_a_fast_rollback() -> None:
    session = ready_on("1", compression=True)
    v1 = session.wanted
    job = _compressing_2(session)
    session.world.finish_job(job, digest_of("2"))
    session.run_to("Ready", passes=120)
    v2 = session.status["stableRevision"]
    assert session.status["stableVersion"] == "2"
    # Promoted as soon as version 2 can serve alone; version 1 drains after.
    session.run_until(lambda s, _: s.world.states()[v1.name].pods == 0)
    jobs = list(session.world.jobs_created)

    session.apply_spec(make_spec("1", compression=True))
    assert session.wanted == v1
    first = session.step()
    assert first.create_job is None
    assert first.create_revision is None
    assert (session.status["currentStep"], session.status["canaryWeight"]) == (2, 100)
    assert first.scale.get(v1.name, 0) > 0  # the kept revision grows first
    assert v2 not in first.scale  # the current one goes down only as it gets ready
    start = len(session.plans)
    session.run_to("Ready")
    assert session.status["stableRevision"] == v1.name
    assert session.status["stableVersion"] == "1"
    assert history(session)[0] == ("1", "Promoted")
    assert "StepCompleted" not in events(session.plans[start - 1 :])
    assert session.world.jobs_created == jobs
    assert session.world.replicas() == {v1.name: 4, v2: 0}
    assert min(session.world.ready_seen[start - 1 :]) >= 4


# -- keeping revisions ---------------------------------------------------------------------


def _promote(session: Session, version: str) -> None:
    session.apply_spec(make_spec(version, **_rollout_of(session)))
    job = session.wanted.job_name
    if job is not None:
        session.step()
        session.world.finish_job(job, digest_of(version))
    session.run_to("Ready", passes=120)
    session.step()  # the pass after the promotion prunes


def test_keep_revisions_prunes_old_deployments_and_their_jobs() -> None:
    session = ready_on("1", compression=True, keepRevisions=1)
    names = {"1": session.wanted}
    _promote(session, "2")
    names["2"] = session.wanted
    assert set(session.world.revisions) == {names["1"].name, names["2"].name}
    _promote(session, "3")
    names["3"] = session.wanted
    pruned = [p for p in session.plans if p.delete_revisions]
    assert [p.delete_revisions for p in pruned] == [[names["1"].name]]
    assert [p.delete_jobs for p in pruned] == [[names["1"].job_name]]
    assert set(session.world.revisions) == {names["2"].name, names["3"].name}
    assert set(session.world.jobs) == {names["2"].job_name, names["3"].job_name}
    assert session.world.roles == {names["3"].name: labels.STABLE, names["2"].name: None}
    session.quiet()


def test_only_idle_revisions_are_deleted() -> None:
    """A revision beyond keepRevisions is deleted only once it has no pods left."""
    session = ready_on("1", keepRevisions=1, world=World(linger=3))
    _promote(session, "2")
    session.apply_spec(make_spec("3", keepRevisions=1))
    session.run_until(lambda s, p: s.status.get("phase") == "Ready" and bool(p.delete_revisions))
    for result in session.plans:
        for name in result.delete_revisions:
            assert name == wanted_revision(NAME, make_spec("1")).name


# -- status ----------------------------------------------------------------------------------


def _quiet_points() -> list[tuple[str, Any]]:
    def compressing() -> Session:
        session = Session(make_spec("1", compression=True))
        session.step()
        session.step()  # the Job is there now
        return session

    def pausing() -> Session:
        session = ready_on("1")
        _version_2(session)
        session.run_until(_at_step(0))
        return session

    def failed() -> Session:
        session = ready_on("1", compression=True)
        session.world.fail_job(_compressing_2(session), GATE, gate=True)
        session.run_until(lambda s, p: not p.delete_jobs and s.status["phase"] == "Failed")
        return session

    def rolled_back() -> Session:
        session = pausing()
        session.annotations[labels.ABORT] = "true"
        session.run_until(lambda s, _: sorted(s.world.replicas().values()) == [0, 4])
        session.world.settle()
        return session

    return [
        ("compressing", compressing),
        ("ready", lambda: ready_on("1")),
        ("pausing", pausing),
        ("failed", failed),
        ("rolled-back", rolled_back),
    ]


@pytest.mark.parametrize(("point", "build"), _quiet_points(), ids=[p for p, _ in _quiet_points()])
def test_an_unchanged_pass_writes_nothing(point: str, build: Any) -> None:
    session: Session = build()
    session.world.settle()
    quiet = session.quiet()
    assert quiet.status == session.status
    session.advance(1)
    if point != "pausing":  # a pause's requeue is about the remaining time only
        assert plan_status(session) == session.status


def plan_status(session: Session) -> dict[str, Any]:
    return plan(session.inputs(session.verdict)).status


def test_conditions_flip_with_their_transition_time() -> None:
    session = ready_on("1")
    progressing = condition(session.status, "Progressing")
    assert progressing["status"] == "False"
    _version_2(session)
    session.advance(7)
    session.step()
    started = condition(session.status, "Progressing")
    assert started["status"] == "True"
    assert started["lastTransitionTime"] == timestamp(session.now)
    assert started["observedGeneration"] == 2
    session.run_until(_at_step(1))
    during = condition(session.status, "Progressing")
    assert during["reason"] == "CanaryStep"
    assert during["lastTransitionTime"] == started["lastTransitionTime"]
    session.run_to("Ready")
    done = condition(session.status, "Progressing")
    assert (done["status"], done["reason"]) == ("False", "RolloutComplete")
    assert done["lastTransitionTime"] == timestamp(session.now)
    types = [c["type"] for c in session.status["conditions"]]
    assert types == sorted(set(types))


def test_every_phase_change_is_an_event() -> None:
    session = ready_on("1")
    _version_2(session)
    session.run_to("Ready", passes=120)
    phases = [p.status.get("phase") for p in session.plans]
    changes = sum(1 for a, b in zip([None, *phases], phases, strict=False) if a != b)
    phase_events = [r for r in events(session.plans) if r.startswith("Phase")]
    assert len(phase_events) == changes


def test_the_promotion_pass_has_one_stable_revision() -> None:
    session = ready_on("1")
    _version_2(session)
    promotion = session.run_until(lambda s, _: s.status.get("stableVersion") == "2", passes=120)
    stable = [name for name, role in promotion.roles.items() if role == labels.STABLE]
    assert stable == [session.wanted.name]


def test_history_is_bounded_newest_first() -> None:
    session = ready_on("1")
    for version in range(2, 25):
        session.apply_spec(make_spec(str(version)))
        session.annotations[labels.PROMOTE] = str(version)
        session.run_to("Ready", passes=40)
    versions = [v for v, _ in history(session)]
    assert versions == [str(v) for v in range(24, 4, -1)]


def test_a_failure_within_the_post_promotion_window_brings_the_previous_version_back() -> None:
    session = ready_on("1")
    old = session.status["stableRevision"]
    _version_2(session)
    session.run_to("Ready", passes=120, verdict=Verdict(Outcome.PASS, "every metric passed"))
    new = session.status["stableRevision"]
    assert session.status["previousRevision"] == old
    assert "promotedAt" in session.status
    session.run_until(lambda s, _: s.world.states()[old].pods == 0)

    failing = Verdict(Outcome.FAIL, "error-rate 0.5 > 0.05 (2 intervals in a row)")
    session.step(failing)
    assert session.status["phase"] == "RolledBack"
    entry = session.status["history"][0]
    assert (entry["version"], entry["outcome"]) == ("2", "RolledBack")
    assert entry["reason"].startswith("after promotion: error-rate")
    # The previous version grows first; the failing one stays stable until it can take over.
    assert session.status["stableRevision"] == new
    start = len(session.world.ready_seen)
    session.run_until(lambda s, _: s.status["stableRevision"] == old, passes=30)
    assert session.status["stableVersion"] == "1"
    assert "previousRevision" not in session.status
    session.run_until(lambda s, _: s.world.replicas() == {old: 4, new: 0}, passes=30)
    assert min(session.world.ready_seen[start:]) >= 3  # never below replicas - maxSurge 0 rule
    assert [e["outcome"] for e in session.status["history"]].count("RolledBack") == 1
    session.quiet()
