"""What a step returns: the new model, and figures for the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import onnx


@dataclass
class StepResult:
    model: onnx.ModelProto
    details: dict[str, Any] = field(default_factory=dict)
    nothing_to_compress: bool = False
    """True when the model had no op this step can act on; `model` is then unchanged."""
