"""Compression benchmark: size, latency (1 thread) and metric before/after, per step chain.

Runs the compression job (`modeldeploy.compress.job.run`) on all-MiniLM-L6-v2 (sequence 32,
fidelity of mean-pooled embeddings on 256 held-out sentences), the digits MLP and the digits
CNN (accuracy on 360 held-out digits) and a scikit-learn pipeline exported with skl2onnx
(StandardScaler + MLPClassifier). The latencies of the original and the compressed model are
then measured again with the job's own interleaved timing (`timing.compare`: rounds
alternating between the two models after warm-up; median of the rounds and its spread), so
that load from other processes on the machine hits both alike. Writes
benchmarks/results/compress.json and compress.png.

    python -m benchmarks.compress [--models cnn sklearn-mlp ...]

With `--models`, only those models run; the other models' results are kept from the earlier
run in compress.json (each model's entry carries the time it was measured).
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import onnx
import torch
from tests.fixtures.cnn import digits_cnn
from tests.fixtures.models import default_data_dir, digits_mlp, minilm
from tests.fixtures.sklearn_models import classifier

from modeldeploy.compress import evaluate, timing
from modeldeploy.compress.dataset import load_dataset
from modeldeploy.compress.job import run
from modeldeploy.compress.judge import SESSIONS
from modeldeploy.compress.report import environment
from modeldeploy.compress.sources import local_path
from modeldeploy.compress.spec import JobSpec

log = logging.getLogger("benchmarks.compress")
RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 15
RUNS_PER_ROUND = {1: 20, 8: 5, 64: 10}

GOALS = {
    "minilm auto: size ratio >= 3.9": ("minilm", "quantize auto", "ratio", 3.9),
    "minilm auto: speedup batch 1 >= 2.2": ("minilm", "quantize auto", "speedup_batch1", 2.2),
    "minilm auto: speedup batch 8 >= 2.2": ("minilm", "quantize auto", "speedup_batch8", 2.2),
    "minilm auto: mean cosine >= 0.99": ("minilm", "quantize auto", "mean_cosine", 0.99),
    "digits prune 50% + recover: speedup batch 64 >= 2": (
        "digits",
        "structured prune 50% + distill recover",
        "speedup_batch64",
        2.0,
    ),
    "digits prune 50% + recover: accuracy drop <= 0.01": (
        "digits",
        "structured prune 50% + distill recover",
        "neg_drop",
        -0.01,
    ),
}


Chains = tuple[dict[str, Any], list[tuple[str, list[dict[str, Any]]]]]
DYNAMIC = {"type": "quantize", "mode": "dynamic"}
STRUCTURED = {"type": "prune", "sparsity": 0.5, "structured": True}


def _setup(model: Path, val: Path, metric: str, batch: int, runs: int) -> dict[str, Any]:
    return {
        "modelUri": model.as_uri(),
        "evaluation": {
            "datasetUri": val.as_uri(),
            "metric": metric,
            "maxDrop": 0.01,
            "batchSize": batch,
            "latencyRuns": runs,
        },
    }


def _auto(calibration: Path, objective: str = "latency") -> dict[str, Any]:
    return {
        "type": "quantize",
        "mode": "auto",
        "objective": objective,
        "calibrationUri": calibration.as_uri(),
    }


def _recover(train: Path) -> dict[str, Any]:
    return {"type": "distill", "recover": True, "epochs": 10, "datasetUri": train.as_uri()}


def _minilm(data: Path) -> Chains:
    text = minilm(data, seq_len=32)
    student = {
        "type": "distill",
        "student": {"type": "transformer", "numLayers": 3},
        "epochs": 2,
        "datasetUri": text.train.as_uri(),
    }
    return _setup(text.model, text.val, "fidelity", 8, 20), [
        ("quantize dynamic per-tensor", [{**DYNAMIC, "perChannel": False}]),
        ("quantize dynamic per-channel", [{**DYNAMIC, "perChannel": True}]),
        ("quantize auto", [_auto(text.calibration)]),
        ("distill transformer student 3 of 6 layers", [student]),
    ]


def _digits(data: Path) -> Chains:
    digits = digits_mlp(data)
    static = {"type": "quantize", "mode": "static", "calibrationUri": digits.train.as_uri()}
    unstructured = {"type": "prune", "sparsity": 0.5}
    student = {
        "type": "distill",
        "student": {"type": "mlp", "hiddenSizes": [128]},
        "epochs": 30,
        "datasetUri": digits.train.as_uri(),
    }
    return _setup(digits.model, digits.val, "accuracy", 64, 50), [
        ("quantize dynamic", [DYNAMIC]),
        ("quantize static", [static]),
        ("quantize auto", [_auto(digits.train)]),
        ("unstructured prune 50% + quantize dynamic", [unstructured, DYNAMIC]),
        ("structured prune 50%", [STRUCTURED]),
        ("structured prune 50% + distill recover", [STRUCTURED, _recover(digits.train)]),
        ("distill mlp student [128]", [student]),
    ]


def _cnn(data: Path) -> Chains:
    cnn = digits_cnn(data)
    static = {"type": "quantize", "mode": "static", "calibrationUri": cnn.train.as_uri()}
    return _setup(cnn.model, cnn.val, "accuracy", 64, 50), [
        ("quantize static", [static]),
        ("quantize auto", [_auto(cnn.train)]),
        ("quantize auto, objective size", [_auto(cnn.train, "size")]),
        ("structured prune 50% + distill recover", [STRUCTURED, _recover(cnn.train)]),
    ]


def _sklearn_mlp(data: Path) -> Chains:
    pipeline = classifier("mlp_pipeline", data)
    return _setup(pipeline.model, pipeline.val, "accuracy", 64, 50), [
        ("quantize dynamic", [DYNAMIC]),
        ("quantize auto", [_auto(pipeline.train)]),
    ]


MODELS = {"minilm": _minilm, "digits": _digits, "cnn": _cnn, "sklearn-mlp": _sklearn_mlp}


def _interleaved_latency(
    original: onnx.ModelProto, compressed: onnx.ModelProto, spec: JobSpec
) -> dict[str, Any]:
    """Per batch size: both models' median p50 with its spread, and the speed-up with its
    spread, from `ROUNDS` interleaved rounds."""
    uri = spec.evaluation.dataset_uri
    model_inputs = load_dataset(local_path(uri, {}) or Path(uri), uri, original)
    baselines = [evaluate.session(original) for _ in range(SESSIONS)]
    candidates = [evaluate.session(compressed) for _ in range(SESSIONS)]
    comparisons = [
        timing.compare(
            baselines, candidates, model_inputs, batch, RUNS_PER_ROUND[batch] * ROUNDS, ROUNDS
        )
        for batch in sorted({1, spec.evaluation.batch_size})
    ]
    return _latency_figures([c.as_dict() for c in comparisons])


def _latency_figures(comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures of `timing.Comparison`s (as dicts): per model and batch, and speed-ups."""
    return {
        "latency": {
            side: {
                c["batch"]: {key: c[model][key] for key in ("p50_ms", "spread_ms", "p99_ms")}
                for c in comparisons
            }
            for side, model in (("original", "baseline"), ("compressed", "candidate"))
        },
        "speedup": {f"batch{c['batch']}": c["speedup"] for c in comparisons},
        "speedup_spread": {f"batch{c['batch']}": c["spread"] for c in comparisons},
        "verdict": {f"batch{c['batch']}": c["verdict"] for c in comparisons},
    }


