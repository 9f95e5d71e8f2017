"""The termination message file, which Kubernetes shows in `kubectl describe pod` and hands
back to the operator in the container's status."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

TERMINATION_LOG_ENV = "MODELDEPLOY_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
HELP = f"termination message file (default: ${TERMINATION_LOG_ENV} or {DEFAULT_TERMINATION_LOG})"

log = logging.getLogger("modeldeploy.compress")


def termination_path(flag: str | None, environ: Mapping[str, str] = os.environ) -> Path:
    return Path(flag or environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG)


def write_termination(path: Path, message: str) -> None:
    try:
        path.write_text(message)
    except OSError as error:
        log.warning("cannot write the termination message to %s: %s", path, error.strerror)
