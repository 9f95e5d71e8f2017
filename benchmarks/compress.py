"""Compression benchmark: size, latency (1 thread) and metric before/after, per step chain.

Runs the compression job (`modeldeploy.compress.job.run`) on all-MiniLM-L6-v2 (sequence 32,
fidelity of mean-pooled embeddings on 256 held-out sentences) and on the digits MLP (accuracy
on 360 held-out digits). The latencies of the original and the compressed model are then
measured again, alternating between the two, so that load from other processes on the
machine hits both alike. Writes benchmarks/results/compress.json and compress.png.

    python -m benchmarks.compress
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
from pathlib import Path
from typing import Any

import onnx
import torch
from tests.fixtures.models import default_data_dir, digits_mlp, minilm

from modeldeploy.compress import evaluate
from modeldeploy.compress.dataset import load_dataset
from modeldeploy.compress.job import run
from modeldeploy.compress.report import environment
from modeldeploy.compress.sources import local_path
from modeldeploy.compress.spec import JobSpec

log = logging.getLogger("benchmarks.compress")
RESULTS = Path(__file__).resolve().parent / "results"
ROUNDS = 5
RUNS_PER_ROUND = {1: 40, 8: 10, 64: 40}

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


def _chains(data: Path) -> dict[str, tuple[dict[str, Any], list[tuple[str, list[dict[str, Any]]]]]]:
    digits = digits_mlp(data)
    text = minilm(data, seq_len=32)
    dynamic = {"type": "quantize", "mode": "dynamic"}
    minilm_setup = {
        "modelUri": text.model.as_uri(),
        "evaluation": {
            "datasetUri": text.val.as_uri(),
            "metric": "fidelity",
            "maxDrop": 0.01,
            "batchSize": 8,
            "latencyRuns": 20,
        },
    }
    digits_setup = {
        "modelUri": digits.model.as_uri(),
        "evaluation": {
            "datasetUri": digits.val.as_uri(),
            "metric": "accuracy",
            "maxDrop": 0.01,
            "batchSize": 64,
            "latencyRuns": 50,
        },
    }
    recover = {
        "type": "distill",
        "recover": True,
        "epochs": 10,
        "datasetUri": digits.train.as_uri(),
    }
    structured = {"type": "prune", "sparsity": 0.5, "structured": True}
    return {
        "minilm": (
            minilm_setup,
            [
                ("quantize dynamic per-tensor", [{**dynamic, "perChannel": False}]),
                ("quantize dynamic per-channel", [{**dynamic, "perChannel": True}]),
                (
                    "quantize auto",
                    [
                        {
                            "type": "quantize",
                            "mode": "auto",
                            "calibrationUri": text.calibration.as_uri(),
                        }
                    ],
                ),
                (
                    "distill transformer student 3 of 6 layers",
                    [
                        {
                            "type": "distill",
                            "student": {"type": "transformer", "numLayers": 3},
                            "epochs": 2,
                            "datasetUri": text.train.as_uri(),
                        }
                    ],
                ),
            ],
        ),
        "digits": (
            digits_setup,
            [
                ("quantize dynamic", [dynamic]),
                (
                    "quantize static",
                    [
                        {
                            "type": "quantize",
                            "mode": "static",
                            "calibrationUri": digits.train.as_uri(),
                        }
                    ],
                ),
                (
                    "unstructured prune 50% + quantize dynamic",
                    [{"type": "prune", "sparsity": 0.5}, dynamic],
                ),
                ("structured prune 50%", [structured]),
                ("structured prune 50% + distill recover", [structured, recover]),
                (
                    "distill mlp student [128]",
                    [
                        {
                            "type": "distill",
                            "student": {"type": "mlp", "hiddenSizes": [128]},
                            "epochs": 30,
                            "datasetUri": digits.train.as_uri(),
                        }
                    ],
                ),
            ],
        ),
    }


def _interleaved_latency(
    original: onnx.ModelProto, compressed: onnx.ModelProto, spec: JobSpec
) -> dict[str, dict[int, dict[str, float]]]:
    """p50/p99 per batch size, alternating rounds between the two models."""
    uri = spec.evaluation.dataset_uri
    model_inputs = load_dataset(local_path(uri, {}) or Path(uri), uri, original)
    sessions = {"original": evaluate.session(original), "compressed": evaluate.session(compressed)}
    samples: dict[str, dict[int, list[evaluate.Latency]]] = {name: {} for name in sessions}
    for _ in range(ROUNDS):
        for batch in sorted({1, spec.evaluation.batch_size}):
            for name, runner in sessions.items():
                measured = evaluate.latency(runner, model_inputs, batch, RUNS_PER_ROUND[batch])
                samples[name].setdefault(batch, []).append(measured)
    return {
        name: {
            batch: {
                "p50_ms": statistics.median(m.p50_ms for m in runs),
                "p99_ms": statistics.median(m.p99_ms for m in runs),
            }
            for batch, runs in per_batch.items()
        }
        for name, per_batch in samples.items()
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
        result["auto_candidates"] = [
            {
                key: c.get(key)
                for key in ("name", "passed", "metric", "weight_bytes", "latency", "skipped")
            }
            for c in auto[0]["candidates"]
        ]
    if compressed_path:
        latency = _interleaved_latency(original, onnx.load(compressed_path), spec)
        result["latency_source"] = "interleaved re-measurement"
    else:  # the gate failed and no artifact was stored: the job's own measurement
        latency = {
            name: {m["batch"]: {"p50_ms": m["p50_ms"], "p99_ms": m["p99_ms"]} for m in runs}
            for name, runs in result["job_latency"].items()
        }
        result["latency_source"] = "job measurement (gate failed, no artifact)"
    result["latency"] = latency
    result["speedup"] = {
        f"batch{batch}": latency["original"][batch]["p50_ms"] / figures["p50_ms"]
        for batch, figures in latency["compressed"].items()
    }
    log.info("%s: %s", name, json.dumps({k: result.get(k) for k in ("ratio", "speedup", "metric")}))
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
        values = []
        for _, r in rows:
            speed = r.get("speedup", {})
            key = batch_key or next((k for k in speed if k != "batch1"), "batch1")
            values.append(speed.get(key, 0.0))
        axes[1].barh([p + offset for p in positions], values, height=0.4, color=color,
                     label="batch 1" if batch_key else "batch N (8 MiniLM, 64 digits)")  # fmt: skip
    axes[1].axvline(1.0, color="black", linewidth=0.8)
    axes[1].set_title("speed-up, p50 latency, 1 thread (x)")
    axes[1].legend()
    axes[2].barh(positions, [r["metric"]["drop"] for _, r in rows], color="tab:red")
    axes[2].set_title("metric drop (accuracy / fidelity)")
    axes[0].set_yticks(list(positions), labels)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("modeldeploy").setLevel(logging.INFO)
    log.setLevel(logging.INFO)
    torch.set_num_threads(1)
    data = default_data_dir()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="compress-bench-") as store:
        for model_name, (setup, chains) in _chains(data).items():
            results[model_name] = [
                _chain_result(name, setup, steps, Path(store) / model_name)
                for name, steps in chains
            ]
    goals = {}
    for goal, (model_name, chain, key, threshold) in GOALS.items():
        result = next(r for r in results[model_name] if r["chain"] == chain)
        value = _goal_value(result, key)
        goals[goal] = {"measured": value, "met": value is not None and value >= threshold}
    output = {
        "machine": "2 shared cores (AMD EPYC, AVX2, no VNNI); 1 ORT and 1 torch thread",
        "environment": environment(),
        "goals": goals,
        "results": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "compress.json").write_text(json.dumps(output, indent=2, default=str))
    _plot(results, RESULTS / "compress.png")
    print(json.dumps(goals, indent=2))


if __name__ == "__main__":
    main()
