"""Images: the project's own image is the local installation; no other image exists here."""

from __future__ import annotations

import re
import sys
from pathlib import Path

# The chart's default image, any tag or digest, with or without the Docker Hub prefix.
_PROJECT_IMAGE = re.compile(
    r"^(?:(?:docker\.io|index\.docker\.io)/)?modeldeploy/modeldeploy"
    r"(?::[\w][\w.-]*)?(?:@sha256:[0-9a-f]{64})?$"
)


class ImageNotFoundError(Exception):
    """The image cannot be "pulled": it does not map to anything installed locally."""


def entrypoint(image: str) -> list[str]:
    """The image's ENTRYPOINT as a local command; ImageNotFoundError for any other image."""
    if not _PROJECT_IMAGE.match(image or ""):
        raise ImageNotFoundError(
            f'failed to pull and unpack image "{image}": the sandbox node has no registry; '
            "only modeldeploy/modeldeploy (any tag) is available, as the local installation"
        )
    return [str(Path(sys.executable).parent / "modeldeploy")]


def command_line(image: str, command: list[str] | None, args: list[str] | None) -> list[str]:
    """Kubernetes rules: `command` replaces ENTRYPOINT, `args` replaces CMD (empty here)."""
    base = entrypoint(image)
    if command:
        return [*command, *(args or [])]
    return [*base, *(args or [])]


def image_path_dirs() -> list[str]:
    """PATH inside the image: the installation's scripts first, then the system's."""
    return [
        str(Path(sys.executable).parent),
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
