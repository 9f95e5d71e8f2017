"""Channel groups for structured pruning, found on the ONNX graph itself.

A MatMul/Gemm/Conv output starts a *group* of channels. Walking the graph in order, each
tensor that carries channels gets a *channel map*: the groups whose channels it holds, in
order (a Concat along the channel axis joins maps, so a consumer after it is cut at the right
offsets). Channel-wise ops (activations, pooling, Dropout, BatchNormalization, Add/Mul of a
per-channel constant) pass the map on and record the constants to cut with it; an Add, Sub,
Mul or Div of two mapped tensors (a residual connection) merges their groups, which are then
pruned together with the same channel indices. The next MatMul/Gemm/Conv records its weight's
input axis to cut. Any other use of a mapped tensor (an op not listed, a reshape, a graph
output, an initializer read twice) blocks its groups: they keep every channel. This is the
dependency graph of torch-pruning (Fang et al., "DepGraph", CVPR 2023), built on ONNX so that
the step needs neither torch nor a re-export (see docs/compress.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from modeldeploy.compress import graph

# Ops that act on each channel on its own (first input; any other input a constant scalar).
CHANNELWISE_OPS = frozenset(
    {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu", "HardSigmoid",
     "HardSwish", "Softplus", "Clip", "Identity", "MaxPool", "AveragePool", "Dropout",
     "Neg", "Abs", "Erf", "Exp", "Cast"}
)  # fmt: skip
GLOBAL_POOLS = frozenset({"GlobalAveragePool", "GlobalMaxPool"})
# Conv channels are kept in multiples of this (when the layer has a multiple of it): ONNX
# Runtime's blocked NCHWc convolutions run other counts much slower. Measured on the digits
# CNN (32 channels, 2 AVX2 cores): 16 kept 1.5x faster than the original, 24 kept 0.9x,
# 22 kept 0.6x (slower than the unpruned model).
CONV_CHANNEL_MULTIPLE = 8
ELEMENTWISE_BINARY = frozenset({"Add", "Sub", "Mul", "Div"})


@dataclass(frozen=True)
class ChannelMap:
    groups: tuple[int, ...]
    axis: int
    """The channel axis, counted from the end: -1 for [batch, features], -3 for NCHW."""
    rank: int | None
    spatial_one: bool = False
    """After a global pooling: every spatial dim is 1, so a Flatten keeps the channels."""


@dataclass(frozen=True)
class Cut:
    """An initializer indexed by channels of `groups` (in order) along `axis`."""

    initializer: str
    axis: int
    groups: tuple[int, ...]


@dataclass
class ChannelGroups:
    sizes: list[int] = field(default_factory=list)
    producers: list[str] = field(default_factory=list)
    """The node that starts each group."""
    multiples: list[int] = field(default_factory=list)
    """Each group keeps a multiple of this many channels."""
    parent: list[int] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    cuts: list[Cut] = field(default_factory=list)
    scores: list[tuple[np.ndarray, tuple[int, ...]]] = field(default_factory=list)
    """Per-channel importance factors (filter norms, BatchNormalization scales)."""

    def new(self, size: int, producer: str, multiple: int) -> int:
        self.sizes.append(size)
        self.producers.append(producer)
        self.multiples.append(multiple)
        self.parent.append(len(self.parent))
        return len(self.sizes) - 1

    def root(self, group: int) -> int:
        while self.parent[group] != group:
            self.parent[group] = self.parent[self.parent[group]]
            group = self.parent[group]
        return group

    def merge(self, a: int, b: int) -> None:
        self.parent[self.root(a)] = self.root(b)

    def block(self, groups: Iterable[int]) -> None:
        self.blocked.update(groups)

    def members(self) -> dict[int, list[int]]:
        """Root -> its groups, for the roots none of whose groups is blocked."""
        blocked_roots = {self.root(group) for group in self.blocked}
        found: dict[int, list[int]] = {}
        for group in range(len(self.sizes)):
            root = self.root(group)
            if root not in blocked_roots:
                found.setdefault(root, []).append(group)
        return found


def _constant_axis(shape: list[int], channels: ChannelMap, count: int) -> int | None:
    """The axis of a constant operand that indexes the channels, or None when the constant
    does not broadcast per channel."""
    axis = len(shape) + channels.axis
    if axis < 0 or shape[axis] != count:
        return None
    if any(dim != 1 for index, dim in enumerate(shape) if index != axis):
        return None
    return axis


class _Walk:
    """One pass over the graph, filling `groups` and the channel map of each tensor."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.weights = graph.initializers(model)
        self.weighted = {node.output[0] for node in graph.weighted_nodes(model)}
        self.read = set(graph.consumers(model)) | {value.name for value in model.graph.output}
        self.groups = ChannelGroups()
        self.maps: dict[str, ChannelMap] = {}
        # Constant nodes holding one number (GELU's sqrt(2), 1 and 0.5 in BERT exports).
        self.scalar_constants = {
            node.output[0]
            for node in model.graph.node
            if node.op_type == "Constant"
            and any(
                attr.name == "value" and not any(d != 1 for d in attr.t.dims)
                for attr in node.attribute
            )
        }

    def channels(self, channels: ChannelMap) -> int:
        return sum(self.groups.sizes[group] for group in channels.groups)

    def array(self, name: str) -> np.ndarray:
        return numpy_helper.to_array(self.weights[name])

    def run(self) -> ChannelGroups:
        for node in graph.topological_order(self.model):
            mapped = [self.maps[name] for name in node.input if name in self.maps]
            if node.output[0] in self.weighted:
                self.weighted_node(node)
            elif mapped:
                self.channel_node(node, mapped)
        for value in self.model.graph.output:
            if value.name in self.maps:
                self.groups.block(self.maps[value.name].groups)
        self.block_shared_initializers()
        return self.groups

    def weighted_node(self, node: onnx.NodeProto) -> None:
        weight = self.array(node.input[1])
        incoming = self.maps.get(node.input[0])
        grouped = node.op_type == "Conv" and graph.attribute(node, "group", 1) != 1
        transposed_input = node.op_type == "Gemm" and graph.attribute(node, "transA", 0)
        plain = not grouped and not transposed_input and weight.ndim in (2, 4)
        if node.op_type == "MatMul" and weight.ndim != 2:
            plain = False
        axis_from_end = -3 if node.op_type == "Conv" else -1
        if incoming is not None:
            if plain and incoming.axis == axis_from_end:
                self.groups.cuts.append(Cut(node.input[1], _input_axis(node), incoming.groups))
            else:
                self.groups.block(incoming.groups)
        if not plain:
            return
        out_axis = _output_axis(node)
        size = int(weight.shape[out_axis])
        multiple = (
            CONV_CHANNEL_MULTIPLE
            if node.op_type == "Conv" and size % CONV_CHANNEL_MULTIPLE == 0
            else 1
        )
        group = self.groups.new(size, node.name or node.output[0], multiple)
        self.groups.cuts.append(Cut(node.input[1], out_axis, (group,)))
        norms = np.linalg.norm(
            np.moveaxis(weight, out_axis, 0).reshape(weight.shape[out_axis], -1), axis=1
        )
        self.groups.scores.append((norms, (group,)))
        if len(node.input) > 2 and node.input[2]:
            self.bias(node.input[2], group)
        rank = 4 if node.op_type == "Conv" else (2 if node.op_type == "Gemm" else None)
        self.maps[node.output[0]] = ChannelMap((group,), axis_from_end, rank)

    def bias(self, name: str, group: int) -> None:
        """Conv's bias is [channels]; Gemm's C broadcasts: [channels], [1, channels] or one
        number. Any other (a computed or [batch, channels] C) keeps the group whole."""
        if self.scalar(name):
            return
        shape = list(self.weights[name].dims) if name in self.weights else []
        if shape[-1:] == [self.groups.sizes[group]] and all(dim == 1 for dim in shape[:-1]):
            self.groups.cuts.append(Cut(name, len(shape) - 1, (group,)))
        else:
            self.groups.block([group])

    def channel_node(self, node: onnx.NodeProto, mapped: list[ChannelMap]) -> None:
        outcome = self.follow(node, mapped)
        if outcome is None:
            for channels in mapped:
                self.groups.block(channels.groups)
        else:
            self.maps[node.output[0]] = outcome

    def follow(self, node: onnx.NodeProto, mapped: list[ChannelMap]) -> ChannelMap | None:
        """The channel map of the node's output, or None when it breaks the channels."""
        first = self.maps.get(node.input[0])
        op = node.op_type
        if first is None:
            return self.follow_constant_first(node, mapped)
        if any(name in self.read for name in node.output[1:]):
            return None  # MaxPool indices, a Dropout mask: not channel maps to follow
        if op in CHANNELWISE_OPS:
            return first if self.scalars(node.input[1:]) else None
        if op in GLOBAL_POOLS:
            return ChannelMap(first.groups, first.axis, first.rank, spatial_one=True)
        if op == "BatchNormalization":
            return self.batch_norm(node, first)
        if op in ELEMENTWISE_BINARY:
            return self.binary(node, first, node.input[1])
        if op == "Concat":
            return self.concat(node)
        if op == "Flatten" and first.spatial_one and first.rank is not None:
            channel_axis = first.rank + first.axis
            flatten_axis = graph.attribute(node, "axis", 1)
            if channel_axis == 1 and flatten_axis == 1:
                return ChannelMap(first.groups, -1, 2)
        return None

    def follow_constant_first(
        self, node: onnx.NodeProto, mapped: list[ChannelMap]
    ) -> ChannelMap | None:
        """`constant op mapped` (e.g. 1 - x): only element-wise binary ops qualify."""
        if node.op_type in ELEMENTWISE_BINARY and len(node.input) == 2 and len(mapped) == 1:
            second = self.maps.get(node.input[1])
            if second is not None:
                return self.binary(node, second, node.input[0])
        return None

    def scalar(self, name: str) -> bool:
        if name in self.weights:
            return int(np.prod(self.weights[name].dims)) == 1
        return name in self.scalar_constants

    def scalars(self, names: Iterable[str]) -> bool:
        return all(not name or self.scalar(name) for name in names)

    def batch_norm(self, node: onnx.NodeProto, first: ChannelMap) -> ChannelMap | None:
        parameters = list(node.input[1:5])
        count = self.channels(first)
        if len(parameters) != 4 or any(
            name not in self.weights or list(self.weights[name].dims) != [count]
            for name in parameters
        ):
            return None
        self.groups.cuts.extend(Cut(name, 0, first.groups) for name in parameters)
        scale, variance = self.array(parameters[0]), self.array(parameters[3])
        epsilon = float(graph.attribute(node, "epsilon", 1e-5))
        self.groups.scores.append((np.abs(scale) / np.sqrt(variance + epsilon), first.groups))
        return first

    def binary(self, node: onnx.NodeProto, first: ChannelMap, other: str) -> ChannelMap | None:
        second = self.maps.get(other)
        if second is not None:  # a residual connection: the two sides are one group
            sizes = [self.groups.sizes[group] for group in first.groups]
            if (
                second.axis != first.axis
                or [self.groups.sizes[group] for group in second.groups] != sizes
            ):
                return None
            for a, b in zip(first.groups, second.groups, strict=True):
                self.groups.merge(a, b)
            return first
        if self.scalar(other):
            return first
        if other not in self.weights:
            return None
        shape = list(self.weights[other].dims)
        axis = _constant_axis(shape, first, self.channels(first))
        if axis is None:
            return None
        self.groups.cuts.append(Cut(other, axis, first.groups))
        return first

    def concat(self, node: onnx.NodeProto) -> ChannelMap | None:
        parts = [self.maps.get(name) for name in node.input]
        if any(part is None for part in parts):
            return None
        maps = [part for part in parts if part is not None]
        first = maps[0]
        axis = int(graph.attribute(node, "axis", 0))
        if axis >= 0:
            if first.rank is None:
                return None
            axis -= first.rank
        if any(part.axis != axis or part.rank != first.rank for part in maps):
            return None
        groups = tuple(group for part in maps for group in part.groups)
        return ChannelMap(groups, axis, first.rank, all(part.spatial_one for part in maps))

    def block_shared_initializers(self) -> None:
        """A cut initializer read by another node, or cut twice along one axis, would break."""
        readers = graph.consumers(self.model)
        cut_count: dict[tuple[str, int], int] = {}
        for cut in self.groups.cuts:
            key = (cut.initializer, cut.axis)
            cut_count[key] = cut_count.get(key, 0) + 1
        for cut in self.groups.cuts:
            shared = len(readers.get(cut.initializer, [])) > 1
            if shared or cut_count[(cut.initializer, cut.axis)] > 1:
                self.groups.block(cut.groups)


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


