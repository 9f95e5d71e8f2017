"""A tiny simulated cluster for the planner: it applies a `Plan`'s actions to Job and serving
Deployment states, makes pods ready on demand, and drives `plan` pass by pass, feeding each
pass's `Plan.status` back as the next pass's status.

Every pass also checks what must hold of any pass: the same inputs give the same plan, the
inputs are not mutated, the status is valid against the CRD's status model, and conditions
follow the Kubernetes conventions (one per type, lastTransitionTime moves only on a flip).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec, ModelDeploymentStatus
from modeldeploy.rollout.conditions import timestamp
from modeldeploy.rollout.observed import JobPhase, JobState, RevisionState
from modeldeploy.rollout.plan import Inputs, Plan, plan
from modeldeploy.rollout.revision import Revision, wanted_revision
from modeldeploy.rollout.verdict import Outcome, Verdict

NAME = "digits"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STEPS: list[dict[str, Any]] = [{"weight": 25, "pause": "60s"}, {"weight": 50, "pause": "120s"}]
COMPRESSION: dict[str, Any] = {
    "steps": [{"type": "quantize", "mode": "dynamic", "weightType": "int8"}],
    "evaluation": {"datasetUri": "pvc://data/digits/val.npz", "metric": "accuracy"},
    "resources": {"limits": {"nvidia.com/gpu": 1}},
    "nodeSelector": {"pool": "gpu"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
}
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")


def make_spec(
    version: str = "1",
    *,
    replicas: int = 4,
    compression: bool = False,
    steps: list[dict[str, Any]] | None = None,
    **rollout: Any,
) -> ModelDeploymentSpec:
    """A spec whose model file depends on the version (so each version has its own artifact)."""
    body: dict[str, Any] = {
        "model": {"version": version, "uri": f"pvc://models/digits/{version}/model.onnx"},
        "serving": {"replicas": replicas},
        "rollout": {"steps": STEPS if steps is None else steps, **rollout},
    }
    if compression:
        body["compression"] = copy.deepcopy(COMPRESSION)
    return ModelDeploymentSpec.model_validate(body)


def digest_of(version: str) -> str:
    return "sha256:" + (version * 64)[:64]


def summary(digest: str) -> dict[str, Any]:
    """A compression Job's report, as `modeldeploy compress` writes it (report.summary)."""
    return {
        "passed": True,
        "reason": "accuracy drop 0.0030 <= maxDrop 0.0100",
        "digest": digest,
        "ratio": 3.9,
        "metric": {"name": "accuracy", "baseline": 0.98, "compressed": 0.977, "drop": 0.003},
        "metricDrop": 0.003,
        "sizeBefore": 4000,
        "sizeAfter": 1025,
        "seconds": 12.5,
    }


@dataclass
class Pods:
    """One serving Deployment and its pods, as the Deployment controller would keep them."""

    name: str
    version: str
    digest: str | None
    compression_key: str | None
    replicas: int
    created: str
    running: int = 0
    ready: int = 0
    terminating: list[int] = field(default_factory=list)
    """Passes each terminating pod still lives."""
    waiting: tuple[str, ...] = ()
    """Set for a broken version: its pods never become ready."""

    def scale(self, replicas: int, linger: int) -> None:
        self.replicas = replicas
        if replicas > self.running:
            self.running = replicas
            return
        extra = self.running - replicas
        # Like the ReplicaSet controller: not-ready pods are deleted first.
        ready_deleted = max(0, extra - (self.running - self.ready))
        self.ready -= ready_deleted
        self.running = replicas
        if linger:
            self.terminating.extend([linger] * extra)

    def state(self) -> RevisionState:
        return RevisionState(
            name=self.name,
            version=self.version,
            digest=self.digest,
            compression_key=self.compression_key,
            replicas=self.replicas,
            pods=self.running + len(self.terminating),
            ready=self.ready,
            created=self.created,
            waiting=self.waiting if self.ready < self.running else (),
        )


