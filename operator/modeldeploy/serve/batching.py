"""Dynamic batching: concurrent requests are merged along axis 0, run once, split back.

While a batch runs, new requests queue. When the worker is free, the queue is dispatched
as soon as one of these holds:
- it has `max_batch_size` rows;
- the oldest queued request has waited `max_delay_s`;
- no other admitted request is about to be submitted (`pending_arrivals() == 0`) and at
  least as many requests are queued as the previous batch had: clients answered by that
  batch tend to come back, so under steady load the batch fills up, while a lone client
  (previous batch of one) never waits.
Requests whose non-batch axes differ cannot be merged; each such group runs as its own
batch. Inference runs on one worker thread; the loop and the worker talk through a queue
and `call_soon_threadsafe`, the cheapest hand-off measured here (about half the cost of
`run_in_executor`). The one exception: a lone request on an idle batcher runs on the event
loop itself when the model's single runs take less than `inline_run_limit_s` per request:
for a tiny model the hand-off and the wake-ups (50-100 µs) cost more than the run, and the
loop is blocked for less than the hand-off would have taken. It first yields once to the
loop, so that requests parsed in the same pass reach the batcher and are batched instead.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

import numpy as np

Feeds = Mapping[str, np.ndarray]
Outputs = dict[str, np.ndarray]
Result = Outputs | BaseException


class InferenceError(Exception):
    """ONNX Runtime refused to run one request's tensors."""


@dataclass(eq=False)
class _Request:
    feeds: Feeds
    rows: int
    key: Hashable
    arrived: float
    future: asyncio.Future[Outputs] = field(repr=False)


def _merge_key(feeds: Feeds) -> Hashable:
    return tuple((name, array.shape[1:]) for name, array in sorted(feeds.items()))


class DynamicBatcher:
    """Queues requests and runs them in merged batches on a worker thread."""

    def __init__(
        self,
        run: Callable[[Feeds], Outputs],
        *,
        batchable: bool,
        max_batch_size: int,
        max_delay_s: float,
        pending_arrivals: Callable[[], int] = lambda: 0,
        on_batch: Callable[[int, float], None] = lambda rows, seconds: None,
        inline_run_limit_s: float = 0.0,
    ) -> None:
        self._run = run
        self._batchable = batchable
        self._max_rows = max_batch_size
        self._max_delay = max_delay_s
        self._pending_arrivals = pending_arrivals
        self._on_batch = on_batch
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._running = False  # a batch is on the worker thread
        self._expected = 1  # requests in the previous batch
        self._inline_limit = inline_run_limit_s
        self._seconds_per_row = math.inf  # of the last single-request run; none yet
        self._inline_candidate = False  # a request is yielding once before running inline
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._work: queue.SimpleQueue[list[_Request] | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work_forever, name="inference", daemon=True)
        self._worker.start()

    async def close(self) -> None:
        """Fail what is still queued and stop the worker thread."""
        if self._timer is not None:
            self._timer.cancel()
        for request in self._queue:
            if not request.future.done():
                request.future.set_exception(InferenceError("the server is shutting down"))
        self._queue.clear()
        self._work.put(None)
        await asyncio.to_thread(self._worker.join)

    async def submit(self, feeds: Feeds, rows: int) -> Outputs:
        """Queue validated feeds with `rows` rows on axis 0; wait for their outputs."""
        loop = self._loop
        arrived = loop.time()
        if self._runs_inline(rows):
            # Requests already on their way (parsed in the same loop pass) reach the batcher
            # first; if one did, this one is batched with it instead.
            self._inline_candidate = True
            await asyncio.sleep(0)
            self._inline_candidate = False
            if self._runs_inline(rows):
                result = self._run_alone(feeds, rows)
                if isinstance(result, BaseException):
                    raise result
                return result
        request = _Request(feeds, rows, _merge_key(feeds), arrived, loop.create_future())
        self._queue.append(request)
        self._queued_rows += rows
        self.poke()
        return await request.future

    def _runs_inline(self, rows: int) -> bool:
        """Idle (nothing running, queued or about to arrive, previous batch of one) and the
        model is fast enough that running here beats the hand-off."""
        return (
            not self._running
            and not self._inline_candidate
            and not self._queue
            and self._expected == 1
            and self._pending_arrivals() == 0
            and self._seconds_per_row * rows < self._inline_limit
        )

    def poke(self) -> None:
        """Dispatch now if the rules above allow it, else make sure a timer will."""
        if self._running or not self._queue:
            return
        wait = self._queue[0].arrived + self._max_delay - self._loop.time()
        filling = self._pending_arrivals() > 0 or len(self._queue) < self._expected
        if filling and self._queued_rows < self._max_rows and wait > 0:
            if self._timer is None:
                self._timer = self._loop.call_later(wait, self._timer_fired)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._running = True
        self._work.put(self._take())

    def _timer_fired(self) -> None:
        self._timer = None
        self.poke()

    def _take(self) -> list[_Request]:
        """The oldest request and the queued ones that can merge with it, in order."""
        first = self._queue.popleft()
        batch, rows, kept = [first], first.rows, deque[_Request]()
        while self._batchable and self._queue and rows < self._max_rows:
            request = self._queue.popleft()
            if request.key == first.key and rows + request.rows <= self._max_rows:
                batch.append(request)
                rows += request.rows
            else:
                kept.append(request)
        kept.extend(self._queue)
        self._queue = kept
        self._queued_rows -= rows
        self._expected = len(batch)
        return batch

    def _finished(self, batch: list[_Request], results: list[Result]) -> None:
        self._running = False
        for request, result in zip(batch, results, strict=True):
            if request.future.done():  # the client went away
                continue
            if isinstance(result, BaseException):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)
        self.poke()

    # Worker thread from here on (and `_runs_inline` requests on the loop).

    def _work_forever(self) -> None:
        while (batch := self._work.get()) is not None:
            try:
                results = self._run_batch(batch)
            except Exception as err:  # never leave a request without an answer
                results = [InferenceError(f"inference failed: {err}")] * len(batch)
            self._loop.call_soon_threadsafe(self._finished, batch, results)

    def _run_batch(self, batch: list[_Request]) -> list[Result]:
        if len(batch) == 1:
            return [self._run_alone(batch[0].feeds, batch[0].rows)]
        total = sum(request.rows for request in batch)
        merged = {
            name: np.concatenate([request.feeds[name] for request in batch])
            for name in batch[0].feeds
        }
        try:
            outputs, _ = self._timed_run(merged, total)
        except Exception:
            outputs = None
        if outputs is None or any(out.shape[:1] != (total,) for out in outputs.values()):
            # One bad request (or a model whose outputs do not follow axis 0) must not
            # fail the others: run each alone.
            return [self._run_alone(request.feeds, request.rows) for request in batch]
        results: list[Result] = []
        start = 0
        for request in batch:
            stop = start + request.rows
            results.append({name: out[start:stop] for name, out in outputs.items()})
            start = stop
        return results

    def _run_alone(self, feeds: Feeds, rows: int) -> Result:
        """One request's run, on the worker or (inline) on the loop; it also times the model
        for `_runs_inline`."""
        try:
            outputs, seconds = self._timed_run(feeds, rows)
        except Exception as err:
            return InferenceError(f"the model could not run on this input: {err}")
        self._seconds_per_row = seconds / max(rows, 1)
        return outputs

    def _timed_run(self, feeds: Feeds, rows: int) -> tuple[Outputs, float]:
        started = time.perf_counter()
        outputs = self._run(feeds)
        seconds = time.perf_counter() - started
        self._on_batch(rows, seconds)
        return outputs, seconds
