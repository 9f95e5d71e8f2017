"""Durations as Go writes them (`1h30m`, `250ms`) and the OpenAPI `duration` format."""

from __future__ import annotations

import re
from datetime import timedelta

_GO_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GO_TERM = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")

# strfmt.ParseDuration also takes `3 days`, `2w`... when time.ParseDuration fails.
_OPENAPI_UNITS_NS = {
    **_GO_UNITS_NS,
    **{name: 1 for name in ("nanosecond", "nanoseconds")},
    **{name: 1_000 for name in ("microsecond", "microseconds")},
    **{name: 1_000_000 for name in ("millisecond", "milliseconds")},
    **{name: 1_000_000_000 for name in ("sec", "secs", "second", "seconds")},
    **{name: 60_000_000_000 for name in ("min", "mins", "minute", "minutes")},
    **{name: 3_600_000_000_000 for name in ("hr", "hrs", "hour", "hours")},
    **{name: 86_400_000_000_000 for name in ("d", "day", "days")},
    **{name: 604_800_000_000_000 for name in ("w", "wk", "week", "weeks")},
}
_OPENAPI_TERM = re.compile(r"(\d+)\s*([A-Za-zµ]+)")


def parse_go_duration(text: str) -> timedelta | None:
    """Go's `time.ParseDuration`; None when Go would return an error."""
    body = text
    negative = body.startswith("-")
    if body[:1] in "+-":
        body = body[1:]
    if body == "0":
        return timedelta(0)
    if not body:
        return None
    total_ns = 0.0
    position = 0
    while position < len(body):
        term = _GO_TERM.match(body, position)
        if term is None:
            return None
        whole, fraction, unit = term.groups()
        if (not whole and not fraction) or unit not in _GO_UNITS_NS:
            return None
        number = float(f"{whole or '0'}.{fraction or '0'}")
        total_ns += number * _GO_UNITS_NS[unit]
        position = term.end()
    if total_ns > 2**63 - 1:
        return None
    nanoseconds = -total_ns if negative else total_ns
    return timedelta(microseconds=nanoseconds / 1_000)


def parse_openapi_duration(text: str) -> timedelta | None:
    """The OpenAPI `duration` format (`strfmt.ParseDuration`)."""
    parsed = parse_go_duration(text)
    if parsed is not None:
        return parsed
    terms = _OPENAPI_TERM.findall(text)
    if not terms:
        return None
    total_ns = 0
    for amount, unit in terms:
        factor = _OPENAPI_UNITS_NS.get(unit.lower())
        if factor is None:
            return None
        total_ns += int(amount) * factor
    return timedelta(microseconds=total_ns / 1_000)
