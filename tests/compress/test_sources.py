"""Model and dataset sources: file, pvc, https (size limit, errors), s3 (URI checks)."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from modeldeploy.compress import sources
from modeldeploy.compress.errors import CompressError
from tests.compress.conftest import RunJob
from tests.fixtures.models import DigitsModel


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path, digits: DigitsModel) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving a folder with the digits model."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.onnx").write_bytes(digits.model.read_bytes())
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_job_downloads_the_model_over_http(run_job: RunJob, served: str) -> None:
    run = run_job([{"type": "quantize", "mode": "dynamic"}], modelUri=f"{served}/model.onnx")

    assert run.exit_code == 0, run.termination
    assert run.report["source"]["uri"] == f"{served}/model.onnx"


def test_download_over_the_size_limit_is_refused(
    served: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "MAX_DOWNLOAD_BYTES", 1000)

    with pytest.raises(CompressError, match="over the 1000 limit"):
        sources.fetch(f"{served}/model.onnx", tmp_path, {}, "model")


def test_missing_remote_file_names_the_http_status(served: str, tmp_path: Path) -> None:
    with pytest.raises(CompressError, match=r"cannot download model .*: HTTP 404"):
        sources.fetch(f"{served}/absent.onnx", tmp_path, {}, "model")


def test_unreachable_server_fails_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(
        CompressError, match=re.escape("cannot download model http://127.0.0.1:9/m.onnx")
    ):
        sources.fetch("http://127.0.0.1:9/m.onnx", tmp_path, {}, "model")


def test_pvc_uri_resolves_under_the_mount_root(tmp_path: Path) -> None:
    (tmp_path / "models" / "digits").mkdir(parents=True)
    (tmp_path / "models" / "digits" / "model.onnx").write_bytes(b"x")

    path = sources.fetch(
        "pvc://models/digits/model.onnx", tmp_path, {sources.PVC_ROOT_ENV: str(tmp_path)}, "model"
    )

    assert path == tmp_path / "models" / "digits" / "model.onnx"


@pytest.mark.parametrize(
    ("uri", "message"),
    [("s3://bucket-only", "an s3 URI is s3://<bucket>/<key>"), ("gs://b/k", "unsupported scheme")],
)
def test_malformed_remote_uris_are_refused(tmp_path: Path, uri: str, message: str) -> None:
    with pytest.raises(CompressError, match=message):
        sources.fetch(uri, tmp_path, {}, "model")


class _FakeS3:
    """Stands in for boto3's S3 client: one object, `models/model.onnx` in bucket `b`."""

    def __init__(self, content: bytes) -> None:
        self.content = content

    def head_object(self, Bucket: str, Key: str) -> dict[str, int]:  # noqa: N803 (boto3 names)
        if (Bucket, Key) != ("b", "models/model.onnx"):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "NoSuchKey", "Message": "missing"}}, "HeadObject"
            )
        return {"ContentLength": len(self.content)}

    def download_file(self, bucket: str, key: str, target: str) -> None:
        Path(target).write_bytes(self.content)


def test_s3_download_and_missing_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(boto3, "client", lambda service: _FakeS3(b"onnx bytes"))

    path = sources.fetch("s3://b/models/model.onnx", tmp_path, {}, "model")

    assert path.read_bytes() == b"onnx bytes"
    with pytest.raises(CompressError, match=r"cannot download model s3://b/absent: NoSuchKey"):
        sources.fetch("s3://b/absent", tmp_path, {}, "model")
