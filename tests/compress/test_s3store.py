"""The artifact store under an S3 prefix (moto on 127.0.0.1), alone and as the job's store."""

from __future__ import annotations

import hashlib
import json

import onnx
import pytest

from modeldeploy.compress import s3
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.s3store import S3ArtifactStore
from tests.compress.conftest import RunJob
from tests.fixtures.models import DigitsModel


def test_put_uploads_the_layout_of_the_local_store_and_find_returns_it(
    s3_bucket: str, digits: DigitsModel
) -> None:
    store = S3ArtifactStore(f"s3://{s3_bucket}/artifacts/")
    assert store.find("inputs-1") is None

    digest = store.put(onnx.load(str(digits.model)), {"passed": True}, fingerprint="inputs-1")

    client = s3.client("s3://")
    model = client.get_object(Bucket=s3_bucket, Key=f"artifacts/{digest}/model.onnx")
    assert hashlib.sha256(model["Body"].read()).hexdigest() == digest
    report = client.get_object(Bucket=s3_bucket, Key=f"artifacts/{digest}/report.json")
    assert json.loads(report["Body"].read())["digest"] == f"sha256:{digest}"
    found = store.find("inputs-1")
    assert found is not None
    assert found["artifact"] == f"s3://{s3_bucket}/artifacts/{digest}/model.onnx"
    assert store.find("inputs-2") is None


def test_a_missing_bucket_fails_with_the_s3_error_code(s3_bucket: str, digits: DigitsModel) -> None:
    store = S3ArtifactStore(f"s3://{s3_bucket}-absent/artifacts")

    with pytest.raises(CompressError, match=r"cannot upload the artifact to s3://.*: NoSuchBucket"):
        store.put(onnx.load(str(digits.model)), {"passed": True}, fingerprint="inputs-1")


def test_the_job_stores_in_s3_and_reuses_the_artifact(run_job: RunJob, s3_bucket: str) -> None:
    store = f"s3://{s3_bucket}/artifacts"
    steps = [{"type": "quantize", "mode": "dynamic"}]

    first = run_job(steps, artifactStore=store, evaluation={"latencyRuns": 1})
    again = run_job(steps, artifactStore=store, evaluation={"latencyRuns": 1})

    assert first.exit_code == 0, first.termination
    summary = json.loads(first.termination)
    assert summary["artifact"] == f"{store}/{summary['digest'].removeprefix('sha256:')}/model.onnx"
    assert again.exit_code == 0, again.termination
    assert again.report["reused"] is True
    assert again.report["digest"] == summary["digest"]


def test_the_job_refuses_an_https_store(run_job: RunJob) -> None:
    run = run_job([{"type": "quantize", "mode": "dynamic"}], artifactStore="https://host/store")

    assert run.exit_code == 1
    assert "artifactStore https://host/store: use a directory, pvc:// or s3:// path" in (
        run.termination
    )
