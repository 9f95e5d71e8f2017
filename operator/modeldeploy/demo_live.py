"""What the demo shows while a rollout runs: per-version figures from Prometheus (requests,
error rate, p99) and a display that rewrites one line in place on a terminal and prints line by
line otherwise."""

from __future__ import annotations

import math
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

from modeldeploy.demo_prometheus import Prometheus

# The series `modeldeploy serve` exports (serve/metrics.py): `model` and `version` are the
# server's labels, `namespace` the scrape configuration's relabelling of the pod's namespace.
REQUESTS = "modeldeploy_requests_total{%s}"
ERRORS = 'modeldeploy_requests_total{%s,code!~"2.."}'
BUCKETS = "modeldeploy_request_duration_seconds_bucket{%s}"
LIVE_WINDOW = "5s"
TTY_REFRESH = 1.0  # seconds between two renderings of the line shown in place
LINE_REFRESH = 3.0  # seconds between two live lines when stdout is not a terminal


@dataclass(frozen=True)
class VersionFigures:
    version: str
    requests: float
    """Requests per second (live) or requests in all (totals)."""
    errors: float
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def _number(raw: str) -> float | None:
    value = float(raw)
    return value if math.isfinite(value) else None


def _by_version(result: list[Any]) -> dict[str, float | None]:
    return {item["metric"].get("version", "?"): _number(item["value"][1]) for item in result}


def version_order(version: str) -> tuple[int, str]:
    """Sort key: numbered versions in order, then the others by name."""
    return (int(version), "") if version.isdigit() else (sys.maxsize, version)


class Figures:
    """Per-version figures of one resource's serving pods, queried from Prometheus."""

    def __init__(self, prometheus: Prometheus, namespace: str, name: str) -> None:
        self.prometheus = prometheus
        self.selector = f'namespace="{namespace}",model="{name}"'

    def queries(self, function: str, window: str) -> tuple[str, str, str]:
        """PromQL of (requests, errors, p99 in ms) by version, over `function(...[window])`."""
        requests, errors, buckets = (s % self.selector for s in (REQUESTS, ERRORS, BUCKETS))
        return (
            f"sum by (version) ({function}({requests}[{window}]))",
            f"sum by (version) ({function}({errors}[{window}]))",
            f"1000 * histogram_quantile(0.99, sum by (version, le) "
            f"({function}({buckets}[{window}])))",
        )

    def _figures(self, function: str, window: str) -> list[VersionFigures]:
        requests, errors, p99 = (
            _by_version(self.prometheus.query(q)) for q in self.queries(function, window)
        )
        return [
            VersionFigures(version, count or 0.0, errors.get(version) or 0.0, p99.get(version))
            for version, count in sorted(requests.items(), key=lambda kv: version_order(kv[0]))
            if count
        ]

    def live(self) -> list[VersionFigures]:
        """Requests per second, error rate and p99 of each version answering now."""
        return self._figures("rate", LIVE_WINDOW)

    def totals(self, seconds: float) -> list[VersionFigures]:
        """All requests each version answered in the last `seconds` (every pod's last counter
        values: a pod scaled down keeps what it had answered), their error rate and p99."""
        return self._figures("last_over_time", f"{math.ceil(seconds)}s")

    def series(
        self, start: float, end: float, step: float, window: str
    ) -> tuple[list[float], dict[str, list[float]], dict[str, list[float]]]:
        """(times, requests/s by version, errors/s by version) from `start` to `end`, one value
        per `step` (0 where a version answered nothing)."""
        requests, errors, _ = self.queries("rate", window)
        times = [start + i * step for i in range(int((end - start) / step) + 1)]

        def matrix(query: str) -> dict[str, list[float]]:
            found: dict[str, list[float]] = {}
            for item in self.prometheus.query_range(query, start, end, step):
                values = found.setdefault(item["metric"].get("version", "?"), [0.0] * len(times))
                for at, raw in item["values"]:
                    index = round((float(at) - start) / step)
                    if 0 <= index < len(times):
                        values[index] = _number(raw) or 0.0
            return found

        return times, matrix(requests), matrix(errors)


def live_line(phase: str, where: str, figures: list[VersionFigures], sent: int, failed: int) -> str:
    """`   live  RollingOut  canary 2 at 25%  | v1 75% err 0.0% p99 4 ms | ... | sent 312 ...`."""
    total = sum(f.requests for f in figures) or 1.0
    parts = [
        f"v{f.version} {100 * f.requests / total:3.0f}% err {100 * f.error_rate:4.1f}% p99 "
        + (f"{f.p99_ms:.0f} ms" if f.p99_ms is not None else "-")
        for f in figures
    ]
    shown = " | ".join(parts) if parts else "no requests in Prometheus yet"
    return f"   live  {phase:<11} {where:<26} | {shown} | sent {sent}, {failed} failed"


class Display:
    """Lines that stay (status changes) and one live line: rewritten in place on a terminal
    (`\\r`, erase to the end of the line), printed every few seconds otherwise."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.every = TTY_REFRESH if self.tty else LINE_REFRESH
        self._live = ""
        self._last_live = -math.inf

    def live_due(self) -> float:
        """Seconds until the live line is due again (0: now)."""
        return max(0.0, self._last_live + self.every - time.monotonic())

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _fit(self, text: str) -> str:
        width = shutil.get_terminal_size().columns
        return text if len(text) < width else text[: max(1, width - 2)] + "…"

    def event(self, text: str) -> None:
        if self.tty and self._live:
            self._write(f"\r\x1b[K{text}\n{self._fit(self._live)}")
        else:
            self._write(f"{text}\n")

    def live(self, text: str) -> None:
        self._last_live = time.monotonic()
        if self.tty:
            self._write(f"\r\x1b[K{self._fit(text)}")
        elif text != self._live:
            self._write(f"{text}\n")
        self._live = text

    def close(self) -> None:
        """On a terminal, the live line stays as the last line printed."""
        if self.tty and self._live:
            self._write("\n")
        self._live = ""
        self._last_live = -math.inf