def _chain_result(
    name: str, setup: dict[str, Any], steps: list[dict[str, Any]], store: Path
) -> dict[str, Any]:
    spec = JobSpec.model_validate({**setup, "steps": steps, "artifactStore": str(store)})
    report = run(spec, {})
    original = onnx.load(str(local_path(spec.model_uri, {})))
    compressed_path = report.get("artifact")
    result: dict[str, Any] = {
        "chain": name,
        "steps": steps,
        "passed": report["passed"],
        "reason": report["reason"],
        "metric": report["metric"],
        "ratio": report["ratio"],
        "weight_bytes": {
            "original": report["baseline"]["weight_bytes"],
            "compressed": report["compressed"]["weight_bytes"],
        },
        "parameters": {
            "original": report["baseline"]["parameters"],
            "compressed": report["compressed"]["parameters"],
        },
        "fidelity": report["compressed"]["fidelity"],
        "step_seconds": [step["seconds"] for step in report["steps"]],
        "job_latency": {
            "original": report["baseline"]["latency"],
            "compressed": report["compressed"]["latency"],
        },
    }
    auto = [step for step in report["steps"] if step.get("mode") == "auto"]
    if auto:
        result["auto_chosen"] = auto[0].get("chosen")
        result["auto_why"] = auto[0].get("why") or auto[0].get("reason")
        result["auto_candidates"] = [
            {
                "name": c["name"],
                "skipped": c.get("skipped"),
                "qualified": c.get("qualified"),
                "why": c.get("why"),
                "metric": c.get("metric"),
                "weight_bytes": c.get("weight_bytes"),
                "speedup": {f"batch{t['batch']}": t["speedup"] for t in c.get("timing", [])},
                "spread": {f"batch{t['batch']}": t["spread"] for t in c.get("timing", [])},
            }
            for c in auto[0]["candidates"]
        ]
    result["job_speedup"] = {"median": report["speedup"], "spread": report["speedupSpread"]}
    if compressed_path:
        result.update(_interleaved_latency(original, onnx.load(compressed_path), spec))
        result["latency_source"] = f"interleaved re-measurement, {ROUNDS} rounds"
    else:  # the gate failed and no artifact was stored: the job's own (interleaved) timing
        result.update(_latency_figures(report["timing"]["comparisons"]))
        result["latency_source"] = "the job's interleaved timing (gate failed, no artifact)"
    log.info(
        "%s: %s",
        name,
        json.dumps({k: result.get(k) for k in ("ratio", "speedup", "speedup_spread", "metric")}),
    )
    return result


