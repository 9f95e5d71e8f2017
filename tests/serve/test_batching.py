"""The dynamic batcher on its own, with a recording stand-in for the ONNX session."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

import numpy as np
import pytest

from modeldeploy.serve.batching import DynamicBatcher, InferenceError

TIMEOUT = 10  # a request that never completes fails the test instead of hanging it


class Recorder:
    """Doubles its input; remembers each batch's rows; refuses negative inputs."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.threads: set[str] = set()
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.gate.wait(TIMEOUT)
        self.threads.add(threading.current_thread().name)
        values = feeds["x"]
        self.batches.append(values.shape[0])
        if (values < 0).any():
            raise ValueError("negative input")
        return {"y": values * 2}


def _rows(*values: float, width: int = 2) -> dict[str, np.ndarray]:
    return {"x": np.array([[value] * width for value in values], dtype=np.float32)}


async def _batcher(recorder: Recorder, **options: object) -> DynamicBatcher:
    settings: dict[str, object] = {"batchable": True, "max_batch_size": 8, "max_delay_s": 3600}
    settings.update(options)
    return DynamicBatcher(recorder, **settings)  # type: ignore[arg-type]


def test_a_lone_request_runs_at_once_off_the_event_loop() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder)  # an hour of max delay: waiting would time out
        result = await asyncio.wait_for(batcher.submit(_rows(1.5), 1), TIMEOUT)
        np.testing.assert_array_equal(result["y"], [[3.0, 3.0]])
        assert recorder.threads == {"inference"}
        await batcher.close()

    asyncio.run(scenario())


def test_requests_queued_behind_a_running_batch_are_merged_and_split_back() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder)
        recorder.gate.clear()  # hold the first batch on the worker
        first = asyncio.ensure_future(batcher.submit(_rows(1), 1))
        await asyncio.sleep(0)
        rest = [asyncio.ensure_future(batcher.submit(_rows(v, v + 1), 2)) for v in (2, 4, 6)]
        await asyncio.sleep(0)
        recorder.gate.set()
        results = await asyncio.wait_for(asyncio.gather(first, *rest), TIMEOUT)
        assert recorder.batches == [1, 6]
        np.testing.assert_array_equal(results[0]["y"], [[2, 2]])
        np.testing.assert_array_equal(results[2]["y"], [[8, 8], [10, 10]])
        await batcher.close()

    asyncio.run(scenario())


def test_max_batch_size_and_unmergeable_shapes_split_batches() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder, max_batch_size=4)
        recorder.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit(_rows(0), 1))
        await asyncio.sleep(0)
        wide = [asyncio.ensure_future(batcher.submit(_rows(1, 1, width=3), 2)) for _ in range(3)]
        narrow = asyncio.ensure_future(batcher.submit(_rows(5), 1))
        await asyncio.sleep(0)
        recorder.gate.set()
        await asyncio.wait_for(asyncio.gather(blocker, *wide, narrow), TIMEOUT)
        # 3 wide requests of 2 rows, at most 4 rows a batch: 4 then 2; narrow alone, in order.
        assert recorder.batches == [1, 4, 2, 1]
        np.testing.assert_array_equal((await narrow)["y"], [[10, 10]])
        await batcher.close()

    asyncio.run(scenario())


def test_a_failing_request_fails_alone() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder)
        recorder.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit(_rows(0), 1))
        await asyncio.sleep(0)
        good = asyncio.ensure_future(batcher.submit(_rows(1), 1))
        bad = asyncio.ensure_future(batcher.submit(_rows(-1), 1))
        await asyncio.sleep(0)
        recorder.gate.set()
        await asyncio.wait_for(asyncio.wait([blocker, good, bad]), TIMEOUT)
        np.testing.assert_array_equal(good.result()["y"], [[2, 2]])
        with pytest.raises(InferenceError, match="negative input"):
            bad.result()
        assert recorder.batches == [1, 2, 1, 1]  # merged try, then each alone
        await batcher.close()

    asyncio.run(scenario())


def test_waits_for_announced_arrivals_until_the_delay() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        arriving = [1]
        batcher = await _batcher(recorder, max_delay_s=0.05, pending_arrivals=lambda: arriving[0])
        first = asyncio.ensure_future(batcher.submit(_rows(1), 1))
        await asyncio.sleep(0)
        assert recorder.batches == []  # someone else is coming: it waits
        arriving[0] = 0
        second = asyncio.ensure_future(batcher.submit(_rows(2), 1))
        await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
        assert recorder.batches == [2]
        arriving[0] = 5  # announced but never coming: the delay bounds the wait
        await asyncio.wait_for(batcher.submit(_rows(3), 1), TIMEOUT)
        assert recorder.batches == [2, 1]
        await batcher.close()

    asyncio.run(scenario())


