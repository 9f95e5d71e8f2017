"""The work queue: one entry per key however many events, one pass at a time per key, a key
queued during its pass runs once more after it, delayed wake-ups keep the earliest."""

from __future__ import annotations

import asyncio

from modeldeploy.controller.queue import WorkQueue


def test_events_for_a_queued_key_queue_it_once() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        for _ in range(5):
            queue.add("a")
        queue.add("b")
        assert len(queue) == 2
        assert await queue.get() == "a"
        assert await queue.get() == "b"

    asyncio.run(scenario())


def test_a_key_changed_during_its_pass_runs_again_after_it() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        key = await queue.get()
        queue.add("a")  # an event while "a" is being reconciled
        assert len(queue) == 0  # not handed to a second worker meanwhile
        queue.done(key)
        assert len(queue) == 1
        assert await queue.get() == "a"

    asyncio.run(scenario())


def test_add_after_keeps_the_earliest_wake_up() -> None:
    async def scenario() -> None:
        queue: WorkQueue[str] = WorkQueue()
        loop = asyncio.get_running_loop()
        started = loop.time()
        queue.add_after("a", 30)
        queue.add_after("a", 0.05)  # sooner: replaces the later one
        queue.add_after("a", 10)  # later: ignored
        assert await asyncio.wait_for(queue.get(), 5) == "a"
        assert loop.time() - started < 5
        queue.done("a")
        queue.add_after("b", 0.05)
        queue.forget("b")
        assert len(queue) == 0

    asyncio.run(scenario())