def _goal_value(result: dict[str, Any], key: str) -> float | None:
    if key.startswith("speedup_"):
        speed = result.get("speedup", {}).get(key.removeprefix("speedup_"))
        return None if speed is None else float(speed)
    if key == "mean_cosine":
        return float(result["fidelity"]["mean_cosine"])
    if key == "neg_drop":
        return -float(result["metric"]["drop"])
    return float(result[key])


def _plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(model, r) for model, chain_results in results.items() for r in chain_results]
    labels = [
        f"{model}: {r['chain']}" + ("" if r["passed"] else " (gate failed)") for model, r in rows
    ]
    figure, axes = plt.subplots(1, 3, figsize=(18, 0.6 * len(rows) + 2), sharey=True)
    positions = range(len(rows))
    axes[0].barh(positions, [r["ratio"] for _, r in rows], color="tab:blue")
    axes[0].set_title("weights: original / compressed (x)")
    for offset, batch_key, color in ((-0.2, "batch1", "tab:green"), (0.2, None, "tab:orange")):
        values, errors = [], []
        for _, r in rows:
            speed = r.get("speedup", {})
            key = batch_key or next((k for k in speed if k != "batch1"), "batch1")
            values.append(speed.get(key, 0.0))
            errors.append(r.get("speedup_spread", {}).get(key, 0.0))
        axes[1].barh([p + offset for p in positions], values, xerr=errors, height=0.4, color=color,
                     label="batch 1" if batch_key else "batch N (8 MiniLM, 64 others)")  # fmt: skip
    axes[1].axvline(1.0, color="black", linewidth=0.8)
    axes[1].set_title("speed-up, median of interleaved rounds ± spread, 1 thread (x)")
    axes[1].legend()
    axes[2].barh(positions, [r["metric"]["drop"] for _, r in rows], color="tab:red")
    axes[2].set_title("metric drop (accuracy / fidelity)")
    axes[0].set_yticks(list(positions), labels)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compress")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    chosen = parser.parse_args().models
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("modeldeploy").setLevel(logging.INFO)
    log.setLevel(logging.INFO)
    torch.set_num_threads(1)
    data = default_data_dir()
    output_file = RESULTS / "compress.json"
    earlier = json.loads(output_file.read_text()) if output_file.exists() else {}
    results: dict[str, Any] = dict(earlier.get("results", {}))
    measured_at = dict(earlier.get("measured_at", {}))
    with tempfile.TemporaryDirectory(prefix="compress-bench-") as store:
        for model_name in chosen:
            setup, chains = MODELS[model_name](data)
            results[model_name] = [
                _chain_result(name, setup, steps, Path(store) / model_name)
                for name, steps in chains
            ]
            measured_at[model_name] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    goals = {}
    for goal, (model_name, chain, key, threshold) in GOALS.items():
        result = next((r for r in results.get(model_name, []) if r["chain"] == chain), None)
        value = None if result is None else _goal_value(result, key)
        goals[goal] = {"measured": value, "met": value is not None and value >= threshold}
    output = {
        "machine": "2 shared cores (AMD EPYC, AVX2, no VNNI); 1 ORT and 1 torch thread",
        "environment": environment(),
        "goals": goals,
        "measured_at": measured_at,
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    output_file.write_text(json.dumps(output, indent=2, default=str))
    _plot(results, RESULTS / "compress.png")
    print(json.dumps(goals, indent=2))


if __name__ == "__main__":
    main()
