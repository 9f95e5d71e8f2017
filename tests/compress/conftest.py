"""The digits MLP (trained once, cached under data/) and a helper that runs the job."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from modeldeploy.compress.job import main
from tests.fixtures.models import DigitsModel, default_data_dir, digits_mlp

# One thread: on this 2-core machine more threads were measured to be much slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> DigitsModel:
    return digits_mlp(default_data_dir())


@dataclass
class JobRun:
    exit_code: int
    termination: str
    report: dict[str, Any]
    store: Path


RunJob = Callable[..., JobRun]


@pytest.fixture
def run_job(tmp_path: Path, digits: DigitsModel) -> RunJob:
    """Run `modeldeploy compress` in-process on a spec (digits defaults filled in)."""

    def run(steps: list[dict[str, Any]], **overrides: Any) -> JobRun:
        store = tmp_path / "store"
        report_path = tmp_path / "report.json"
        evaluation = {
            "datasetUri": digits.val.as_uri(),
            "metric": "accuracy",
            "maxDrop": 0.01,
            "batchSize": 64,
            "latencyRuns": 5,
            **overrides.pop("evaluation", {}),
        }
        spec = {
            "modelUri": digits.model.as_uri(),
            "steps": steps,
            "evaluation": evaluation,
            "artifactStore": str(store),
            "reportPath": str(report_path),
            **overrides,
        }
        spec_path = tmp_path / "spec.json"
        spec_path.write_text(json.dumps(spec))
        termination = tmp_path / "termination-log"
        termination.unlink(missing_ok=True)
        report_path.unlink(missing_ok=True)
        code = main(["--spec", str(spec_path), "--termination-log", str(termination)])
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        return JobRun(code, termination.read_text(), report, store)

    return run
