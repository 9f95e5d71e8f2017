"""Replica counts on the way to each revision's target, within the pod budget."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modeldeploy.rollout.observed import RevisionState
from modeldeploy.rollout.scaling import canary_replicas, scale_towards


def _state(
    name: str, replicas: int, pods: int | None = None, ready: int | None = None
) -> RevisionState:
    pods = replicas if pods is None else pods
    return RevisionState(
        name=name,
        version=name,
        digest=None,
        compression_key=None,
        replicas=replicas,
        pods=pods,
        ready=pods if ready is None else ready,
    )


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        (4, 25, 1),
        (4, 50, 2),
        (4, 10, 1),
        (3, 50, 2),
        (10, 10, 1),
        (10, 11, 2),
        (1, 10, 1),
        (10, 99, 10),
        (100, 1, 1),
        (100, 7, 7),
    ],
)
def test_canary_replicas_rounds_up_to_at_least_one(total: int, weight: int, expected: int) -> None:
    assert canary_replicas(total, weight) == expected


def test_a_new_revision_gets_the_whole_budget_when_nothing_else_runs() -> None:
    assert scale_towards(4, 1, {}, {"a": 4}) == {"a": 4}


def test_with_max_surge_the_canary_grows_first_and_the_stable_waits_for_it() -> None:
    revisions = {"old": _state("old", 4)}
    assert scale_towards(4, 1, revisions, {"new": 1, "old": 3}) == {"new": 1, "old": 4}
    revisions["new"] = _state("new", 1)
    assert scale_towards(4, 1, revisions, {"new": 1, "old": 3}) == {"old": 3}


def test_without_max_surge_the_stable_shrinks_first() -> None:
    revisions = {"old": _state("old", 4)}
    # No room: the canary is created at 0, the stable gives one pod (one may be unavailable).
    assert scale_towards(4, 0, revisions, {"new": 1, "old": 3}) == {"new": 0, "old": 3}
    # The old pod is still terminating: it still counts.
    revisions["old"] = _state("old", 3, pods=4, ready=3)
    revisions["new"] = _state("new", 0)
    assert scale_towards(4, 0, revisions, {"new": 1, "old": 3}) == {"new": 0}
    revisions["old"] = _state("old", 3)
    assert scale_towards(4, 0, revisions, {"new": 1, "old": 3}) == {"new": 1}


def test_not_ready_pods_go_first_ready_ones_only_as_others_make_up_for_them() -> None:
    revisions = {"old": _state("old", 4, ready=2), "new": _state("new", 2, ready=1)}
    # Availability floor 4 (maxSurge 1): 1 ready on the growing side, so 3 are needed, but
    # the old one has only 2 ready: it keeps those and drops its 2 that are not ready.
    assert scale_towards(4, 1, revisions, {"new": 4, "old": 0}) == {"new": 2, "old": 2}


def test_revisions_outside_the_targets_are_left_alone() -> None:
    revisions = {"kept": _state("kept", 0), "old": _state("old", 2)}
    assert scale_towards(2, 1, revisions, {"old": 2}) == {}


def test_a_spec_replicas_ahead_of_its_pods_counts_towards_the_budget() -> None:
    revisions = {"old": _state("old", 4, pods=2, ready=2)}
    assert scale_towards(4, 0, revisions, {"new": 1, "old": 4}) == {"new": 0}


_revision = st.tuples(
    st.integers(0, 8), st.integers(0, 3), st.integers(0, 8), st.integers(0, 8)
)  # replicas, extra terminating pods, ready, target


@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(1, 8),
    max_surge=st.integers(0, 3),
    rows=st.lists(_revision, min_size=1, max_size=4),
    new_target=st.integers(0, 8),
)
def test_growth_stays_within_the_budget_and_shrinking_keeps_availability(
    total: int, max_surge: int, rows: list[tuple[int, int, int, int]], new_target: int
) -> None:
    revisions = {
        f"r{i}": _state(f"r{i}", replicas, pods=replicas + extra, ready=min(ready, replicas))
        for i, (replicas, extra, ready, _) in enumerate(rows)
    }
    targets = {f"r{i}": target for i, (*_, target) in enumerate(rows)}
    targets["new"] = new_target
    result = scale_towards(total, max_surge, revisions, targets)
    budget = total + max_surge
    before = sum(s.counted for s in revisions.values())
    after = sum(
        max(s.counted, result.get(name, s.replicas)) for name, s in revisions.items()
    ) + result.get("new", 0)
    assert after <= max(before, budget)
    for name, replicas in result.items():
        current = revisions[name].replicas if name in revisions else 0
        # Every revision moves towards its target, never past it.
        assert min(current, targets[name]) <= replicas <= max(current, targets[name])
    ready_before = sum(s.ready for s in revisions.values())
    ready_after = sum(min(s.ready, result.get(name, s.replicas)) for name, s in revisions.items())
    floor = total - (0 if max_surge else 1)
    assert ready_after >= min(ready_before, floor)
