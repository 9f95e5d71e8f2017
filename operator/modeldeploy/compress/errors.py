"""The one exception the job turns into a failed run with a one-line reason."""

from __future__ import annotations


class CompressError(Exception):
    """A reason the job cannot go on; its message is shown to the user as is (one line)."""

    def __init__(self, reason: str) -> None:
        super().__init__(" ".join(reason.split()))
