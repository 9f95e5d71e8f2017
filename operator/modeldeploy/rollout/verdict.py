"""The analysis verdict on a canary step: one more input of the planner."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""
    """What was measured against what limit, e.g. `error-rate 0.21 > 0.01`."""
    paused: bool = False
    """Inconclusive for `inconclusiveLimit` intervals: hold with Progressing=False."""
