"""Artifacts are readable by any user (a serving pod may run as another user than the job),
whatever the job's umask."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compress.conftest import RunJob


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("strict_umask")
def test_artifact_folder_is_0755_and_its_files_0644(run_job: RunJob, tmp_path: Path) -> None:
    run = run_job([{"type": "quantize", "mode": "dynamic"}])

    assert run.exit_code == 0, run.termination
    digest = json.loads(run.termination)["digest"].removeprefix("sha256:")
    folder = run.store / digest
    assert _mode(folder) == 0o755
    assert {path.name: _mode(path) for path in folder.iterdir()} == {
        "model.onnx": 0o644,
        "report.json": 0o644,
    }
    assert _mode(tmp_path / "report.json") == 0o644  # reportPath, written atomically too
    assert not [path for path in run.store.iterdir() if path.name.startswith(".")]
