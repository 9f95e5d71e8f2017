"""Operator-wide kopf settings, set once at startup."""

from __future__ import annotations

from typing import Any

import kopf


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # Events for warnings and errors only: status conditions carry the normal story.
    settings.posting.level = 30
    # Re-list periodically even if the API server keeps a watch open forever.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.error_backoffs = [1, 2, 5, 10, 30]
