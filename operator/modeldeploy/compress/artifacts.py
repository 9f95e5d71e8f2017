"""The content-addressed artifact store: `<store>/<sha256>/model.onnx` + `report.json`.

An artifact is written into a temporary folder and renamed into place, so a folder named by
a digest is always complete. `<store>/index/<key>` maps the job's inputs (model digest,
steps, evaluation) to the digest, so a re-run with the same inputs reuses the artifact.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import onnx

from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.sources import CHUNK

MODEL_FILE = "model.onnx"
REPORT_FILE = "report.json"
INDEX = "index"
# Protobuf cannot serialize 2 GiB; larger models keep their tensors in a side file.
EXTERNAL_DATA_BYTES = 1 << 30


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CompressError(
                f"artifact store {root} is not writable: {error.strerror}"
            ) from None

    def _index_path(self, fingerprint: str) -> Path:
        return self.root / INDEX / hashlib.sha256(fingerprint.encode()).hexdigest()

    def find(self, fingerprint: str) -> dict[str, Any] | None:
        """The stored report of an earlier run with the same inputs, if its artifact is there."""
        try:
            digest = self._index_path(fingerprint).read_text().strip()
            report: dict[str, Any] = json.loads((self.root / digest / REPORT_FILE).read_text())
        except (OSError, ValueError):
            return None
        return report if (self.root / digest / MODEL_FILE).is_file() else None

    def put(self, model: onnx.ModelProto, report: dict[str, Any], fingerprint: str) -> Path:
        """Store `model` under its digest; `report` gets `digest` and `artifact` filled in."""
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            model_path = staging / MODEL_FILE
            large = model.ByteSize() > EXTERNAL_DATA_BYTES
            onnx.save(
                model,
                str(model_path),
                save_as_external_data=large,
                location=f"{MODEL_FILE}.data",
            )
            digest = _digest(sorted(staging.iterdir()))
            target = self.root / digest
            report["digest"] = f"sha256:{digest}"
            report["artifact"] = str(target / MODEL_FILE)
            (staging / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True))
            if not target.exists():
                try:
                    staging.rename(target)
                except OSError:  # another job stored the same content meanwhile
                    if not target.exists():
                        raise
            write_atomically(self._index_path(fingerprint), digest.encode())
            return target
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _digest(files: list[Path]) -> str:
    """sha256 of the model file (followed by its external data file, if any)."""
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()
