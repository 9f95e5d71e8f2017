"""The artifact store: content-addressed, complete or absent, found again by the job inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import onnx
import pytest

from modeldeploy.compress.artifacts import ArtifactStore
from modeldeploy.compress.errors import CompressError
from tests.fixtures.models import DigitsModel


def test_put_names_the_folder_by_the_model_digest_and_find_returns_it(
    tmp_path: Path, digits: DigitsModel
) -> None:
    store = ArtifactStore(tmp_path / "store")
    model = onnx.load(str(digits.model))

    digest = store.put(model, {"passed": True}, fingerprint="inputs-1")

    stored = (tmp_path / "store" / digest / "model.onnx").read_bytes()
    assert digest == hashlib.sha256(stored).hexdigest()
    found = store.find("inputs-1")
    assert found is not None
    assert found["digest"] == f"sha256:{digest}"
    assert store.find("inputs-2") is None


def test_an_interrupted_put_leaves_no_artifact_and_no_index_entry(
    tmp_path: Path, digits: DigitsModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(tmp_path / "store")

    def killed(self: Path, target: Path) -> Path:
        raise KeyboardInterrupt  # the job stopped between writing and publishing

    monkeypatch.setattr(Path, "rename", killed)
    with pytest.raises(KeyboardInterrupt):
        store.put(onnx.load(str(digits.model)), {"passed": True}, fingerprint="inputs-1")

    assert list((tmp_path / "store").iterdir()) == []
    assert store.find("inputs-1") is None


def test_an_unwritable_store_fails_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")

    with pytest.raises(CompressError, match=r"artifact store .* is not writable"):
        ArtifactStore(tmp_path / "file" / "store")
