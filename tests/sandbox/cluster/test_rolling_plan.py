"""Rolling-update arithmetic against the Kubernetes deployment controller's rules."""

from __future__ import annotations

from typing import Any

import pytest

from modeldeploy.sandbox.controllers.rolling import (
    ReplicaSetState,
    fenceposts,
    plan_step,
    pod_template_hash,
)


def strategy(surge: int | str, unavailable: int | str) -> dict[str, Any]:
    return {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas", "expected"),
    [
        ("25%", "25%", 3, (1, 0)),  # surge rounds up, unavailable rounds down
        ("25%", "25%", 10, (3, 2)),
        (0, 0, 4, (0, 1)),  # both zero would deadlock: unavailable becomes 1
        (2, 5, 3, (2, 3)),  # never more unavailable than replicas
        ("50%", "0%", 5, (3, 0)),
    ],
)
def test_fenceposts(surge: Any, unavailable: Any, replicas: int, expected: tuple[int, int]) -> None:
    posts = fenceposts(strategy(surge, unavailable), replicas)
    assert (posts.max_surge, posts.max_unavailable) == expected


def test_bad_percentage_names_the_value() -> None:
    with pytest.raises(ValueError, match="'ten'"):
        fenceposts(strategy("ten", 1), 3)


@pytest.mark.parametrize(
    ("surge", "unavailable", "replicas"),
    [(1, 1, 3), ("25%", "25%", 10), (0, 1, 4), (3, 0, 3), ("100%", "0%", 2)],
)
def test_a_simulated_rollout_stays_within_its_bounds(
    surge: Any, unavailable: Any, replicas: int
) -> None:
    """Pods become available one step after they are created; old pods go at once."""
    rules = strategy(surge, unavailable)
    posts = fenceposts(rules, replicas)
    new = ReplicaSetState("new", 0, 0)
    old = [ReplicaSetState("old", replicas, replicas)]
    for _ in range(100):
        changes = plan_step(replicas, rules, new, old)
        # availability lags one step: what existed before this step is available now
        new = ReplicaSetState("new", changes.get("new", new.replicas), new.replicas)
        old = [
            ReplicaSetState(
                "old",
                changes.get("old", old[0].replicas),
                min(old[0].available, changes.get("old", old[0].replicas)),
            )
        ]
        assert new.replicas + old[0].replicas <= replicas + posts.max_surge
        assert new.available + old[0].available >= replicas - posts.max_unavailable
        if not changes and old[0].replicas == 0 and new.available == replicas:
            break
    assert (new.replicas, old[0].replicas) == (replicas, 0)


def test_scaling_without_a_template_change_resizes_the_one_replicaset() -> None:
    current = ReplicaSetState("rs", 3, 3)
    assert plan_step(0, strategy("25%", "25%"), current, []) == {"rs": 0}
    assert plan_step(5, strategy("25%", "25%"), ReplicaSetState("rs", 0, 0), []) == {"rs": 5}


def test_recreate_stops_old_pods_before_starting_new_ones() -> None:
    rules = {"type": "Recreate"}
    new = ReplicaSetState("new", 0, 0)
    assert plan_step(2, rules, new, [ReplicaSetState("old", 2, 2, 2)]) == {"old": 0}
    assert plan_step(2, rules, new, [ReplicaSetState("old", 0, 0, 1)]) == {}
    assert plan_step(2, rules, new, [ReplicaSetState("old", 0, 0, 0)]) == {"new": 2}


def test_template_hash_ignores_its_own_label_and_changes_with_the_template() -> None:
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}
    labelled = {
        "metadata": {"labels": {"app": "x", "pod-template-hash": "abc"}},
        "spec": template["spec"],
    }
    first = pod_template_hash(template)
    assert first == pod_template_hash(labelled)
    assert first.isalnum()
    assert len(first) <= 10
    assert first != pod_template_hash({**template, "spec": {"containers": [{"name": "d"}]}})
    assert first != pod_template_hash(template, collision_count=1)
