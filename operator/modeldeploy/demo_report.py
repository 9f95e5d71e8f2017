"""The end of the demo: a table of how each version did and a PNG plot of traffic share and
error rate per version over time (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modeldeploy.demo_live import VersionFigures, version_order

REASON_WIDTH = 60
CLOSE_EVENTS = 2.0  # seconds: events closer than this share one label on the plot


def outcomes(history: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """(outcome, reason) of each version in status.history (newest first: its latest)."""
    found: dict[str, tuple[str, str]] = {}
    for entry in history:
        found.setdefault(
            str(entry.get("version")), (entry.get("outcome", ""), entry.get("reason", ""))
        )
    return found


def summary_table(
    figures: Sequence[VersionFigures], history: Sequence[Mapping[str, Any]]
) -> list[str]:
    """One row per version: outcome, requests answered, error rate, p99, and why."""
    results = outcomes(history)
    rows = [("version", "outcome", "requests", "errors", "p99", "reason")]
    for version in sorted({f.version for f in figures} | set(results), key=version_order):
        figure = next((f for f in figures if f.version == version), None)
        outcome, reason = results.get(version, ("-", ""))
        if len(reason) > REASON_WIDTH:
            reason = reason[: REASON_WIDTH - 1] + "…"
        rows.append(
            (
                version,
                outcome,
                f"{figure.requests:.0f}" if figure else "0",
                f"{100 * figure.error_rate:.1f}%" if figure else "-",
                f"{figure.p99_ms:.1f} ms" if figure and figure.p99_ms is not None else "-",
                reason,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    right = {2, 3, 4}  # numbers
    return [
        "  ".join(
            [
                *(
                    cell.rjust(w) if i in right else cell.ljust(w)
                    for i, (cell, w) in enumerate(zip(row, widths, strict=False))
                ),
                row[-1],
            ]
        ).rstrip()
        for row in rows
    ]


def _merged(events: Sequence[tuple[float, str]]) -> list[tuple[float, str]]:
    """The events, those close to the one before joined into one label."""
    merged: list[tuple[float, str]] = []
    for at, what in events:
        if merged and at - merged[-1][0] < CLOSE_EVENTS:
            merged[-1] = (merged[-1][0], f"{merged[-1][1]}, {what}")
        else:
            merged.append((at, what))
    return merged


def plot(
    path: Path,
    times: Sequence[float],
    requests: Mapping[str, Sequence[float]],
    errors: Mapping[str, Sequence[float]],
    events: Sequence[tuple[float, str]],
    title: str,
) -> Path:
    """Traffic share (stacked) and error rate per version against seconds since `times[0]`,
    with the demo's events as dashed lines; written to `path` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    start = times[0]
    versions = sorted(requests, key=version_order)
    totals = [sum(requests[v][i] for v in versions) for i in range(len(times))]
    # From the first point with any request (Prometheus has no rate before two scrapes).
    first = next((i for i, total in enumerate(totals) if total), 0)
    times, totals = times[first:], totals[first:]
    requests = {v: values[first:] for v, values in requests.items()}
    errors = {v: values[first:] for v, values in errors.items()}
    x = [t - start for t in times]
    shares = [
        [100 * requests[v][i] / totals[i] if totals[i] else 0.0 for i in range(len(times))]
        for v in versions
    ]
    figure = Figure(figsize=(10, 6.5), layout="constrained")
    share_axes, error_axes = figure.subplots(2, 1, sharex=True)
    colors = [f"C{i}" for i in range(len(versions))]
    labels = [f"version {v}" for v in versions]
    share_axes.stackplot(x, shares, labels=labels, colors=colors, alpha=0.85)
    share_axes.set_ylabel("share of requests (%)")
    share_axes.set_ylim(0, 100)
    share_axes.legend(loc="lower left", fontsize="small")
    for version, color, label in zip(versions, colors, labels, strict=True):
        rate = [
            100 * errors.get(version, [0.0] * len(times))[i] / requests[version][i]
            if requests[version][i]
            else math.nan
            for i in range(len(times))
        ]
        error_axes.plot(x, rate, color=color, label=label)
    error_axes.set_ylabel("error rate (%)")
    error_axes.set_ylim(-2, 100)
    error_axes.set_xlabel("seconds since live traffic started")
    error_axes.legend(loc="upper left", fontsize="small")
    for at, what in _merged(events):
        for axes in (share_axes, error_axes):
            axes.axvline(at - start, color="grey", linestyle="--", linewidth=0.8)
        share_axes.annotate(
            what,
            (at - start, 100),
            xytext=(2, -2),
            textcoords="offset points",
            rotation=90,
            va="top",
            fontsize="small",
        )
    share_axes.set_xlim(left=0)
    share_axes.set_title(title)
    figure.savefig(path, dpi=100)
    return path
