"""Bad models and datasets, through the real entry point: exit 1, one readable line naming the
file and the field, array or input, and no traceback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.compress.conftest import RunJob, run_job_process
from tests.fixtures.sklearn_models import ClassifierModel

Classifiers = Callable[[str], ClassifierModel]


def _spec(model: Path, dataset: Path, folder: Path, **evaluation: Any) -> dict[str, Any]:
    return {
        "modelUri": model.as_uri(),
        "steps": [{"type": "quantize", "mode": "dynamic"}],
        "evaluation": {"datasetUri": dataset.as_uri(), "latencyRuns": 2, **evaluation},
        "artifactStore": str(folder / "store"),
    }


def _fails_with(spec: dict[str, Any], folder: Path, *expected: str) -> str:
    run = run_job_process(spec, folder)
    assert run.returncode == 1, run.stderr[-2000:]
    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    assert "\n" not in run.termination.strip()
    assert run.termination.startswith("compression failed: ")
    for part in expected:
        assert part in run.termination
    return run.termination


def _with_opsets(source: Path, target: Path, opsets: list[tuple[str, int]]) -> Path:
    model = onnx.load(str(source))
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in opsets)
    onnx.save(model, str(target))
    return target


@pytest.mark.slow
def test_default_domain_listed_twice_with_different_versions_is_named(
    tmp_path: Path, classifiers: Classifiers
) -> None:
    model = classifiers("mlp_pipeline")
    bad = _with_opsets(
        model.model, tmp_path / "m.onnx", [("", 17), ("ai.onnx.ml", 1), ("ai.onnx", 15)]
    )

    _fails_with(
        _spec(bad, model.val, tmp_path),
        tmp_path,
        f"model {tmp_path}",
        "opset_import lists the default ONNX domain with different versions [15, 17]",
    )


@pytest.mark.slow
def test_missing_default_domain_import_is_named(tmp_path: Path, classifiers: Classifiers) -> None:
    model = classifiers("mlp_pipeline")
    bad = _with_opsets(model.model, tmp_path / "m.onnx", [("ai.onnx.ml", 1)])

    _fails_with(
        _spec(bad, model.val, tmp_path),
        tmp_path,
        "opset_import has no entry for the default ONNX domain",
    )


def test_default_domain_listed_twice_alike_is_merged_and_quantized(
    run_job: RunJob, tmp_path: Path, classifiers: Classifiers
) -> None:
    """ONNX Runtime's quantizer fails on it ("Failed to find proper ai.onnx domain")."""
    model = classifiers("mlp_pipeline")
    doubled = _with_opsets(
        model.model, tmp_path / "m.onnx", [("", 17), ("ai.onnx.ml", 1), ("", 17)]
    )

    run = run_job(
        [{"type": "quantize", "mode": "dynamic"}],
        modelUri=doubled.as_uri(),
        evaluation={"datasetUri": model.val.as_uri(), "maxDrop": 0.05},
    )

    assert run.exit_code == 0, run.termination
    assert run.report["steps"][0]["outcome"] == "applied"
    assert run.report["source"]["normalised"] == [
        "opset_import: 2 default-domain entries merged into one (version 17)"
    ]


def _changed_dataset(
    source: Path, target: Path, change: Callable[[dict[str, np.ndarray]], None]
) -> Path:
    """A copy of the .npz `source` with `change` applied to its arrays."""
    with np.load(source) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    np.savez(target, **arrays)
    return target


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "change", "expected"),
    [
        (
            "gradient_boosting",
            lambda arrays: arrays.update(inputs=arrays["inputs"][:, :63]),
            "array 'inputs' has shape [360, 63], model input 'X' wants [?, 64] (axis 1: 63 != 64)",
        ),
        (
            "two_input",
            lambda arrays: arrays.update(ids=arrays["ids"].astype(np.float32)),
            "array 'ids' is float32, model input 'ids' wants int64",
        ),
        (
            "gradient_boosting",
            lambda arrays: arrays.update(labels=np.eye(10, dtype=np.int64)[arrays["labels"]]),
            "array 'labels' must hold one class index per sample (integers, shape [N]); it is "
            "int64 of shape [360, 10]",
        ),
    ],
    ids=["wrong-size", "wrong-dtype", "one-hot-labels"],
)
def test_a_dataset_array_that_does_not_fit_names_file_array_and_input(
    tmp_path: Path,
    classifiers: Classifiers,
    name: str,
    change: Callable[[dict[str, np.ndarray]], None],
    expected: str,
) -> None:
    model = classifiers(name)
    dataset = _changed_dataset(model.val, tmp_path / "val.npz", change)

    _fails_with(
        _spec(model.model, dataset, tmp_path), tmp_path, f"dataset {dataset.as_uri()}: {expected}"
    )


@pytest.mark.slow
def test_an_onnx_runtime_failure_is_summarised_on_one_line(tmp_path: Path) -> None:
    """A model ONNX Runtime loads but cannot run on the data: 64 values do not reshape to 7."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 7])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["input", "shape"], ["scores"], name="reshape")],
        "reshape",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 7])],
        [shape],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "r.onnx"
    )
    np.savez(tmp_path / "data.npz", inputs=np.ones((9, 64), np.float32))

    message = _fails_with(
        _spec(tmp_path / "r.onnx", tmp_path / "data.npz", tmp_path, metric="fidelity"),
        tmp_path,
        "ONNX Runtime failed running the original model on dataset "
        f"{(tmp_path / 'data.npz').as_uri()}: ",
        "reshape",
    )
    assert "[ONNXRuntimeError]" not in message
