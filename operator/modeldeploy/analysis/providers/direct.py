"""The `direct` provider: scrape each ready pod of the version and compute the built-in
metrics from the difference with the previous scrape (no Prometheus needed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from modeldeploy.analysis import figures
from modeldeploy.analysis.figures import Counts
from modeldeploy.analysis.providers.base import Target
from modeldeploy.analysis.rules import Measurement
from modeldeploy.api.v1alpha1 import MetricCheck

FORGET_AFTER_S = 600.0


@dataclass(frozen=True)
class _Scrape:
    counts: Counts
    at: float


class DirectProvider:
    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._last: dict[str, _Scrape] = {}
        """The previous scrape of each pod (by uid): the start of its next interval."""

    async def measure(
        self, checks: Sequence[MetricCheck], target: Target
    ) -> dict[str, Measurement]:
        self._forget_old()
        if not target.pods:
            return _all(checks, Measurement(requests=0.0))
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            scraped = await asyncio.gather(*(self._scrape(session, u) for _, u in target.pods))
        errors = [error for _, error in scraped if error]
        if errors:
            return _all(checks, Measurement(error="; ".join(errors)))
        interval, seconds, baseline = Counts(), 0.0, False
        for (uid, _), (scrape, _) in zip(target.pods, scraped, strict=True):
            assert scrape is not None
            earlier = self._last.get(uid)
            self._last[uid] = scrape
            if earlier is None:
                baseline = True  # a pod first seen now has no interval yet
                continue
            interval = interval.plus(scrape.counts.minus(earlier.counts))
            seconds = max(seconds, scrape.at - earlier.at)
        if baseline and not interval.requests:
            return _all(checks, Measurement(error="first scrape of the pods (baseline)"))
        return {
            check.name: Measurement(
                figures.figure(check.name, interval, seconds), requests=interval.requests
            )
            for check in checks
        }

    def _forget_old(self) -> None:
        """Pods not scraped for a while are gone or no longer analysed."""
        horizon = time.monotonic() - FORGET_AFTER_S
        for uid in [uid for uid, scrape in self._last.items() if scrape.at < horizon]:
            del self._last[uid]

    async def _scrape(
        self, session: aiohttp.ClientSession, url: str
    ) -> tuple[_Scrape | None, str | None]:
        try:
            async with session.get(f"{url}/metrics") as response:
                if response.status != 200:
                    return None, f"{url}/metrics: HTTP {response.status}"
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError) as error:
            return None, f"{url}/metrics: {type(error).__name__} {error}".rstrip()
        return _Scrape(figures.parse(text), time.monotonic()), None


def _all(checks: Sequence[MetricCheck], measurement: Measurement) -> dict[str, Measurement]:
    return {check.name: measurement for check in checks}
