"""The data plane: model lifecycle, readiness, admission limits and batched inference.

Endpoints call `admit()` before reading a body and `release()` after answering; in
between, `infer()` validates tensors and runs them through the dynamic batcher.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Mapping

import numpy as np

from modeldeploy.serve.batching import DynamicBatcher, Outputs
from modeldeploy.serve.config import ServeConfig
from modeldeploy.serve.faults import FaultInjector
from modeldeploy.serve.metrics import ServeMetrics
from modeldeploy.serve.model import ModelLoadError, OnnxModel, verify_sha256

log = logging.getLogger(__name__)

# A lone request on an idle server runs on the event loop when a single run of the model
# takes less than this per request: about what the hand-off to the inference thread costs.
INLINE_RUN_LIMIT_S = 100e-6


class State(enum.Enum):
    LOADING = "loading"
    READY = "ready"
    QUIESCING = "quiescing"  # shutting down: not ready, still answering
    DRAINING = "draining"  # shutting down: refusing new requests
    FAILED = "failed"


class UnavailableError(Exception):
    """The request cannot be taken now (503); `retry_after` seconds is a hint."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DataPlane:
    def __init__(self, config: ServeConfig, metrics: ServeMetrics, faults: FaultInjector) -> None:
        self.config = config
        self.metrics = metrics
        self.faults = faults
        self.state = State.LOADING
        self.model: OnnxModel | None = None
        self.in_flight = 0
        self._last_arrival = 0.0  # time.monotonic() of the latest admitted request
        self._submitted = 0  # admitted requests already handed to the batcher
        self._idle = asyncio.Event()
        self._idle.set()
        self._batcher: DynamicBatcher | None = None

    @property
    def ready(self) -> bool:
        return self.state is State.READY

    async def load(self) -> None:
        """Verify, load and warm up the model off the event loop; then become ready."""
        started = time.perf_counter()
        try:
            self.model = await asyncio.to_thread(self._load_blocking)
        except Exception:
            self.state = State.FAILED
            raise
        self.metrics.model_loaded(time.perf_counter() - started)
        self._batcher = DynamicBatcher(
            self.model.run,
            batchable=self.model.batchable,
            max_batch_size=self.config.max_batch_size,
            max_delay_s=self.config.max_delay_ms / 1000,
            pending_arrivals=lambda: self.in_flight - self._submitted,
            on_batch=self.metrics.batch,
            inline_run_limit_s=INLINE_RUN_LIMIT_S,
        )
        if self.state is State.LOADING:
            self.state = State.READY
        log.info(
            "model %s version %s ready in %.2fs (providers %s, batchable %s)",
            self.config.model_name,
            self.config.model_version,
            time.perf_counter() - started,
            ",".join(self.model.providers),
            self.model.batchable,
        )

    def _load_blocking(self) -> OnnxModel:
        config = self.config
        path = config.model_file
        if not path.is_file():
            raise ModelLoadError(f"{path}: no such model file")
        if config.expected_sha256:
            verify_sha256(path, config.expected_sha256)
        model = OnnxModel(
            path,
            threads=config.threads,
            providers=config.providers,
            graph_optimization=config.graph_optimization,
        )
        warm_up = model.warm_up()
        log.info(
            "loaded %s in %.2fs, warm-up inference %.1f ms",
            path,
            model.load_seconds,
            warm_up * 1000,
        )
        return model

    def admit(self) -> None:
        """Count an inference request in, or raise UnavailableError (503)."""
        if self.state not in (State.READY, State.QUIESCING):
            if self.state is State.DRAINING:
                raise UnavailableError("the server is shutting down")
            raise UnavailableError(f"the model is not ready ({self.state.value})", retry_after=5)
        if self.in_flight >= self.config.max_concurrency:
            raise UnavailableError(
                f"too many requests in flight (limit {self.config.max_concurrency})"
            )
        self.in_flight += 1
        self._last_arrival = time.monotonic()
        self.metrics.in_flight.inc()
        self._idle.clear()

    def release(self) -> None:
        self.in_flight -= 1
        self.metrics.in_flight.dec()
        if self.in_flight == 0:
            self._idle.set()
        if self._batcher is not None:
            self._batcher.poke()  # one fewer arrival to wait for

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> Outputs:
        """Validate `feeds` (InvalidInputError), apply injected faults, run batched."""
        assert self.model is not None
        assert self._batcher is not None
        self.model.validate(feeds)
        await self.faults.apply()
        rows = next(iter(feeds.values())).shape[0] if self.model.batchable else 1
        self._submitted += 1
        try:
            return await self._batcher.submit(feeds, rows)
        finally:
            self._submitted -= 1

    async def drain(self) -> bool:
        """Shut down as a Service's backend must, all within the grace period.

        The endpoints controller and every node's proxy learn of a deleted pod at the same
        time as its kubelet signals it, so requests keep coming for a moment. A ready server
        first quiesces: it reports not ready and answers until no request has come for the
        quiet period (as Knative's queue-proxy drainer does). Then it refuses new requests
        (503) and waits for those in flight. Returns whether every in-flight request finished.
        """
        config = self.config
        deadline = time.monotonic() + config.grace_period_s
        if self.state is State.READY and config.quiet_period_s > 0:
            await self._quiesce(deadline - config.quiet_period_s)
        self.state = State.DRAINING
        pending = self.in_flight
        remaining = max(0.0, deadline - time.monotonic())
        log.info("draining: %d inference request(s) in flight, grace %.0fs", pending, remaining)
        try:
            await asyncio.wait_for(self._idle.wait(), remaining)
        except TimeoutError:
            log.error("grace period over with %d request(s) still in flight", self.in_flight)
            return False
        log.info("drained: all %d in-flight request(s) answered", pending)
        return True

    async def _quiesce(self, latest: float) -> None:
        """Not ready, still answering: until the quiet period passes with no new request, or
        `latest` (which leaves the requests taken by then a quiet period to finish)."""
        self.state = State.QUIESCING
        self._last_arrival = time.monotonic()
        log.info(
            "not ready: answering until no request has come for %.1fs", self.config.quiet_period_s
        )
        while (now := time.monotonic()) < (
            until := min(self._last_arrival + self.config.quiet_period_s, latest)
        ):
            await asyncio.sleep(until - now)  # the quiet-period timer, re-armed by arrivals

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
