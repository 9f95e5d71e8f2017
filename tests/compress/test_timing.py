"""Interleaved timing (`timing.compare`) with a simulated clock: the order of the runs, the
medians, the spread and the verdict."""

from __future__ import annotations

import numpy as np
import pytest

from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.timing import WARM_UP_RUNS, compare


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeModel:
    """Stands in for an ORT session: each run advances the clock by its scripted cost."""

    def __init__(self, name: str, clock: Clock, costs: list[float], log: list[str]) -> None:
        self.name, self.clock, self.costs, self.log = name, clock, list(costs), log

    def run(self, names: list[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.log.append(self.name)
        self.clock.now += self.costs.pop(0) if len(self.costs) > 1 else self.costs[0]
        return [next(iter(feed.values()))]


DATA = Dataset({"input": np.zeros((128, 4), np.float32)}, None)


def test_runs_alternate_and_rounds_flip_the_order_after_warm_up() -> None:
    clock, log = Clock(), []
    original = FakeModel("A", clock, [0.001], log)
    candidate = FakeModel("B", clock, [0.001], log)

    compare([original], [candidate], DATA, 64, runs=6, rounds=3, clock=clock)  # type: ignore[list-item]

    warm_up = ["A"] * WARM_UP_RUNS + ["B"] * WARM_UP_RUNS
    assert log == [*warm_up, "A", "B", "A", "B", "B", "A", "B", "A", "A", "B", "A", "B"]


def test_a_steady_slowdown_is_slower_and_noise_is_reported_as_spread() -> None:
    clock, log = Clock(), []
    # The candidate takes twice as long; the load on the machine varies between rounds.
    load = [1.0, 1.0, 1.0, 1.3, 1.3, 1.3, 0.9, 0.9, 0.9, 1.1, 1.1, 1.1]
    original = FakeModel("A", clock, [0.001] * WARM_UP_RUNS + [0.001 * f for f in load], log)
    candidate = FakeModel("B", clock, [0.002] * WARM_UP_RUNS + [0.002 * f for f in load], log)

    result = compare([original], [candidate], DATA, 64, runs=12, rounds=4, clock=clock)  # type: ignore[list-item]

    assert result.batch == 64
    assert result.speedup == 0.5
    assert result.spread == 0.0  # both hit alike: the ratio is steady
    assert result.verdict == "slower"
    # The median of the rounds' medians 1.0, 1.3, 0.9 and 1.1 ms.
    assert result.baseline.p50_ms == pytest.approx(1.05)
    assert result.candidate.p50_ms == pytest.approx(2.1)
    assert result.baseline.spread_ms > 0  # the rounds differ in absolute time


def test_a_difference_inside_the_noise_is_the_same() -> None:
    clock, log = Clock(), []
    original = FakeModel("A", clock, [0.001], log)
    # Rounds of the candidate: 5% slower, 5% faster, 10% faster, 8% slower.
    per_round = [1.05, 0.95, 0.9, 1.08]
    costs = [0.001] * WARM_UP_RUNS + [0.001 * f for f in per_round]
    candidate = FakeModel("B", clock, costs, log)

    result = compare([original], [candidate], DATA, 1, runs=4, rounds=4, clock=clock)  # type: ignore[list-item]

    assert result.verdict == "same"
    assert result.spread > abs(1 - result.speedup)
