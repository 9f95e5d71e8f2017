"""`modeldeploy compress`: the compression Job's entry point.

Exit status 0 only when the compressed model passed the gate; otherwise a one-line reason is
written to the termination message file (`/dev/termination-log`), which Kubernetes hands
back to the operator. On success that file carries the short JSON summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import onnx

from modeldeploy.compress import report
from modeldeploy.compress.artifacts import ArtifactStore, Store, write_atomically
from modeldeploy.compress.dataset import load_dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.graph import load_model
from modeldeploy.compress.judge import PRECISE, SESSIONS, AgainstOriginal
from modeldeploy.compress.outputs import choose_output
from modeldeploy.compress.pipeline import Context, run_steps
from modeldeploy.compress.s3store import S3ArtifactStore
from modeldeploy.compress.sources import fetch, local_path, redact, verify_sha256
from modeldeploy.compress.spec import JobSpec, load_spec, spec_fingerprint
from modeldeploy.compress.steps.preflight import check_fine_tuning
from modeldeploy.compress.termination import HELP, termination_path, write_termination

log = logging.getLogger("modeldeploy.compress")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy compress",
        description="Compress an ONNX model, gate it on a metric, store it by its sha256.",
    )
    parser.add_argument("--spec", help="job spec (JSON); default: $MODELDEPLOY_COMPRESS_SPEC")
    parser.add_argument("--termination-log", help=HELP)
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    # Progress from this package; only warnings from the libraries (ORT's quantizer is chatty).
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("modeldeploy").setLevel(logging.INFO)
    termination_log = termination_path(args.termination_log)
    try:
        spec = load_spec(args.spec, dict(os.environ))
        result = run(spec, os.environ)
    except CompressError as error:
        log.error("compression failed: %s", error)
        write_termination(termination_log, f"compression failed: {error}")
        return 1
    except Exception as error:  # the reason still reaches the operator, on one line
        log.exception("compression failed unexpectedly")
        reason = redact(" ".join(f"{type(error).__name__}: {error}".split()), os.environ)
        write_termination(termination_log, f"compression failed: {reason[:1024]}")
        return 1
    write_termination(
        termination_log,
        report.summary(result) if result["passed"] else f"gate failed: {result['reason']}",
    )
    return 0 if result["passed"] else 1


def run(spec: JobSpec, environ: Mapping[str, str]) -> dict[str, Any]:
    """Fetch, compress, evaluate, gate, store; the full report."""
    store = _store(spec.artifact_store, environ)
    report_file = None if spec.report_path is None else local_path(spec.report_path, environ)
    if spec.report_path is not None and report_file is None:
        raise CompressError(f"reportPath {spec.report_path}: use a file or pvc:// path")
    with tempfile.TemporaryDirectory(prefix="modeldeploy-compress-") as workdir:
        model_file = fetch(spec.model_uri, Path(workdir), environ, "model")
        model_sha256 = verify_sha256(model_file, spec.sha256, "model")
        original, notes = load_model(str(model_file))
        for note in notes:
            log.info("model %s: %s", spec.model_uri, note)
        fingerprint = spec_fingerprint(spec, model_sha256)
        earlier = store.find(fingerprint)
        if earlier is not None:
            log.info("reusing artifact %s from an earlier run", earlier["digest"])
            result = {**earlier, "reused": True}
        else:
            source = {"uri": spec.model_uri, "sha256": model_sha256, "normalised": notes}
            compressed, result = _compress(spec, original, source, Path(workdir), environ)
            if result["passed"]:  # a model that failed the gate is never stored
                store.put(compressed, result, fingerprint)
    if report_file is not None:
        write_atomically(report_file, _json(result))
    log.info("%s: %s", "passed" if result["passed"] else "FAILED", result["reason"])
    return result


def _store(location: str, environ: Mapping[str, str]) -> Store:
    path = local_path(location, environ)
    if path is not None:
        return ArtifactStore(path)
    if location.startswith("s3://"):
        return S3ArtifactStore(location)
    raise CompressError(f"artifactStore {location}: use a directory, pvc:// or s3:// path")


def _json(result: dict[str, Any]) -> bytes:
    return json.dumps(result, indent=2, sort_keys=True).encode()


def _compress(
    spec: JobSpec,
    original: onnx.ModelProto,
    source: dict[str, Any],
    workdir: Path,
    environ: Mapping[str, str],
) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """The compressed model and its report (without `digest`/`artifact`: not stored yet)."""
    check_fine_tuning(spec.steps, original)
    evaluation = spec.evaluation
    dataset_file = fetch(evaluation.dataset_uri, workdir, environ, "evaluation dataset")
    dataset = load_dataset(dataset_file, evaluation.dataset_uri, original)
    output = choose_output(original, evaluation.output)
    log.info("evaluating output %r of the original model on %d samples", output.name, len(dataset))
    judge = AgainstOriginal(original, dataset, evaluation, output)
    baseline = judge.baseline
    started = time.perf_counter()
    context = Context(original, dataset, judge, workdir, environ)
    compressed_model, steps = run_steps(spec.steps, original, context)
    log.info("evaluating the compressed model against the original (interleaved timing)")
    final = judge.judge(compressed_model, "the compressed model", PRECISE)
    compressed, timings = final.figures, final.timings
    name = evaluation.metric.value
    reason = final.gate + "; speed-up " + ", ".join(t.describe() for t in timings)
    untouched = [step for step in steps if step["outcome"] == "nothing-to-compress"]
    if untouched:
        reason += f"; nothing to compress for {', '.join(step['type'] for step in untouched)}"
        why = "; ".join(f"{step['type']}: {step.get('reason', '')}" for step in untouched)
        reason += f" ({why[:600]})"
    return compressed_model, {
        "passed": final.passed,
        "reason": reason,
        "source": source,
        "evaluationOutput": output.as_dict(),
        "metric": {
            "name": name,
            "baseline": baseline.metric,
            "compressed": compressed.metric,
            "drop": baseline.metric - compressed.metric,
            "maxDrop": evaluation.max_drop,
        },
        "ratio": round(baseline.weight_bytes / max(compressed.weight_bytes, 1), 3),
        "speedup": report.speedups(timings),
        "speedupSpread": report.speedup_spreads(timings),
        "timing": {
            "method": "interleaved rounds after warm-up (runs of the original and the candidate "
            "in turn; order flipped each round), each model in several sessions, one per "
            "round in turn; speed-up = median of the "
            "rounds' speed-ups; spread = half-width of its >= 90% distribution-free "
            "confidence interval",
            "sessions": SESSIONS,
            "rounds": evaluation.latency_rounds * PRECISE,
            "runs": evaluation.latency_runs * PRECISE,
            "comparisons": [t.as_dict() for t in timings],
        },
        "baseline": {**baseline.as_dict(), "latency": [asdict(t.baseline) for t in timings]},
        "compressed": {**compressed.as_dict(), "latency": [asdict(t.candidate) for t in timings]},
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 3),
        "evaluationSamples": len(dataset),
        "environment": report.environment(),
        "reused": False,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
