"""Latency of a candidate against the original, timed interleaved so that load from other
processes hits both alike.

Both sessions are warmed up, then timed in rounds: each round times one model, then the other
(the order flips every round: A B, B A, A B, ...). The figure of a model in a round is the
median of its runs; the speed-up of a round is the original's figure over the candidate's.
The reported speed-up is the median over the rounds, its spread half the interquartile range
of the rounds' speed-ups. A candidate is `faster` or `slower` only when the speed-up differs
from 1 by more than that spread; otherwise it is `same`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import onnxruntime as ort

from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.runtime import run

WARM_UP_RUNS = 3


class Verdict(StrEnum):
    FASTER = "faster"
    SAME = "same"
    SLOWER = "slower"


@dataclass(frozen=True)
class Latency:
    """One model at one batch size, over all rounds."""

    batch: int
    p50_ms: float
    """Median of the rounds' medians."""
    spread_ms: float
    """Half the interquartile range of the rounds' medians."""
    p99_ms: float
    """99th percentile of all timed runs."""
    throughput_per_s: float


@dataclass(frozen=True)
class Comparison:
    batch: int
    baseline: Latency
    candidate: Latency
    speedup: float
    """Median over the rounds of baseline / candidate time."""
    spread: float
    """Half the interquartile range of the rounds' speed-ups: the measured noise."""
    verdict: Verdict
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.speedup:.2f}x ± {self.spread:.2f} at batch {self.batch}"


def _half_iqr(values: list[float]) -> float:
    low, high = np.percentile(values, [25, 75])
    return float(high - low) / 2


def verdict(speedup: float, spread: float) -> Verdict:
    if speedup - spread > 1:
        return Verdict.FASTER
    if speedup + spread < 1:
        return Verdict.SLOWER
    return Verdict.SAME


def _feeds(dataset: Dataset, batch: int) -> list[dict[str, np.ndarray]]:
    return list(dataset.batches(batch, drop_last=True)) or [dataset.take(len(dataset)).feeds]


def _time_runs(
    runner: ort.InferenceSession, feeds: list[dict[str, np.ndarray]], runs: int, what: str
) -> list[float]:
    seconds = []
    for index in range(runs):
        feed = feeds[index % len(feeds)]
        start = time.perf_counter()
        run(runner, None, feed, what)
        seconds.append(time.perf_counter() - start)
    return seconds


def _latency(batch: int, round_medians: list[float], all_runs: list[float]) -> Latency:
    return Latency(
        batch=batch,
        p50_ms=float(np.median(round_medians) * 1e3),
        spread_ms=_half_iqr(round_medians) * 1e3,
        p99_ms=float(np.percentile(all_runs, 99) * 1e3),
        throughput_per_s=float(batch * len(all_runs) / sum(all_runs)),
    )


def compare(
    baseline: ort.InferenceSession,
    candidate: ort.InferenceSession,
    dataset: Dataset,
    batch: int,
    runs: int,
    rounds: int,
) -> Comparison:
    """`runs` timed runs of each model at `batch`, split over `rounds` interleaved rounds."""
    feeds = _feeds(dataset, batch)
    real_batch = len(next(iter(feeds[0].values())))
    sessions = {"original": baseline, "candidate": candidate}
    for name, runner in sessions.items():  # first runs allocate
        _time_runs(runner, feeds, WARM_UP_RUNS, f"the {name} model")
    per_round = max(1, math.ceil(runs / rounds))
    medians: dict[str, list[float]] = {name: [] for name in sessions}
    everything: dict[str, list[float]] = {name: [] for name in sessions}
    for index in range(rounds):
        order = list(sessions) if index % 2 == 0 else list(reversed(sessions))
        for name in order:
            seconds = _time_runs(sessions[name], feeds, per_round, f"the {name} model")
            medians[name].append(float(np.median(seconds)))
            everything[name] += seconds
    speedups = [
        before / max(after, 1e-12)
        for before, after in zip(medians["original"], medians["candidate"], strict=True)
    ]
    speedup, spread = float(np.median(speedups)), _half_iqr(speedups)
    return Comparison(
        batch=real_batch,
        baseline=_latency(real_batch, medians["original"], everything["original"]),
        candidate=_latency(real_batch, medians["candidate"], everything["candidate"]),
        speedup=round(speedup, 4),
        spread=round(spread, 4),
        verdict=verdict(speedup, spread),
        rounds=rounds,
    )
