"""Magnitude pruning of the weights of MatMul, Gemm and Conv.

Unstructured: the smallest-magnitude weights of each layer are set to zero.
Structured: whole output channels (MatMul/Gemm columns, Conv filters) with the smallest L2
norm are removed from the graph, together with their bias entries and the matching inputs
of the next layer, so the model gets smaller and faster. A layer qualifies only when its
output reaches exactly one next MatMul/Gemm/Conv through a bias Add and element-wise ops;
the graph's output layers keep their width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.steps.result import StepResult

# Ops that act on each channel on its own, so a channel can be removed across them.
CHANNELWISE_OPS = frozenset(
    {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu", "HardSigmoid",
     "HardSwish", "Softplus", "Clip", "Identity", "MaxPool", "AveragePool", "Dropout"}
)  # fmt: skip


def prune(model: onnx.ModelProto, sparsity: float, structured: bool = False) -> StepResult:
    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    if structured:
        return _prune_channels(pruned, sparsity)
    return _prune_weights(pruned, sparsity)


def _prune_weights(model: onnx.ModelProto, sparsity: float) -> StepResult:
    nodes = graph.weighted_nodes(model)
    if not nodes:
        return StepResult(model, {"reason": "no MatMul/Gemm/Conv with constant weights"}, True)
    weights = graph.initializers(model)
    zeroed = total = 0
    for name in dict.fromkeys(node.input[1] for node in nodes):
        array = numpy_helper.to_array(weights[name]).copy()
        count = round(array.size * sparsity)
        if count:
            threshold_index = np.argpartition(np.abs(array).ravel(), count - 1)[:count]
            array.ravel()[threshold_index] = 0.0
        graph.set_initializer(model, name, array)
        zeroed += int(np.count_nonzero(array == 0))
        total += array.size
    return StepResult(
        model, {"layers": len(nodes), "weightSparsity": zeroed / total, "structured": False}
    )


@dataclass
class _ChannelPair:
    producer: onnx.NodeProto
    bias: str | None
    """Initializer added to the producer's output, one entry per channel."""
    consumer: onnx.NodeProto


def _output_axis(node: onnx.NodeProto) -> int:
    """Axis of the producer's weight that indexes its output channels."""
    if node.op_type == "Gemm":
        return 0 if graph.attribute(node, "transB", 0) else 1
    return 0 if node.op_type == "Conv" else 1


def _input_axis(node: onnx.NodeProto) -> int:
    """Axis of the consumer's weight that indexes its input channels."""
    if node.op_type == "Gemm":
        return 1 if graph.attribute(node, "transB", 0) else 0
    return 1 if node.op_type == "Conv" else 0


def _channel_count(weight: np.ndarray, node: onnx.NodeProto) -> int:
    return int(weight.shape[_output_axis(node)])


def _find_pairs(model: onnx.ModelProto) -> list[_ChannelPair]:
    weights = graph.initializers(model)
    readers = graph.consumers(model)
    outputs = {value.name for value in model.graph.output}
    weighted = {id(node) for node in graph.weighted_nodes(model)}
    pairs = []
    for producer in graph.weighted_nodes(model):
        if producer.op_type == "Gemm" and graph.attribute(producer, "transA", 0):
            continue
        if producer.op_type == "Conv" and graph.attribute(producer, "group", 1) != 1:
            continue
        weight = numpy_helper.to_array(weights[producer.input[1]])
        if producer.op_type == "MatMul" and weight.ndim != 2:
            continue
        channels = _channel_count(weight, producer)
        bias = producer.input[2] if len(producer.input) > 2 and producer.input[2] else None
        tensor = producer.output[0]
        consumer = None
        while tensor not in outputs:
            next_nodes = readers.get(tensor, [])
            if len(next_nodes) != 1:
                break
            node = next_nodes[0]
            if id(node) in weighted and node.input[0] == tensor:
                consumer = node
                break
            if node.op_type == "Add" and bias is None and producer.op_type != "Conv":
                other = node.input[1] if node.input[0] == tensor else node.input[0]
                constant = weights.get(other)
                if constant is None or list(constant.dims) != [channels]:
                    break
                bias = other
            elif node.op_type not in CHANNELWISE_OPS:
                break
            tensor = node.output[0]
        if consumer is None or (consumer.op_type == "Conv") != (producer.op_type == "Conv"):
            continue
        if consumer.op_type == "Conv" and graph.attribute(consumer, "group", 1) != 1:
            continue
        shared = [name for name in (producer.input[1], bias) if name and len(readers[name]) > 1]
        if not shared:
            pairs.append(_ChannelPair(producer, bias, consumer))
    return pairs


def _prune_channels(model: onnx.ModelProto, sparsity: float) -> StepResult:
    pairs = _find_pairs(model)
    if not pairs:
        return StepResult(
            model,
            {"reason": "no layer whose output channels feed exactly one next weighted layer"},
            True,
        )
    weights = graph.initializers(model)
    before = graph.parameters(model)
    layers = []
    for pair in pairs:
        weight = numpy_helper.to_array(weights[pair.producer.input[1]])
        axis = _output_axis(pair.producer)
        channels = weight.shape[axis]
        keep_count = max(1, round(channels * (1 - sparsity)))
        norms = np.linalg.norm(np.moveaxis(weight, axis, 0).reshape(channels, -1), axis=1)
        keep = np.sort(np.argsort(-norms, kind="stable")[:keep_count])
        graph.set_initializer(model, pair.producer.input[1], np.take(weight, keep, axis=axis))
        if pair.bias is not None:
            bias = numpy_helper.to_array(weights[pair.bias])
            graph.set_initializer(model, pair.bias, bias[keep])
        next_weight = numpy_helper.to_array(weights[pair.consumer.input[1]])
        graph.set_initializer(
            model,
            pair.consumer.input[1],
            np.take(next_weight, keep, axis=_input_axis(pair.consumer)),
        )
        layers.append({"node": pair.producer.name, "channels": channels, "kept": keep_count})
    # Intermediate shapes recorded at export time are now wrong; ORT infers them again.
    del model.graph.value_info[:]
    return StepResult(
        model,
        {
            "structured": True,
            "layers": layers,
            "parametersBefore": before,
            "parametersAfter": graph.parameters(model),
        },
    )
