"""Kubernetes field paths (`spec.steps[1].weight`, `spec.nodeSelector[pool]`)."""

from __future__ import annotations


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index(path: str, position: int) -> str:
    return f"{path}[{position}]"


def key(path: str, map_key: str) -> str:
    """A map key as `field.Path.Key` writes it: in brackets, unquoted."""
    return f"{path}[{map_key}]"
