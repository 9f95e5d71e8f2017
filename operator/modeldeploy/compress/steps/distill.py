"""Knowledge distillation with PyTorch (the `distill` extra), on the GPU when there is one.

- student: train a smaller MLP on the teacher's outputs (soft targets at a temperature, plus
  the hard labels when the dataset has them) and export it to ONNX with the teacher's
  input and output names.
- recover: fine-tune the current (pruned) model itself against the original as teacher;
  pruned weights stay zero.
"""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
import onnx
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)

from modeldeploy.compress.dataset import Dataset
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.spec import Student, StudentType
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
    if teacher_outputs.ndim != 2:
        raise CompressError(
            "distill needs a model with [batch, classes] outputs; this one gives rank "
            f"{teacher_outputs.ndim}"
        )
    if len(data.feeds) != 1:
        raise CompressError("distill supports models with a single input")
    input_name, inputs = next(iter(data.feeds.items()))
    if inputs.dtype != np.float32:
        raise CompressError(f"distill needs a float32 input; {input_name} is {inputs.dtype}")
    torch.manual_seed(SEED)
    target = device()
    network: torch.nn.Module
    if student is None:
        network = OnnxModule(model)
    elif student.type == StudentType.MLP:
        features = int(np.prod(inputs.shape[1:]))
        network = _mlp(features, student.hidden_sizes or [], teacher_outputs.shape[1])
    else:
        raise CompressError(
            "distill student type transformer is not supported yet; use an mlp student"
        )
    network.to(target)
    loss = _train(network, inputs, teacher_outputs, data.labels, epochs, temperature, target)
    details = {
        "device": target.type,
        "epochs": epochs,
        "temperature": temperature,
        "finalLoss": loss,
        "trainingSamples": len(inputs),
    }
    network.to("cpu").eval()
    if student is None:
        assert isinstance(network, OnnxModule)
        return StepResult(network.write_back(model), {"recover": True, **details})
    exported = _export(network, model, inputs.shape[1:])
    return StepResult(exported, {"student": student.model_dump(by_alias=True), **details})


def _mlp(features: int, hidden: list[int], classes: int) -> torch.nn.Module:
    layers: list[torch.nn.Module] = [torch.nn.Flatten()]
    width = features
    for size in hidden:
        layers += [torch.nn.Linear(width, size), torch.nn.ReLU()]
        width = size
    layers.append(torch.nn.Linear(width, classes))
    return torch.nn.Sequential(*layers)


def _train(
    network: torch.nn.Module,
    inputs: np.ndarray,
    teacher_outputs: np.ndarray,
    labels: np.ndarray | None,
    epochs: int,
    temperature: float,
    target: torch.device,
) -> float:
    """Minimise KL(student || teacher) at `temperature` (+ cross-entropy on labels)."""
    features = torch.from_numpy(inputs).to(target)
    soft = torch.softmax(torch.from_numpy(teacher_outputs).to(target) / temperature, dim=1)
    hard = None if labels is None else torch.from_numpy(labels).to(target)
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(SEED)
    network.train()
    last = 0.0
    for epoch in range(epochs):
        order = torch.randperm(len(features), generator=generator).to(target)
        total = 0.0
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            logits = network(features[batch])
            loss = F.kl_div(
                F.log_softmax(logits / temperature, dim=1), soft[batch], reduction="batchmean"
            ) * (temperature**2)
            if hard is not None:
                loss = loss + F.cross_entropy(logits, hard[batch])
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if isinstance(network, OnnxModule):
                network.keep_pruned_zeros()
            total += float(loss.detach()) * len(batch)
        last = total / len(features)
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
