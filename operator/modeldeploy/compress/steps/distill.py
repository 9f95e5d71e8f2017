"""Knowledge distillation with PyTorch (the `distill` extra), on the GPU when there is one.

- mlp student: train a smaller MLP on the teacher's outputs (soft targets at a temperature,
  plus the hard labels when the dataset has them) and export it to ONNX with the teacher's
  input and output names.
- transformer student: the teacher's encoder cut down to `numLayers` layers (in the ONNX
  graph), trained to reproduce the teacher's token embeddings.
- recover: fine-tune the current (pruned) model itself against the original as teacher;
  pruned weights stay zero.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)

from modeldeploy.api.v1alpha1.compression import Student, StudentType
from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.evaluate import ATTENTION_MASK
from modeldeploy.compress.steps.layers import drop_layers
from modeldeploy.compress.steps.result import StepResult
from modeldeploy.compress.steps.torchgraph import OnnxModule

BATCH = 64
LEARNING_RATE = 1e-3
SEED = 0

log = logging.getLogger(__name__)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def distill(
    model: onnx.ModelProto,
    teacher_outputs: np.ndarray,
    data: Dataset,
    *,
    student: Student | None,
    epochs: int,
    temperature: float,
) -> StepResult:
    """Train `student` (or, when None, `model` itself) to match `teacher_outputs` on `data`."""
    torch.manual_seed(SEED)
    target = device()
    details: dict[str, Any] = {
        "device": target.type,
        "epochs": epochs,
        "trainingSamples": len(data),
    }
    network: torch.nn.Module
    if student is None:
        details["recover"] = True
        network = OnnxModule(model, "distill recover")
    elif student.type == StudentType.MLP:
        details["student"] = student.model_dump(mode="json", by_alias=True, exclude_none=True)
        network = _mlp_student(data, teacher_outputs, student.hidden_sizes or [])
    else:
        details["student"] = student.model_dump(mode="json", by_alias=True, exclude_none=True)
        model, kept, total = drop_layers(model, student.num_layers or 1)
        details["keptLayers"], details["teacherLayers"] = kept, total
        network = OnnxModule(model, "the transformer student")
    network.to(target)
    details["finalLoss"] = _train(network, data, teacher_outputs, epochs, temperature, target)
    network.to("cpu").eval()
    if isinstance(network, OnnxModule):
        return StepResult(network.write_back(model), details)
    features = next(iter(data.feeds.values())).shape[1:]
    return StepResult(_export(network, model, features), details)


def _mlp_student(data: Dataset, teacher_outputs: np.ndarray, hidden: list[int]) -> torch.nn.Module:
    if teacher_outputs.ndim != 2 or len(data.feeds) != 1:
        raise CompressError(
            "an mlp student needs a model with one input and [batch, classes] outputs; use a "
            "transformer student for this model"
        )
    name, inputs = next(iter(data.feeds.items()))
    if inputs.dtype != np.float32:
        raise CompressError(f"an mlp student needs a float32 input; {name} is {inputs.dtype}")
    layers: list[torch.nn.Module] = [torch.nn.Flatten()]
    width = int(np.prod(inputs.shape[1:]))
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers.append(torch.nn.Linear(width, teacher_outputs.shape[1]))
    return torch.nn.Sequential(*layers)


def _loss(
    outputs: torch.Tensor,
    soft: torch.Tensor,
    labels: torch.Tensor | None,
    mask: torch.Tensor | None,
    temperature: float,
) -> torch.Tensor:
    """Class scores: KL to the teacher's softened distribution (+ cross-entropy on labels).
    Embeddings: mean squared error plus (1 - cosine) of the mask-mean-pooled vectors."""
    if outputs.dim() == 2:
        loss = F.kl_div(
            F.log_softmax(outputs / temperature, dim=1), soft, reduction="batchmean"
        ) * (temperature**2)
        return loss if labels is None else loss + F.cross_entropy(outputs, labels)
    weights = (
        torch.ones(outputs.shape[:2], device=outputs.device) if mask is None else mask.float()
    ).unsqueeze(-1)
    student = (outputs * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    teacher = (soft * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    cosine = F.cosine_similarity(student, teacher, dim=-1).mean()
    return F.mse_loss(outputs * weights, soft * weights) + (1 - cosine)


def _train(
    network: torch.nn.Module,
    data: Dataset,
    teacher_outputs: np.ndarray,
    epochs: int,
    temperature: float,
    target: torch.device,
) -> float:
    feeds = [torch.from_numpy(array).to(target) for array in data.feeds.values()]
    mask = data.feeds.get(ATTENTION_MASK)
    mask_tensor = None if mask is None else torch.from_numpy(mask).to(target)
    teacher = torch.from_numpy(teacher_outputs).to(target)
    soft = torch.softmax(teacher / temperature, dim=1) if teacher.dim() == 2 else teacher
    hard = None if data.labels is None else torch.from_numpy(data.labels).to(target)
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(SEED)
    network.train()
    last = 0.0
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator).to(target)
        total = 0.0
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            outputs = network(*(feed[batch] for feed in feeds))
            loss = _loss(
                outputs,
                soft[batch],
                None if hard is None else hard[batch],
                None if mask_tensor is None else mask_tensor[batch],
                temperature,
            )
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if isinstance(network, OnnxModule):
                network.keep_pruned_zeros()
            total += float(loss.detach()) * len(batch)
        last = total / len(data)
        log.info("distill epoch %d/%d: loss %.4f", epoch + 1, epochs, last)
    return last


def _export(
    network: torch.nn.Module, teacher: onnx.ModelProto, shape: tuple[int, ...]
) -> onnx.ModelProto:
    """The student as ONNX, with the teacher's input/output names and a dynamic batch."""
    input_name = next(
        value.name
        for value in teacher.graph.input
        if value.name not in {tensor.name for tensor in teacher.graph.initializer}
    )
    output_name = teacher.graph.output[0].name
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter
        torch.onnx.export(
            network,
            (torch.zeros(1, *shape),),
            buffer,  # type: ignore[arg-type]  # file objects work and are documented
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())