def test_close_fails_what_is_still_queued() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder, pending_arrivals=lambda: 1)
        queued = asyncio.ensure_future(batcher.submit(_rows(1), 1))
        await asyncio.sleep(0)
        await batcher.close()
        with pytest.raises(InferenceError, match="shutting down"):
            await asyncio.wait_for(queued, TIMEOUT)

    asyncio.run(scenario())


def test_after_a_batch_of_n_it_waits_for_n_requests() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder)  # an hour of max delay: only the rule dispatches
        recorder.gate.clear()
        blocker = asyncio.ensure_future(batcher.submit(_rows(0), 1))
        await asyncio.sleep(0)
        three = [asyncio.ensure_future(batcher.submit(_rows(1), 1)) for _ in range(3)]
        await asyncio.sleep(0)
        recorder.gate.set()
        await asyncio.wait_for(asyncio.gather(blocker, *three), TIMEOUT)
        assert recorder.batches == [1, 3]
        first = asyncio.ensure_future(batcher.submit(_rows(2), 1))
        second = asyncio.ensure_future(batcher.submit(_rows(3), 1))
        await asyncio.sleep(0)
        assert recorder.batches == [1, 3]  # two of the three expected: still filling
        third = asyncio.ensure_future(batcher.submit(_rows(4), 1))
        await asyncio.wait_for(asyncio.gather(first, second, third), TIMEOUT)
        assert recorder.batches == [1, 3, 3]
        await batcher.close()

    asyncio.run(scenario())


def test_a_fast_model_runs_a_lone_request_on_the_loop_once_timed() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder, inline_run_limit_s=60.0)
        # The first run has no timing yet: it goes to the worker and is timed there.
        await asyncio.wait_for(batcher.submit(_rows(1), 1), TIMEOUT)
        assert recorder.threads == {"inference"}
        result = await asyncio.wait_for(batcher.submit(_rows(2), 1), TIMEOUT)
        np.testing.assert_array_equal(result["y"], [[4, 4]])
        assert recorder.threads == {"inference", threading.current_thread().name}
        with pytest.raises(InferenceError, match="negative input"):
            await batcher.submit(_rows(-1), 1)
        await batcher.close()

    asyncio.run(scenario())


def test_no_inline_run_while_others_are_arriving_or_for_a_slow_model() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(
            recorder,
            inline_run_limit_s=60.0,
            max_delay_s=0.01,
            pending_arrivals=lambda: 1,
        )
        await asyncio.wait_for(batcher.submit(_rows(1), 1), TIMEOUT)  # timed on the worker
        # Another request is announced: this one waits to be batched with it, on the worker.
        await asyncio.wait_for(batcher.submit(_rows(2), 1), TIMEOUT)
        assert recorder.threads == {"inference"}
        slow = Recorder()
        slow_batcher = await _batcher(slow, inline_run_limit_s=1e-3)
        slow.gate.clear()
        threading.Timer(0.05, slow.gate.set).start()  # the first run takes >= 50 ms
        await asyncio.wait_for(slow_batcher.submit(_rows(1), 1), TIMEOUT)
        await asyncio.wait_for(slow_batcher.submit(_rows(2), 1), TIMEOUT)
        assert slow.threads == {"inference"}
        await batcher.close()
        await slow_batcher.close()

    asyncio.run(scenario())


def test_requests_arriving_in_the_same_loop_pass_go_to_the_worker() -> None:
    async def scenario() -> None:
        recorder = Recorder()
        batcher = await _batcher(recorder, inline_run_limit_s=60.0)
        await asyncio.wait_for(batcher.submit(_rows(1), 1), TIMEOUT)  # timed on the worker
        together = [batcher.submit(_rows(v), 1) for v in (2, 3, 4)]
        results = await asyncio.wait_for(asyncio.gather(*together), TIMEOUT)
        assert [r["y"][0][0] for r in results] == [4, 6, 8]
        assert recorder.threads == {"inference"}
        assert sum(recorder.batches) == 4
        assert len(recorder.batches) < 4  # two of the three were merged
        await batcher.close()

    asyncio.run(scenario())
