"""Images: the project's own image is the local installation; no other image exists here."""

from __future__ import annotations

import re
import sys
import sysconfig
from functools import cache
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


@cache
def installation_paths() -> tuple[str, ...]:
    """Host folders that make up the local installation standing for the image: the venv, the
    interpreter it runs on and the package's source (an editable install lives outside the
    venv). No volume may hide them, whatever its mountPath (an emptyDir at /tmp with the
    checkout under /tmp): the node keeps them visible at their own paths."""
    candidates = [Path(sys.prefix), Path(sys.base_prefix), *_pth_folders()]
    found: list[str] = []
    for path in sorted({str(p.resolve()) for p in candidates}, key=len):
        if path != "/" and not any(_within(path, outer) for outer in found):
            found.append(path)
    return tuple(found)


def _pth_folders() -> list[Path]:
    """Folders the venv's `.pth` files add to the image's import path (an editable install's
    source: the checkout's `operator/`)."""
    found = []
    for pth in Path(sysconfig.get_paths()["purelib"]).glob("*.pth"):
        for line in pth.read_text(errors="replace").splitlines():
            folder = Path(line.strip())
            if folder.is_absolute() and folder.is_dir():
                found.append(folder)
    return found


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def covered_installation(targets: list[str]) -> list[str]:
    """The installation folders lying at or below one of these mount targets."""
    return [p for p in installation_paths() if any(_within(p, t) for t in targets)]
