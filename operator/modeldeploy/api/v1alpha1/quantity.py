"""Kubernetes-style durations and resource maps shared by several parts of the spec."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, StringConstraints

# Go's time.ParseDuration subset users write in manifests: 30s, 5m, 1h30m, 500ms.
DURATION_PATTERN = r"^([0-9]+(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[
    str,
    StringConstraints(pattern=DURATION_PATTERN, max_length=32),
    Field(examples=["30s", "5m", "1h30m"]),
]

# A resource quantity: an integer or a string such as "500m", "2Gi".
Quantity = Annotated[int | str, Field(examples=["500m", "2Gi", 1])]
ResourceList = dict[str, Quantity]


def duration_seconds(duration: str) -> float:
    """Seconds in a Duration string (already validated against DURATION_PATTERN)."""
    return sum(int(value) * _UNIT_SECONDS[unit] for value, unit in _DURATION_PART.findall(duration))
