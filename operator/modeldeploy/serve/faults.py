"""Fault injection for rollback tests: errors and added latency, enabled only by env.

MODELDEPLOY_FAULT_ERROR_RATE   fraction (0..1) of inference requests answered with 500
MODELDEPLOY_FAULT_LATENCY_MS   milliseconds added to every inference request
MODELDEPLOY_FAULT_SEED         seed for the error draw (reproducible tests)
MODELDEPLOY_FAULT_AFTER_S      faults start this many seconds after the server starts (a version
                               that degrades only after it was promoted)
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

ERROR_RATE_ENV = "MODELDEPLOY_FAULT_ERROR_RATE"
LATENCY_ENV = "MODELDEPLOY_FAULT_LATENCY_MS"
SEED_ENV = "MODELDEPLOY_FAULT_SEED"
AFTER_ENV = "MODELDEPLOY_FAULT_AFTER_S"


class InjectedFaultError(Exception):
    """An error the operator of the test asked for; answered as HTTP 500."""


@dataclass(frozen=True)
class FaultSettings:
    error_rate: float = 0.0
    latency_s: float = 0.0
    seed: int | None = None
    after_s: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.error_rate > 0 or self.latency_s > 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FaultSettings:
        """Read the settings; ValueError names the variable that is wrong."""
        error_rate = _number(env, ERROR_RATE_ENV, 0.0)
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"{ERROR_RATE_ENV}={error_rate}: must be between 0 and 1")
        latency_ms = _number(env, LATENCY_ENV, 0.0)
        if latency_ms < 0:
            raise ValueError(f"{LATENCY_ENV}={latency_ms}: must not be negative")
        seed = env.get(SEED_ENV)
        if seed is not None and not seed.lstrip("-").isdigit():
            raise ValueError(f"{SEED_ENV}={seed!r}: must be an integer")
        after_s = _number(env, AFTER_ENV, 0.0)
        if after_s < 0:
            raise ValueError(f"{AFTER_ENV}={after_s}: must not be negative")
        return cls(error_rate, latency_ms / 1000, None if seed is None else int(seed), after_s)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: must be a number") from None


class FaultInjector:
    """Applies the faults to one request: sleeps, then maybe raises InjectedFaultError."""

    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._random = random.Random(settings.seed)
        self._from = time.monotonic() + settings.after_s
        if settings.enabled:
            log.warning(
                "FAULT INJECTION IS ON: %.1f%% of inference requests will fail with 500 and "
                "every inference request is delayed by %.0f ms (%s, %s). "
                "This must never be set in production.",
                settings.error_rate * 100,
                settings.latency_s * 1000,
                ERROR_RATE_ENV,
                LATENCY_ENV,
            )

    async def apply(self) -> None:
        if self.settings.after_s and time.monotonic() < self._from:
            return
        if self.settings.latency_s:
            await asyncio.sleep(self.settings.latency_s)
        if self.settings.error_rate and self._random.random() < self.settings.error_rate:
            raise InjectedFaultError("injected fault (MODELDEPLOY_FAULT_ERROR_RATE)")
