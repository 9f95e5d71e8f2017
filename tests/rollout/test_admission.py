"""The Accepted condition: derived from the spec alone, stable while nothing changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.rollout.admission import admission_status, spec_errors, status_changes

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits-quantized-canary.yaml"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _resource(generation: int = 1) -> dict[str, Any]:
    resource: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    resource["metadata"]["generation"] = generation
    return resource


def _accepted(status: dict[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in status["conditions"] if c["type"] == "Accepted"]
    return condition


def test_valid_spec_is_accepted() -> None:
    status = admission_status(_resource(), NOW)
    assert status["observedGeneration"] == 1
    condition = _accepted(status)
    assert (condition["status"], condition["reason"]) == ("True", "SpecValid")
    assert condition["lastTransitionTime"] == "2026-11-23T12:00:00Z"


def test_invalid_spec_is_refused_naming_the_fields() -> None:
    resource = _resource(generation=2)
    resource["spec"]["rollout"]["steps"] = [{"weight": 50}, {"weight": 20}]
    resource["spec"]["compression"]["evaluation"]["maxDrop"] = 3
    condition = _accepted(admission_status(resource, NOW))
    assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
    assert "spec.rollout.steps: " in condition["message"]
    assert "spec.compression.evaluation.maxDrop: " in condition["message"]
    assert condition["observedGeneration"] == 2


def test_spec_errors_empty_for_every_example() -> None:
    for path in (Path(__file__).parents[2] / "examples").glob("*.yaml"):
        assert spec_errors(yaml.safe_load(path.read_text())["spec"]) == [], path


def test_unchanged_resource_needs_no_write_and_keeps_transition_time() -> None:
    resource = _resource()
    resource["status"] = admission_status(resource, NOW)
    later = admission_status(resource, NOW + timedelta(hours=1))
    assert status_changes(resource, later) == {}


def test_new_generation_updates_observed_generation_only_where_changed() -> None:
    resource = _resource()
    resource["status"] = admission_status(resource, NOW)
    newer = copy.deepcopy(resource)
    newer["metadata"]["generation"] = 5
    changes = status_changes(newer, admission_status(newer, NOW + timedelta(minutes=1)))
    assert changes["observedGeneration"] == 5
    condition = _accepted(changes)
    assert condition["observedGeneration"] == 5
    assert condition["lastTransitionTime"] == "2026-11-23T12:00:00Z"  # still True: no flip


def test_flip_to_invalid_moves_the_transition_time() -> None:
    resource = _resource()
    resource["status"] = admission_status(resource, NOW)
    resource["spec"]["serving"]["replicas"] = 0
    condition = _accepted(admission_status(resource, NOW + timedelta(minutes=3)))
    assert condition["status"] == "False"
    assert condition["lastTransitionTime"] == "2026-11-23T12:03:00Z"


def test_phase_pending_when_accepted_failed_when_refused_pending_again_when_fixed() -> None:
    resource = _resource()
    resource["status"] = admission_status(resource, NOW)
    assert resource["status"]["phase"] == "Pending"
    broken = copy.deepcopy(resource)
    broken["spec"]["rollout"]["steps"] = [{"weight": 50}, {"weight": 20}]
    broken["status"] = admission_status(broken, NOW)
    assert broken["status"]["phase"] == "Failed"
    fixed = {**broken, "spec": resource["spec"]}
    assert admission_status(fixed, NOW)["phase"] == "Pending"


def test_admission_keeps_a_phase_it_did_not_set() -> None:
    resource = _resource()
    resource["status"] = {**admission_status(resource, NOW), "phase": "RollingOut"}
    assert admission_status(resource, NOW)["phase"] == "RollingOut"
    resource["status"]["phase"] = "Failed"  # e.g. a failed compression, with a valid spec
    assert admission_status(resource, NOW)["phase"] == "Failed"


def test_status_changes_remove_fields_gone_from_a_changed_object() -> None:
    """A merge patch keeps what it does not mention: a field that disappeared inside an
    object (an earlier analysis's metrics) must be sent as null."""
    resource = {
        "status": {
            "phase": "RollingOut",
            "analysis": {"revision": "a", "step": -1, "metrics": [{"name": "error-rate"}]},
        }
    }
    wanted = {"phase": "RollingOut", "analysis": {"revision": "b", "step": 0}}
    assert status_changes(resource, wanted) == {
        "analysis": {"revision": "b", "step": 0, "metrics": None}
    }
