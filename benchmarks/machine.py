"""What every benchmark records about the machine it ran on: the load around the run matters
as much as the figures on a shared machine."""

from __future__ import annotations

import os
import platform
import time
from typing import Any


class Machine:
    """Started at the beginning of a run; `describe()` at its end."""

    def __init__(self) -> None:
        self.started = time.time()
        self.load_before = os.getloadavg()

    def log(self, line: str) -> None:
        """A progress line, stamped with the seconds since the start."""
        print(f"[{time.time() - self.started:6.0f}s] {line}", flush=True)

    def describe(self, **extra: Any) -> dict[str, Any]:
        return {
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in self.load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wall_s": round(time.time() - self.started),
            **extra,
        }