def channel_groups(model: onnx.ModelProto) -> ChannelGroups:
    return _Walk(model).run()


def _split(values: np.ndarray, groups: tuple[int, ...], sizes: list[int]) -> list[np.ndarray]:
    return np.split(values, np.cumsum([sizes[group] for group in groups])[:-1])


def kept_channels(found: ChannelGroups, sparsity: float) -> dict[int, np.ndarray]:
    """Group -> the indices of the channels it keeps, for the groups that lose some: the
    largest by importance (the product of every factor recorded), the same indices for all
    the groups of a merged set, a multiple of CONV_CHANNEL_MULTIPLE for convolutions."""
    importance = [np.ones(size) for size in found.sizes]
    for values, groups in found.scores:
        for group, part in zip(groups, _split(values, groups, found.sizes), strict=True):
            importance[group] = importance[group] * part
    kept: dict[int, np.ndarray] = {}
    for members in found.members().values():
        size = found.sizes[members[0]]
        multiple = max(found.multiples[group] for group in members)
        keep_count = max(multiple, math.ceil(round(size * (1 - sparsity)) / multiple) * multiple)
        if keep_count == size:
            continue
        total = np.sum([importance[group] for group in members], axis=0)
        keep = np.sort(np.argsort(-total, kind="stable")[:keep_count])
        kept.update(dict.fromkeys(members, keep))
    return kept


def cut_index(cut: Cut, sizes: list[int], kept: dict[int, np.ndarray]) -> np.ndarray | None:
    """The indices to keep along the cut's axis, or None when none of its groups loses any."""
    if not any(group in kept for group in cut.groups):
        return None
    offsets = np.cumsum([0] + [sizes[group] for group in cut.groups])
    return np.concatenate(
        [
            offset + kept.get(group, np.arange(sizes[group]))
            for offset, group in zip(offsets, cut.groups, strict=False)
        ]
    )
