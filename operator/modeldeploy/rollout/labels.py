"""Labels and annotations the operator puts on its children."""

from __future__ import annotations

PREFIX = "modeldeploy.dev"
NAME = f"{PREFIX}/name"
VERSION = f"{PREFIX}/version"
REVISION = f"{PREFIX}/revision"
COMPRESSION = f"{PREFIX}/compression"
ROLE = f"{PREFIX}/role"
COMPONENT = "app.kubernetes.io/component"
MANAGED_BY = "app.kubernetes.io/managed-by"
DIGEST = f"{PREFIX}/digest"
PROMOTE = f"{PREFIX}/promote"
ABORT = f"{PREFIX}/abort"

STABLE = "stable"
CANARY = "canary"
