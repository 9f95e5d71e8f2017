"""Cut a transformer's encoder down to fewer layers, in the ONNX graph itself.

Layers are found by node name, as exporters write them (`/model/encoder/layer.3/...`,
`.../layers.3/...`, `.../h.3/...`, `.../block.3/...`). A dropped layer's output is replaced by
its input, so the residual stream skips it; the kept layers are spread evenly and always
include the last one (like DistilBERT's every-other-layer initialisation).
"""

from __future__ import annotations

import itertools
import re

import onnx

from modeldeploy.compress import graph
from modeldeploy.compress.errors import CompressError

LAYER_NAME = re.compile(r"^(?P<stack>.*?[/.])(?:layer|layers|h|block|blocks)[._](?P<index>\d+)[/.]")


def encoder_layers(model: onnx.ModelProto) -> dict[int, list[onnx.NodeProto]]:
    """Layer index -> its nodes, for the one stack of numbered layers in the graph."""
    stacks: dict[str, dict[int, list[onnx.NodeProto]]] = {}
    for node in model.graph.node:
        match = LAYER_NAME.match(node.name)
        if match:
            layers = stacks.setdefault(match["stack"], {})
            layers.setdefault(int(match["index"]), []).append(node)
    if not stacks:
        raise CompressError(
            "transformer student: no numbered encoder layers in the graph's node names "
            "(expected names like /encoder/layer.0/...)"
        )
    return max(stacks.values(), key=len)


def kept_layers(total: int, keep: int) -> list[int]:
    """`keep` of `total` layer indices, evenly spread, ending with the last layer."""
    return [(index + 1) * total // keep - 1 for index in range(keep)]


def _suffix(node: onnx.NodeProto) -> str:
    return LAYER_NAME.sub("", node.name, count=1)


def _layer_input(layer: list[onnx.NodeProto], next_layer: list[onnx.NodeProto], hidden: str) -> str:
    """The tensor `layer` reads where `next_layer` reads `hidden` (the residual stream)."""
    by_suffix = {_suffix(node): node for node in layer}
    for node in next_layer:
        if hidden in node.input:
            twin = by_suffix.get(_suffix(node))
            if twin is not None:
                return str(twin.input[list(node.input).index(hidden)])
    raise CompressError("transformer student: cannot find where the first layer reads its input")


def _layer_output(
    layer: list[onnx.NodeProto], readers: dict[str, list[onnx.NodeProto]], outputs: set[str]
) -> str:
    inside = {id(node) for node in layer}
    leaving = [
        name
        for node in layer
        for name in node.output
        if name in outputs or any(id(reader) not in inside for reader in readers.get(name, []))
    ]
    if len(leaving) != 1:
        raise CompressError(
            f"transformer student: a layer must hand on exactly one tensor, found {len(leaving)}"
        )
    return str(leaving[0])


def drop_layers(model: onnx.ModelProto, keep: int) -> tuple[onnx.ModelProto, list[int], int]:
    """The model with only `keep` encoder layers; also the kept indices and the total."""
    layers = encoder_layers(model)
    order = sorted(layers)
    if keep >= len(order):
        raise CompressError(
            f"transformer student: numLayers {keep} must be fewer than the teacher's "
            f"{len(order)} layers"
        )
    readers = graph.consumers(model)
    graph_outputs = {value.name for value in model.graph.output}
    outputs = {index: _layer_output(layers[index], readers, graph_outputs) for index in order}
    inputs = {index: outputs[previous] for previous, index in itertools.pairwise(order)}
    inputs[order[0]] = _layer_input(layers[order[0]], layers[order[1]], outputs[order[0]])
    kept = [order[i] for i in kept_layers(len(order), keep)]
    replaced: dict[str, str] = {}
    for index in order:
        if index not in kept:
            source = inputs[index]
            replaced[outputs[index]] = replaced.get(source, source)
    dropped = {id(node) for index in order if index not in kept for node in layers[index]}
    student = onnx.ModelProto()
    student.CopyFrom(model)
    nodes = []
    for node in model.graph.node:
        if id(node) in dropped:
            continue
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        for position, name in enumerate(copy.input):
            copy.input[position] = replaced.get(name, name)
        nodes.append(copy)
    del student.graph.node[:]
    student.graph.node.extend(nodes)
    for value in student.graph.output:
        if value.name in replaced:  # the graph output itself was a dropped layer's output
            student.graph.node.append(
                onnx.helper.make_node("Identity", [replaced[value.name]], [value.name])
            )
    remove_unused(student)
    return student, kept, len(order)


def remove_unused(model: onnx.ModelProto) -> None:
    """Drop nodes whose outputs nobody reads, then initializers nobody reads."""
    needed = {value.name for value in model.graph.output}
    kept_nodes: list[onnx.NodeProto] = []
    for node in reversed(graph.topological_order(model)):
        if any(name in needed for name in node.output):
            kept_nodes.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept_nodes))
    unused = [tensor for tensor in model.graph.initializer if tensor.name not in needed]
    for tensor in unused:
        model.graph.initializer.remove(tensor)
    del model.graph.value_info[:]
