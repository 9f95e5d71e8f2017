"""An ONNX graph run by PyTorch with its float initializers as trainable parameters.

Used to fine-tune a (pruned) model in place: train the module, then write the weights back
into the ONNX initializers. Covers the ops of MLPs and plain CNNs; any other op is refused
with its name.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import torch
import torch.nn.functional as F  # noqa: N812 (the usual name)
from onnx import numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.errors import CompressError

Tensors = list[torch.Tensor]
Op = Callable[[Tensors, onnx.NodeProto], torch.Tensor]


def _gemm(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    a, b = args[0], args[1]
    if graph.attribute(node, "transA", 0):
        a = a.t()
    if graph.attribute(node, "transB", 0):
        b = b.t()
    out = graph.attribute(node, "alpha", 1.0) * (a @ b)
    if len(args) > 2:
        out = out + graph.attribute(node, "beta", 1.0) * args[2]
    return out


def _conv(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    weight = args[1]
    if weight.dim() != 4:
        raise CompressError(f"fine-tuning supports 2-D Conv only ({node.name})")
    pads = _ints(node, "pads", [0, 0, 0, 0])
    if pads[:2] != pads[2:]:
        raise CompressError(f"fine-tuning supports symmetric Conv padding only ({node.name})")
    return F.conv2d(
        args[0],
        weight,
        args[2] if len(args) > 2 else None,
        stride=_ints(node, "strides", [1, 1]),
        padding=pads[:2],
        dilation=_ints(node, "dilations", [1, 1]),
        groups=int(graph.attribute(node, "group", 1)),
    )


def _ints(node: onnx.NodeProto, name: str, default: list[int]) -> list[int]:
    for attr in node.attribute:
        if attr.name == name:
            return list(attr.ints)
    return default


def _flatten(args: Tensors, node: onnx.NodeProto) -> torch.Tensor:
    return args[0].flatten(start_dim=int(graph.attribute(node, "axis", 1)))


OPS: dict[str, Op] = {
    "MatMul": lambda args, _: args[0] @ args[1],
    "Gemm": _gemm,
    "Conv": _conv,
    "Add": lambda args, _: args[0] + args[1],
    "Sub": lambda args, _: args[0] - args[1],
    "Mul": lambda args, _: args[0] * args[1],
    "Div": lambda args, _: args[0] / args[1],
    "Relu": lambda args, _: torch.relu(args[0]),
    "LeakyRelu": lambda args, node: F.leaky_relu(args[0], graph.attribute(node, "alpha", 0.01)),
    "Sigmoid": lambda args, _: torch.sigmoid(args[0]),
    "Tanh": lambda args, _: torch.tanh(args[0]),
    "Softmax": lambda args, node: torch.softmax(args[0], int(graph.attribute(node, "axis", -1))),
    "Identity": lambda args, _: args[0],
    "Dropout": lambda args, _: args[0],
    "Flatten": _flatten,
}

# Weights with at least this share of zeros are treated as pruned: the zeros stay zero.
PRUNED_ZERO_SHARE = 0.1


class OnnxModule(torch.nn.Module):
    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        unsupported = sorted({node.op_type for node in model.graph.node} - OPS.keys())
        if unsupported:
            raise CompressError(
                f"fine-tuning (distill recover) supports ops {', '.join(sorted(OPS))}; "
                f"the model also has {', '.join(unsupported)}"
            )
        self.nodes = list(model.graph.node)
        constants = {tensor.name for tensor in model.graph.initializer}
        self.input_names = [v.name for v in model.graph.input if v.name not in constants]
        self.output_name = model.graph.output[0].name
        self.weights = torch.nn.ParameterDict()
        self.masks: dict[str, torch.Tensor] = {}
        self.names: dict[str, str] = {}  # ONNX name -> parameter key (keys cannot hold dots)
        for index, tensor in enumerate(model.graph.initializer):
            array = numpy_helper.to_array(tensor)
            if array.dtype != np.float32:
                raise CompressError(f"fine-tuning needs float32 weights; {tensor.name} is not")
            key = f"w{index}"
            self.names[tensor.name] = key
            self.weights[key] = torch.nn.Parameter(torch.from_numpy(array.copy()))
            if array.ndim >= 2 and (array == 0).mean() >= PRUNED_ZERO_SHARE:
                self.masks[key] = torch.from_numpy(array != 0)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = dict(zip(self.input_names, inputs, strict=False))
        for name, key in self.names.items():
            values[name] = self.weights[key]
        for node in self.nodes:
            args = [values[name] for name in node.input if name]
            values[node.output[0]] = OPS[node.op_type](args, node)
        return values[self.output_name]

    def keep_pruned_zeros(self) -> None:
        with torch.no_grad():
            for key, mask in self.masks.items():
                self.weights[key].mul_(mask.to(self.weights[key].device))

    def write_back(self, model: onnx.ModelProto) -> onnx.ModelProto:
        updated = onnx.ModelProto()
        updated.CopyFrom(model)
        for name, key in self.names.items():
            graph.set_initializer(updated, name, self.weights[key].detach().cpu().numpy())
        return updated