@dataclass
class World:
    linger: int = 1
    """Settles a terminating pod survives (0: gone at once)."""
    jobs: dict[str, JobState] = field(default_factory=dict)
    revisions: dict[str, Pods] = field(default_factory=dict)
    broken: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Version -> waiting reasons of its pods (they never become ready)."""
    jobs_created: list[str] = field(default_factory=list)
    roles: dict[str, str | None] = field(default_factory=dict)
    pods_seen: list[int] = field(default_factory=list)
    """Serving pods of all versions together, after each pass's actions."""
    ready_seen: list[int] = field(default_factory=list)
    """Ready serving pods of all versions together, after each pass's actions."""
    _created: int = 0

    def states(self) -> dict[str, RevisionState]:
        return {name: pods.state() for name, pods in self.revisions.items()}

    def replicas(self) -> dict[str, int]:
        return {name: pods.replicas for name, pods in self.revisions.items()}

    def apply(self, result: Plan) -> None:
        if result.create_job is not None:
            assert result.create_job not in self.jobs, "a second Job of the same name"
            self.jobs[result.create_job] = JobState(result.create_job, JobPhase.RUNNING)
            self.jobs_created.append(result.create_job)
        new = result.create_revision
        if new is not None:
            assert new.name not in self.revisions, "a second Deployment of the same name"
            self._created += 1
            pods = Pods(
                name=new.name,
                version=new.version,
                digest=new.digest,
                compression_key=new.compression_key,
                replicas=0,
                created=f"2026-03-01T00:00:{self._created:02d}Z",
                waiting=self.broken.get(new.version, ()),
            )
            pods.scale(new.replicas, self.linger)
            self.revisions[new.name] = pods
        for name, replicas in result.scale.items():
            self.revisions[name].scale(replicas, self.linger)
        self.roles.update(result.roles)
        for name in result.delete_revisions:
            pods = self.revisions.pop(name)
            assert pods.replicas == 0
            assert pods.running == 0
            assert not pods.terminating
            self.roles.pop(name, None)
        for name in result.delete_jobs:
            del self.jobs[name]
        self.pods_seen.append(sum(s.pods for s in self.states().values()))
        self.ready_seen.append(sum(s.ready for s in self.states().values()))

    def settle(self, ready: bool = True) -> bool:
        """Terminating pods go (after `linger` settles); pods of unbroken versions get ready.
        True when anything changed (an event would start the next pass at once)."""
        changed = False
        for pods in self.revisions.values():
            if pods.terminating:
                pods.terminating = [n - 1 for n in pods.terminating if n > 1]
                changed = True
            if ready and not pods.waiting and pods.ready < pods.running:
                pods.ready = pods.running
                changed = True
        return changed

    def finish_job(self, name: str, digest: str) -> None:
        self.jobs[name] = JobState(name, JobPhase.SUCCEEDED, result=summary(digest))

    def fail_job(self, name: str, message: str, gate: bool = False) -> None:
        self.jobs[name] = JobState(name, JobPhase.FAILED, message=message, gate_failed=gate)


def check_conditions(
    before: Mapping[str, Any], after: Mapping[str, Any], now: datetime, generation: int
) -> None:
    conditions = after.get("conditions") or []
    types = [c["type"] for c in conditions]
    assert len(types) == len(set(types)), f"one condition per type: {types}"
    previous = {c["type"]: c for c in before.get("conditions") or []}
    for condition in conditions:
        assert condition["status"] in ("True", "False"), condition
        assert _REASON.match(condition["reason"]), condition
        old = previous.get(condition["type"])
        if old is not None and old["status"] == condition["status"]:
            assert condition["lastTransitionTime"] == old["lastTransitionTime"], condition
        else:
            assert condition["lastTransitionTime"] == timestamp(now), condition
        assert condition["observedGeneration"] <= generation, condition
        if condition != old:
            assert condition["observedGeneration"] == generation, condition


