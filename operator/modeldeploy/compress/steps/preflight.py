"""Checks of the whole chain against the model, made before any work (fetching the
datasets, timing the original), so that a chain that cannot finish fails at once."""

from __future__ import annotations

import onnx

from modeldeploy.api.v1alpha1.compression import StudentType
from modeldeploy.compress.spec import DistillStep, Step


def check_fine_tuning(steps: list[Step], model: onnx.ModelProto) -> None:
    """Refuse a model with an op that a fine-tuning step (`recover`, the transformer student,
    which train the ONNX graph itself in PyTorch) cannot run; the reason names the op."""
    for index, step in enumerate(steps, start=1):
        if not isinstance(step, DistillStep):
            continue
        if step.recover:
            what = f"step {index} (distill recover)"
        elif step.student is not None and step.student.type == StudentType.TRANSFORMER:
            what = f"step {index} (distill, transformer student)"
        else:
            continue
        try:
            from modeldeploy.compress.steps.torchgraph import check_supported
        except ImportError:
            return  # without PyTorch the distill step itself says which extra to install
        check_supported(model, what)
