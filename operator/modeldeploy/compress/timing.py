"""Latency of a candidate against the original, timed interleaved so that load from other
processes hits both alike.

Both models' sessions are warmed up, then timed in rounds of alternating runs (A B A B ... in
one round, B A B A ... in the next), so that a burst of load from another process hits runs
of both models, not a block of one. The figure of a model in a round is the median of its
runs; the speed-up of a round is the original's figure over the candidate's. The reported
speed-up is the median over the rounds; its spread is the half-width of a distribution-free
confidence interval of that median (at least 90 %: between order statistics of the rounds,
e.g. the smallest and largest of 5 to 7 rounds, the 2nd of 8 to 10), taken on the wider side.
A candidate is `faster` or `slower` only when the speed-up differs from 1 by more than that
spread; otherwise it is `same`.

Each model is timed in several sessions, one per round in turn: two sessions of the very same
small model were measured steadily up to 15-25 % apart at batch 1 (memory layout), a
difference the rounds of a single pair of sessions would not show.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import onnxruntime as ort

from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.runtime import run

WARM_UP_RUNS = 10


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
    """The noise of `p50_ms`: see `spread`."""
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
    """The measured noise of `speedup` (see `spread`)."""
    verdict: Verdict
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.speedup:.2f}x ± {self.spread:.2f} at batch {self.batch}"


CONFIDENCE = 0.9


def _order_statistic(count: int) -> int:
    """The largest k (>= 1) for which [x_(k), x_(count+1-k)] of `count` sorted values holds
    their median with probability >= CONFIDENCE (the sign test's binomial tails)."""
    k = 1
    while True:
        outside = 2 * sum(math.comb(count, i) for i in range(k + 1)) / 2**count
        if k + 1 > (count + 1) // 2 or 1 - outside < CONFIDENCE:
            return k
        k += 1


def spread(values: list[float]) -> float:
    """Half-width, on its wider side, of the confidence interval of the median of `values`."""
    ordered = sorted(values)
    k = _order_statistic(len(ordered))
    median = float(np.median(ordered))
    return max(median - ordered[k - 1], ordered[len(ordered) - k] - median)


def verdict(speedup: float, noise: float) -> Verdict:
    if speedup - noise > 1:
        return Verdict.FASTER
    if speedup + noise < 1:
        return Verdict.SLOWER
    return Verdict.SAME


def _feeds(dataset: Dataset, batch: int) -> list[dict[str, np.ndarray]]:
    return list(dataset.batches(batch, drop_last=True)) or [dataset.take(len(dataset)).feeds]


Clock = Callable[[], float]


def _time_run(
    runner: ort.InferenceSession, feed: dict[str, np.ndarray], what: str, clock: Clock
) -> float:
    start = clock()
    run(runner, None, feed, what)
    return clock() - start


def _latency(batch: int, round_medians: list[float], all_runs: list[float]) -> Latency:
    return Latency(
        batch=batch,
        p50_ms=float(np.median(round_medians) * 1e3),
        spread_ms=spread(round_medians) * 1e3,
        p99_ms=float(np.percentile(all_runs, 99) * 1e3),
        throughput_per_s=float(batch * len(all_runs) / sum(all_runs)),
    )


def compare(
    baseline: Sequence[ort.InferenceSession],
    candidate: Sequence[ort.InferenceSession],
    dataset: Dataset,
    batch: int,
    runs: int,
    rounds: int,
    clock: Clock = time.perf_counter,
) -> Comparison:
    """`runs` timed runs of each model at `batch`, split over `rounds` interleaved rounds;
    round k uses session k of each list (in turn)."""
    feeds = _feeds(dataset, batch)
    models = {"original": baseline, "candidate": candidate}
    for name, runners in models.items():  # first runs allocate
        for runner in runners:
            for index in range(WARM_UP_RUNS):
                _time_run(runner, feeds[index % len(feeds)], f"the {name} model", clock)
    per_round = max(1, math.ceil(runs / rounds))
    medians: dict[str, list[float]] = {name: [] for name in models}
    everything: dict[str, list[float]] = {name: [] for name in models}
    for index in range(rounds):
        order = list(models) if index % 2 == 0 else list(reversed(models))
        current = {name: models[name][index % len(models[name])] for name in models}
        seconds: dict[str, list[float]] = {name: [] for name in models}
        for run_index in range(per_round):
            feed = feeds[run_index % len(feeds)]
            for name in order:
                seconds[name].append(_time_run(current[name], feed, f"the {name} model", clock))
        for name in models:
            medians[name].append(float(np.median(seconds[name])))
            everything[name] += seconds[name]
    return _summary(len(next(iter(feeds[0].values()))), medians, everything)


def _summary(
    batch: int, medians: dict[str, list[float]], runs: dict[str, list[float]]
) -> Comparison:
    """`medians` and `runs`: per model ("original", "candidate"), each round's median and
    every run, in seconds."""
    speedups = [
        before / max(after, 1e-12)
        for before, after in zip(medians["original"], medians["candidate"], strict=True)
    ]
    speedup, noise = float(np.median(speedups)), spread(speedups)
    return Comparison(
        batch=batch,
        baseline=_latency(batch, medians["original"], runs["original"]),
        candidate=_latency(batch, medians["candidate"], runs["candidate"]),
        speedup=round(speedup, 4),
        spread=round(noise, 4),
        verdict=verdict(speedup, noise),
        rounds=len(speedups),
    )