@dataclass
class Session:
    """One ModelDeployment driven pass by pass against a `World`."""

    spec: ModelDeploymentSpec
    world: World = field(default_factory=World)
    generation: int = 1
    annotations: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    now: datetime = START
    plans: list[Plan] = field(default_factory=list)
    verdict: Verdict | None = field(default_factory=lambda: Verdict(Outcome.PASS))
    """The analysis verdict of every pass that is given none of its own."""

    @property
    def wanted(self) -> Revision:
        return wanted_revision(NAME, self.spec)

    @property
    def budget(self) -> int:
        return self.spec.serving.replicas + self.spec.rollout.max_surge

    def inputs(self, verdict: Verdict | None = None) -> Inputs:
        return Inputs(
            name=NAME,
            generation=self.generation,
            annotations=dict(self.annotations),
            spec=self.spec,
            status=copy.deepcopy(self.status),
            jobs=dict(self.world.jobs),
            revisions=self.world.states(),
            now=self.now,
            verdict=verdict,
        )

    def apply_spec(self, spec: ModelDeploymentSpec) -> None:
        """A `kubectl apply` that changes the spec: a new generation."""
        self.spec = spec
        self.generation += 1

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def step(self, verdict: Verdict | None = None) -> Plan:
        verdict = verdict or self.verdict
        inputs = self.inputs(verdict)
        before = copy.deepcopy(inputs.status)
        result = plan(inputs)
        assert inputs.status == before, "plan mutated its input status"
        assert plan(self.inputs(verdict)) == result, "the same inputs gave another plan"
        check_conditions(self.status, result.status, self.now, self.generation)
        ModelDeploymentStatus.model_validate(result.status)
        self.world.apply(result)
        self.status = result.status
        self.plans.append(result)
        return result

    def run_until(
        self,
        done: Callable[[Session, Plan], bool],
        *,
        passes: int = 60,
        verdict: Verdict | None = None,
        ready: bool = True,
    ) -> Plan:
        """Passes until `done`; between passes the world settles and the clock moves on by
        a second when something changed (the watch would bring an event at once), else by the
        plan's `requeue_after`."""
        for _ in range(passes):
            result = self.step(verdict)
            if done(self, result):
                return result
            acted = bool(
                result.create_job
                or result.create_revision
                or result.scale
                or result.delete_jobs
                or result.delete_revisions
            )
            changed = self.world.settle(ready) or acted
            wait = 1.0 if changed or result.requeue_after is None else result.requeue_after
            self.advance(max(1.0, wait))
        raise AssertionError(f"not done after {passes} passes; status {self.status}")

    def run_to(self, phase: str, **kwargs: Any) -> Plan:
        return self.run_until(lambda s, _: s.status.get("phase") == phase, **kwargs)

    def quiet(self) -> Plan:
        """A pass over unchanged inputs: same status, nothing to do."""
        result = plan(self.inputs(self.verdict))
        assert result.status == self.status, "a write although nothing changed"
        assert result.create_job is None
        assert result.create_revision is None
        assert not result.scale
        assert not result.delete_jobs
        assert not result.delete_revisions
        assert not result.events
        return result


def ready_on(
    version: str = "1", *, compression: bool = False, world: World | None = None, **spec: Any
) -> Session:
    """A session whose first version is Ready (its Job finished when it compresses)."""
    session = Session(make_spec(version, compression=compression, **spec), world or World())
    promote_first(session)
    return session


def promote_first(session: Session) -> None:
    wanted = session.wanted
    if wanted.job_name is not None:
        session.step()
        session.world.finish_job(wanted.job_name, digest_of(wanted.version))
    session.run_to("Ready")


def history(session: Session) -> list[tuple[str, str]]:
    return [(e["version"], e["outcome"]) for e in session.status.get("history") or []]


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    (found,) = [c for c in status.get("conditions") or [] if c["type"] == type_]
    return dict(found)


def events(plans: list[Plan]) -> list[str]:
    return [e.reason for p in plans for e in p.events]
