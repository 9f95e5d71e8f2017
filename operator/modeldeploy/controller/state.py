"""The one Operator of this process, created at kopf startup (settings.py)."""

from __future__ import annotations

from modeldeploy.controller.operator import Operator
from modeldeploy.reconcilers.options import Options

options = Options()
"""Set by `modeldeploy operator` from its flags before kopf starts."""
_running: Operator | None = None


def set_running(operator: Operator | None) -> None:
    global _running
    _running = operator


def running() -> Operator:
    if _running is None:
        raise RuntimeError("the operator has not started")
    return _running
