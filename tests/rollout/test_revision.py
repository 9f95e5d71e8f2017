"""Names of a version's children: from the spec alone, stable, and short enough."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from modeldeploy.api.v1alpha1 import ModelDeploymentSpec
from modeldeploy.rollout.revision import job_name, wanted_revision

BASE: dict[str, Any] = {
    "model": {"version": "2", "uri": "pvc://models/digits/2/model.onnx"},
    "compression": {
        "steps": [{"type": "quantize", "mode": "dynamic"}],
        "evaluation": {"datasetUri": "pvc://data/val.npz"},
    },
    "serving": {"replicas": 3},
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _spec(**changes: Any) -> ModelDeploymentSpec:
    """BASE with `a.b=value` changes (dots as separators)."""
    body = copy.deepcopy(BASE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = body
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return ModelDeploymentSpec.model_validate(body)


def test_names_are_stable_across_calls() -> None:
    first = wanted_revision("digits", _spec())
    assert wanted_revision("digits", _spec()) == first
    assert first.version == "2"
    assert first.name.startswith("digits-")
    assert first.compression_key is not None
    assert first.job_name == f"digits-compress-{first.compression_key}"
    assert job_name("digits", first.compression_key) == first.job_name


@pytest.mark.parametrize(
    "change",
    [
        {"model__version": "3"},
        {"model__uri": "pvc://models/digits/3/model.onnx"},
        {"model__sha256": "a" * 64},
        {"model__credentialsSecret": "model-store"},
        {"compression__evaluation": {"datasetUri": "pvc://data/val.npz", "maxDrop": 0.02}},
        {"serving__image": "registry.example/modeldeploy:2"},
        {"serving__threads": 4},
        {"serving__batching": {"maxBatchSize": 8}},
        {"serving__resources": {"limits": {"cpu": "2"}}},
        {"serving__podOverrides": {"priorityClassName": "high"}},
        {"serving__nodeSelector": {"pool": "cpu"}},
    ],
    ids=lambda change: next(iter(change)),
)
def test_what_reaches_the_pods_makes_a_new_revision(change: dict[str, Any]) -> None:
    assert (
        wanted_revision("digits", _spec(**change)).name != wanted_revision("digits", _spec()).name
    )


@pytest.mark.parametrize(
    "change",
    [
        {"serving__replicas": 7},
        {"rollout": {"steps": [{"weight": 50}], "maxSurge": 0, "keepRevisions": 5}},
    ],
    ids=["replicas", "rollout"],
)
def test_scaling_and_rollout_settings_keep_the_revision(change: dict[str, Any]) -> None:
    assert wanted_revision("digits", _spec(**change)) == wanted_revision("digits", _spec())


def test_the_compression_key_follows_the_file_and_the_compression_not_the_version() -> None:
    key = wanted_revision("digits", _spec()).compression_key
    assert wanted_revision("digits", _spec(model__version="2b")).compression_key == key
    assert wanted_revision("digits", _spec(serving__replicas=1)).compression_key == key
    other = _spec(compression__steps=[{"type": "quantize", "mode": "fp16"}])
    assert wanted_revision("digits", other).compression_key != key
    other_file = _spec(model__uri="pvc://models/digits/9/model.onnx")
    assert wanted_revision("digits", other_file).compression_key != key


def test_without_compression_there_is_no_job() -> None:
    body = copy.deepcopy(BASE)
    del body["compression"]
    revision = wanted_revision("digits", ModelDeploymentSpec.model_validate(body))
    assert revision.compression_key is None
    assert revision.job_name is None
    assert revision.name != wanted_revision("digits", _spec()).name


@pytest.mark.parametrize(
    "name",
    ["a" * 253, "a" * 39 + "-" + "b" * 30, "a" * 39 + "." + "b" * 30, "x" * 63, "m.d"],
)
def test_long_names_fit_63_characters(name: str) -> None:
    revision = wanted_revision(name, _spec())
    assert revision.job_name is not None
    for child in (revision.name, revision.job_name):
        assert len(child) <= 63, child
        assert re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", child), child
        assert "-." not in child
        assert ".-" not in child


def test_short_names_are_dns_labels() -> None:
    revision = wanted_revision("digits-v2", _spec())
    assert revision.job_name is not None
    assert DNS_LABEL.match(revision.name)
    assert DNS_LABEL.match(revision.job_name)


def test_long_names_of_two_resources_do_not_collide() -> None:
    first = wanted_revision("recommendation-model-for-the-front-page-ranking-" + "eu", _spec())
    second = wanted_revision("recommendation-model-for-the-front-page-ranking-" + "us", _spec())
    assert first.name != second.name
    assert first.job_name != second.job_name
