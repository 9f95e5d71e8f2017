"""Server settings from command-line flags, each with an environment fallback.

The operator configures serving pods through env (`MODELDEPLOY_*`); a flag wins over env.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from modeldeploy.serve.httpserver import HttpLimits
from modeldeploy.serve.model import GRAPH_OPTIMIZATION_LEVELS

ENV_PREFIX = "MODELDEPLOY_"
_SHA256 = re.compile(r"^(sha256:)?[0-9a-fA-F]{64}$")


@dataclass(frozen=True)
class ServeConfig:
    model_path: Path | None = None
    model_store: Path | None = None
    model_digest: str | None = None
    model_sha256: str | None = None
    model_name: str = "model"
    model_version: str = "1"
    host: str = "0.0.0.0"
    port: int = 8080
    threads: int = 1
    max_batch_size: int = 32
    max_delay_ms: float = 5.0
    max_body_bytes: int = HttpLimits.max_body_bytes
    max_header_bytes: int = HttpLimits.max_header_bytes
    header_timeout_s: float = HttpLimits.header_timeout_s
    max_concurrency: int = 256
    quiet_period_s: float = 5.0
    grace_period_s: float = 25.0
    providers: tuple[str, ...] = ("auto",)
    graph_optimization: str = "all"
    log_level: str = "INFO"

    @property
    def model_file(self) -> Path:
        """The model to load: the path, or `<store>/<digest hex>/model.onnx`."""
        if self.model_path is not None:
            return self.model_path
        assert self.model_store is not None
        assert self.model_digest is not None
        return self.model_store / self.model_digest.removeprefix("sha256:").lower() / "model.onnx"

    @property
    def http_limits(self) -> HttpLimits:
        return HttpLimits(self.max_body_bytes, self.max_header_bytes, self.header_timeout_s)

    @property
    def expected_sha256(self) -> str | None:
        return self.model_sha256 or self.model_digest


def _bounded(
    convert: Callable[[str], Any], low: float, high: float = math.inf
) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = convert(text)
        if not low <= value <= high:
            bounds = f"at least {low}" if high == math.inf else f"between {low} and {high}"
            raise ValueError(f"must be {bounds}")
        return value

    return parse


_positive_int = _bounded(int, 1)
_non_negative = _bounded(float, 0)


def _sha256(text: str) -> str:
    if not _SHA256.match(text):
        raise ValueError("must be 64 hex digits, optionally prefixed with 'sha256:'")
    return text


def _providers(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise ValueError("must name at least one execution provider, or 'auto'")
    return names


def _choice(options: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return text

    return parse


# field -> (parser, help). The flag is --field-with-dashes, the env MODELDEPLOY_FIELD.
_SETTINGS: dict[str, tuple[Callable[[str], Any], str]] = {
    "model_path": (Path, "ONNX model file to serve"),
    "model_store": (Path, "artifact store folder holding <sha256>/model.onnx"),
    "model_digest": (_sha256, "sha256 of the artifact to serve from the store (verified)"),
    "model_sha256": (_sha256, "expected sha256 of --model-path (verified before loading)"),
    "model_name": (str, "name clients use in the URL"),
    "model_version": (str, "version label (metrics, metadata)"),
    "host": (str, "address to bind (default: $POD_IP if set, else 0.0.0.0)"),
    "port": (_bounded(int, 0, 65535), "TCP port"),
    "threads": (_positive_int, "ONNX Runtime intra-op threads"),
    "max_batch_size": (_positive_int, "most rows merged into one inference"),
    "max_delay_ms": (_non_negative, "longest a request waits for others to batch with"),
    "max_body_bytes": (_positive_int, "largest request body accepted (413 above)"),
    "max_header_bytes": (_positive_int, "largest request line + headers accepted (431 above)"),
    "header_timeout_s": (
        _bounded(float, 0.01),
        "longest a request head may take to arrive, however slowly it trickles (408)",
    ),
    "max_concurrency": (_positive_int, "inference requests in flight before 503"),
    "quiet_period_s": (
        _non_negative,
        "on SIGTERM, keep answering (not ready) until no request has come for this long",
    ),
    "grace_period_s": (_non_negative, "on SIGTERM, the longest the shutdown may take"),
    "providers": (_providers, "comma-separated ONNX Runtime execution providers, or 'auto'"),
    "graph_optimization": (
        _choice(list(GRAPH_OPTIMIZATION_LEVELS)),
        "ONNX Runtime graph optimization level",
    ),
    "log_level": (_choice(["DEBUG", "INFO", "WARNING", "ERROR"]), "logging level"),
}


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the flag or variable."""


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="modeldeploy serve",
        description="Serve one ONNX model over KServe v1 and Open Inference Protocol v2.",
        epilog="Every flag can also be set by env: --max-batch-size is "
        "MODELDEPLOY_MAX_BATCH_SIZE, and so on. Fault injection (tests only): "
        "MODELDEPLOY_FAULT_ERROR_RATE, MODELDEPLOY_FAULT_LATENCY_MS.",
    )
    for field, (_, help_text) in _SETTINGS.items():
        result.add_argument(_flag(field), dest=field, metavar=field.upper(), help=help_text)
    return result


def load(argv: Sequence[str], env: Mapping[str, str]) -> ServeConfig:
    """Parse flags (strings) over env over defaults; ConfigError names what is wrong."""
    args = vars(parser().parse_args(list(argv)))
    values: dict[str, Any] = {}
    for field in fields(ServeConfig):
        convert, _ = _SETTINGS[field.name]
        raw, source = args.get(field.name), _flag(field.name)
        if raw is None and env.get(env_name(field.name)):
            raw, source = env[env_name(field.name)], env_name(field.name)
        if raw is None:
            continue
        try:
            values[field.name] = convert(raw)
        except ValueError as err:
            raise ConfigError(f"{source}={raw!r}: {err}") from None
    if "host" not in values and env.get("POD_IP"):
        values["host"] = env["POD_IP"]
    config = ServeConfig(**values)
    if (config.model_path is None) == (config.model_digest is None):
        raise ConfigError(
            "set exactly one of --model-path (MODELDEPLOY_MODEL_PATH) or --model-digest "
            "(MODELDEPLOY_MODEL_DIGEST, with --model-store)"
        )
    if config.model_digest is not None and config.model_store is None:
        raise ConfigError("--model-digest needs --model-store (MODELDEPLOY_MODEL_STORE)")
    if config.quiet_period_s and config.quiet_period_s * 2 > config.grace_period_s:
        raise ConfigError(
            f"--quiet-period-s (MODELDEPLOY_QUIET_PERIOD_S) {config.quiet_period_s:g} must be at "
            f"most half of --grace-period-s (MODELDEPLOY_GRACE_PERIOD_S) {config.grace_period_s:g}:"
            " the requests taken while quiescing need a quiet period to finish"
        )
    return config
