"""The content-addressed artifact store: `<store>/<sha256>/model.onnx` + `report.json`.

An artifact is written into a temporary folder and renamed into place, so a folder named by
a digest is always complete. `<store>/index/<key>` maps the job's inputs (model digest,
steps, evaluation) to the digest, so a re-run with the same inputs reuses the artifact.
The digest is the sha256 of `model.onnx` followed by its external data `model.onnx.data`,
if any. `s3store.S3ArtifactStore` keeps the same layout under an S3 prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import onnx

from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.sources import files_sha256

MODEL_FILE = "model.onnx"
DATA_FILE = f"{MODEL_FILE}.data"
REPORT_FILE = "report.json"
INDEX = "index"
# Protobuf cannot serialize 2 GiB; larger models keep their tensors in a side file.
EXTERNAL_DATA_BYTES = 1 << 30
# Serving pods may run as another user than the job: artifacts are readable by all (they are
# immutable and content-addressed; the store's own permissions decide who may write).
FILE_MODE = 0o644
FOLDER_MODE = 0o755


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(handle, FILE_MODE)  # mkstemp creates 0600
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


class Store(Protocol):
    def find(self, fingerprint: str) -> dict[str, Any] | None:
        """The stored report of an earlier run with the same inputs, if its artifact is there."""

    def put(self, model: onnx.ModelProto, report: dict[str, Any], fingerprint: str) -> str:
        """Store `model` under its digest (returned); `report` gets `digest` and `artifact`."""


def index_key(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()


def stage(
    model: onnx.ModelProto, report: dict[str, Any], staging: Path, location: Callable[[str], str]
) -> str:
    """Write the artifact's files into the empty folder `staging`; its digest.

    `report` gets the digest and `artifact`: `location(digest)`, where the model file will be.
    """
    large = model.ByteSize() > EXTERNAL_DATA_BYTES
    onnx.save(model, str(staging / MODEL_FILE), save_as_external_data=large, location=DATA_FILE)
    digest = files_sha256(sorted(staging.iterdir()))  # model.onnx, then model.onnx.data
    report["digest"] = f"sha256:{digest}"
    report["artifact"] = location(digest)
    (staging / REPORT_FILE).write_text(json.dumps(report, indent=2, sort_keys=True))
    for path in staging.iterdir():
        path.chmod(FILE_MODE)
    return digest


class ArtifactStore:
    """The store in a local directory (or a mounted PersistentVolumeClaim)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CompressError(
                f"artifact store {root} is not writable: {error.strerror}"
            ) from None

    def _index_path(self, fingerprint: str) -> Path:
        return self.root / INDEX / index_key(fingerprint)

    def find(self, fingerprint: str) -> dict[str, Any] | None:
        try:
            digest = self._index_path(fingerprint).read_text().strip()
            report: dict[str, Any] = json.loads((self.root / digest / REPORT_FILE).read_text())
        except (OSError, ValueError):
            return None
        return report if (self.root / digest / MODEL_FILE).is_file() else None

    def put(self, model: onnx.ModelProto, report: dict[str, Any], fingerprint: str) -> str:
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            staging.chmod(FOLDER_MODE)  # mkdtemp creates 0700
            digest = stage(model, report, staging, lambda d: str(self.root / d / MODEL_FILE))
            target = self.root / digest
            if not target.exists():
                try:
                    staging.rename(target)
                except OSError:  # another job stored the same content meanwhile
                    if not target.exists():
                        raise
            write_atomically(self._index_path(fingerprint), digest.encode())
            return digest
        finally:
            shutil.rmtree(staging, ignore_errors=True)
