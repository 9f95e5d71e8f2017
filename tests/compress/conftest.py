"""The digits MLP (trained once, cached under data/) and a helper that runs the job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from modeldeploy.compress import s3
from modeldeploy.compress.job import main
from tests.fixtures.cnn import DigitsCnn, digits_cnn
from tests.fixtures.models import REPO_ROOT, DigitsModel, default_data_dir, digits_mlp
from tests.fixtures.sklearn_models import ClassifierModel, classifier

AWS_SECRET = "moto-secret-access-key-0123456789"

# One thread: on this 2-core machine more threads were measured to be much slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits() -> DigitsModel:
    return digits_mlp(default_data_dir())


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """An S3 API (moto) on 127.0.0.1."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket, with the AWS_* variables of a Secret pointing at it."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "moto-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    s3.client(f"s3://{bucket}").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return bucket


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


@dataclass(frozen=True)
class TinyBert:
    model: Path
    data: Path
    """.npz with `input_ids` and `attention_mask` int64 [N, 16]."""


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> TinyBert:
    """A 4-layer BERT (hidden 32, random seeded weights), exported like the MiniLM fixture."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(  # type: ignore[call-arg]  # attn_implementation goes to the base
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        # Large random weights, so that each layer changes the embeddings a lot.
        initializer_range=0.5,
        attn_implementation="eager",
    )
    bert = BertModel(config).eval()  # type: ignore[no-untyped-call]

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.bert(
                input_ids=input_ids, attention_mask=attention_mask
            ).last_hidden_state
            return hidden

    generator = np.random.default_rng(0)
    lengths = generator.integers(4, 17, size=384)
    ids = generator.integers(1, 100, size=(384, 16)).astype(np.int64)
    mask = (np.arange(16)[None, :] < lengths[:, None]).astype(np.int64)
    np.savez(folder / "data.npz", input_ids=ids * mask, attention_mask=mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Wrapper().eval(),
            (torch.from_numpy(ids[:2]), torch.from_numpy(mask[:2])),
            str(folder / "model.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return TinyBert(folder / "model.onnx", folder / "data.npz")


@pytest.fixture(scope="session")
def classifiers() -> Callable[[str], ClassifierModel]:
    """The skl2onnx and two-input models of tests/fixtures/sklearn_models.py, by name."""
    return lambda name: classifier(name, default_data_dir())


@pytest.fixture(scope="session")
def cnn() -> DigitsCnn:
    return digits_cnn(default_data_dir())


@dataclass
class ProcessRun:
    returncode: int
    termination: str
    stderr: str


def run_job_process(spec: dict[str, Any], folder: Path) -> ProcessRun:
    """The real entry point, `python -m modeldeploy compress --spec ...`, as the Job runs it."""
    spec_path, termination = folder / "spec.json", folder / "termination-log"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "modeldeploy", "compress", "--spec", str(spec_path)],
        env={
            **os.environ,
            "MODELDEPLOY_TERMINATION_LOG": str(termination),
            "PYTHONPATH": str(REPO_ROOT / "operator"),
            "OMP_NUM_THREADS": "1",
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    text = termination.read_text() if termination.exists() else ""
    return ProcessRun(done.returncode, text, done.stderr)
