"""The `prometheus` provider: instant queries over Prometheus's HTTP API (/api/v1/query)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

from modeldeploy.analysis import templates
from modeldeploy.analysis.providers.base import Target
from modeldeploy.analysis.rules import Measurement
from modeldeploy.api.v1alpha1 import MetricCheck


class PrometheusProvider:
    def __init__(
        self,
        address: str,
        timeout_seconds: float,
        insecure_skip_verify: bool = False,
    ) -> None:
        self.url = address.rstrip("/") + "/api/v1/query"
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.ssl = not insecure_skip_verify  # False: no certificate verification

    async def measure(
        self, checks: Sequence[MetricCheck], target: Target
    ) -> dict[str, Measurement]:
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            requests, requests_error = await self._query(
                session, templates.render(templates.REQUESTS, target)
            )
            found: dict[str, Measurement] = {}
            for check in checks:
                template = check.query or templates.BUILTIN[check.name]
                value, error = await self._query(session, templates.render(template, target))
                # No series at all: the version answered nothing in the interval.
                seen = 0.0 if requests is None and requests_error is None else requests
                found[check.name] = Measurement(value, seen, error or requests_error)
            return found

    async def _query(
        self, session: aiohttp.ClientSession, query: str
    ) -> tuple[float | None, str | None]:
        """(value, error): the single sample's value, None when the result is empty."""
        try:
            async with session.get(self.url, params={"query": query}, ssl=self.ssl) as response:
                body: Any = await response.json(content_type=None)
                if response.status != 200 or body.get("status") != "success":
                    reason = body.get("error") if isinstance(body, dict) else ""
                    return None, f"HTTP {response.status} {reason}".strip()
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            return None, f"{type(error).__name__}: {error}".rstrip(": ")
        data = body.get("data") or {}
        result: Any = data.get("result")
        if data.get("resultType") == "scalar":
            return float(result[1]), None
        if not result:
            return None, None
        if len(result) > 1:
            return None, f"the query returned {len(result)} series, expected one"
        return float(result[0]["value"][1]), None
