"""The job end to end on the digits MLP: chain, gate, artifact, failures."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from modeldeploy.compress.report import summary
from tests.compress.conftest import RunJob
from tests.fixtures.models import REPO_ROOT, DigitsModel

DEFAULT_CHAIN = [
    {"type": "prune", "sparsity": 0.5, "structured": False},
    {"type": "quantize", "mode": "dynamic", "weightType": "int8"},
]


def test_default_chain_passes_and_stores_a_content_addressed_artifact(run_job: RunJob) -> None:
    run = run_job(DEFAULT_CHAIN)

    assert run.exit_code == 0, run.termination
    summary = json.loads(run.termination)
    assert len(run.termination.encode()) < 4096
    assert summary["passed"] is True
    assert [s["outcome"] for s in summary["steps"]] == ["applied", "applied"]
    digest = summary["digest"].removeprefix("sha256:")
    artifact = run.store / digest / "model.onnx"
    assert summary["artifact"] == str(artifact)
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == digest
    onnx.checker.check_model(onnx.load(str(artifact)))
    stored = json.loads((run.store / digest / "report.json").read_text())
    assert stored["metric"]["drop"] <= 0.01
    assert stored["ratio"] >= 3.5
    assert stored["environment"]["onnxruntime"]
    assert {lat["batch"] for lat in stored["compressed"]["latency"]} == {1, 64}
    assert not [p for p in run.store.iterdir() if p.name.startswith(".")]  # no staging left


def test_rerun_with_same_inputs_reuses_the_artifact(run_job: RunJob) -> None:
    first = run_job(DEFAULT_CHAIN)
    second = run_job(DEFAULT_CHAIN)

    assert first.exit_code == second.exit_code == 0
    assert json.loads(second.termination)["reused"] is True
    assert json.loads(second.termination)["digest"] == json.loads(first.termination)["digest"]
    assert second.report["reused"] is True


def test_gate_at_zero_with_a_lossy_step_fails_with_a_readable_reason(run_job: RunJob) -> None:
    run = run_job(
        [{"type": "prune", "sparsity": 0.5, "structured": True}], evaluation={"maxDrop": 0.0}
    )

    assert run.exit_code != 0
    assert run.termination.startswith("gate failed: accuracy 0.9")
    assert "> maxDrop 0.0" in run.termination
    assert "\n" not in run.termination
    assert run.report["passed"] is False
    assert not run.store.exists() or not [p for p in run.store.iterdir() if p.name != "index"]


def test_corrupted_model_fails_cleanly(
    run_job: RunJob, tmp_path: Path, digits: DigitsModel
) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(digits.model.read_bytes()[:5000] + b"\x00garbage")

    run = run_job(DEFAULT_CHAIN, modelUri=broken.as_uri())

    assert run.exit_code == 1
    assert run.termination.startswith("compression failed: model ")
    assert "is not a valid ONNX model" in run.termination


def test_wrong_sha256_fails_cleanly(run_job: RunJob) -> None:
    run = run_job(DEFAULT_CHAIN, sha256="0" * 64)

    assert run.exit_code == 1
    assert "model sha256 mismatch: expected 0000" in run.termination


def test_matching_sha256_is_accepted(run_job: RunJob, digits: DigitsModel) -> None:
    digest = hashlib.sha256(digits.model.read_bytes()).hexdigest()

    assert run_job(DEFAULT_CHAIN, sha256=f"sha256:{digest}").exit_code == 0


def test_missing_dataset_fails_cleanly(run_job: RunJob, tmp_path: Path) -> None:
    run = run_job(DEFAULT_CHAIN, evaluation={"datasetUri": (tmp_path / "none.npz").as_uri()})

    assert run.exit_code == 1
    assert "evaluation dataset not found" in run.termination


def test_invalid_spec_names_the_field(run_job: RunJob) -> None:
    run = run_job([{"type": "prune", "sparsity": 1.5}])

    assert run.exit_code == 1
    assert "invalid spec: steps.0.prune.sparsity" in run.termination


@pytest.mark.slow
def test_cli_reads_the_spec_from_the_environment(tmp_path: Path, digits: DigitsModel) -> None:
    spec = {
        "modelUri": digits.model.as_uri(),
        "steps": [{"type": "quantize", "mode": "dynamic"}],
        "evaluation": {"datasetUri": digits.val.as_uri(), "latencyRuns": 2},
        "artifactStore": str(tmp_path / "store"),
    }
    termination = tmp_path / "termination-log"
    env = {
        **os.environ,
        "MODELDEPLOY_COMPRESS_SPEC": json.dumps(spec),
        "MODELDEPLOY_TERMINATION_LOG": str(termination),
        "PYTHONPATH": str(REPO_ROOT / "operator"),
    }

    done = subprocess.run(
        [sys.executable, "-m", "modeldeploy", "compress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert "step 1/1: quantize applied" in done.stderr
    assert json.loads(termination.read_text())["passed"] is True


@pytest.mark.parametrize("uri", ["ftp://host/model.onnx", "pvc://only-a-claim"])
def test_unsupported_model_uris_fail_cleanly(run_job: RunJob, uri: str) -> None:
    run = run_job(DEFAULT_CHAIN, modelUri=uri)

    assert run.exit_code == 1
    assert run.termination.startswith(f"compression failed: {uri}")


def test_termination_summary_stays_under_4096_bytes_for_long_reports(run_job: RunJob) -> None:
    full = run_job(DEFAULT_CHAIN).report
    long_step = {**full["steps"][0], "type": "quantize", "outcome": "nothing-to-compress"}
    huge = {**full, "steps": [long_step] * 16, "reason": "x " * 5000}

    text = summary(huge)

    assert len(text.encode()) < 4096
    short = json.loads(text)
    assert short["passed"] is True
    assert short["digest"] == full["digest"]
