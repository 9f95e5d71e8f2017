"""The artifact store under an S3 prefix: `s3://bucket/prefix/<sha256>/model.onnx`.

The layout of `artifacts.ArtifactStore`. Each object is uploaded whole (S3 never shows a
partial one), in the order external data, model, report, index entry, so a model object
implies its data and an index entry implies the whole artifact.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import onnx

from modeldeploy.compress import s3
from modeldeploy.compress.artifacts import (
    DATA_FILE,
    INDEX,
    MODEL_FILE,
    REPORT_FILE,
    index_key,
    stage,
)
from modeldeploy.compress.errors import CompressError


class S3ArtifactStore:
    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.bucket, prefix = s3.split(self.uri)
        self.prefix = f"{prefix}/" if prefix else ""
        self.client = s3.client(uri)

    def _read(self, key: str) -> bytes | None:
        try:
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except s3.failures() as error:
            if s3.is_missing(error):
                return None
            raise CompressError(
                f"cannot read artifact store {self.uri}: {s3.reason(error)}"
            ) from None
        return body

    def find(self, fingerprint: str) -> dict[str, Any] | None:
        digest = self._read(f"{self.prefix}{INDEX}/{index_key(fingerprint)}")
        if digest is None:
            return None
        folder = f"{self.prefix}{digest.decode().strip()}"
        text = self._read(f"{folder}/{REPORT_FILE}")
        try:
            report: dict[str, Any] | None = None if text is None else json.loads(text)
        except ValueError:
            return None
        present = s3.exists(self.client, self.bucket, f"{folder}/{MODEL_FILE}", self.uri)
        return report if present else None

    def put(self, model: onnx.ModelProto, report: dict[str, Any], fingerprint: str) -> str:
        with tempfile.TemporaryDirectory(prefix="modeldeploy-artifact-") as folder:
            staging = Path(folder)
            digest = stage(model, report, staging, lambda d: f"{self.uri}/{d}/{MODEL_FILE}")
            try:
                for name in (DATA_FILE, MODEL_FILE, REPORT_FILE):
                    if (staging / name).exists():
                        key = f"{self.prefix}{digest}/{name}"
                        self.client.upload_file(str(staging / name), self.bucket, key)
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=f"{self.prefix}{INDEX}/{index_key(fingerprint)}",
                    Body=digest.encode(),
                )
            except s3.failures() as error:
                raise CompressError(
                    f"cannot upload the artifact to {self.uri}: {s3.reason(error)}"
                ) from None
        return digest
