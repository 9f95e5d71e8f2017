"""Magnitude pruning of the weights of MatMul, Gemm and Conv.

Unstructured: the smallest-magnitude weights of each layer are set to zero.
Structured: whole output channels (MatMul/Gemm columns, Conv filters) of the least importance
(filter L2 norm, times the BatchNormalization scale that follows) are removed from the graph,
together with every tensor indexed by them: biases, BatchNormalization parameters, the
matching inputs of the next layers. Layers joined by a residual Add lose the same channels;
a Concat's consumers are cut at each part's offset (`steps/channels.py`). The graph's output
layers keep their width.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.steps.channels import channel_groups, cut_index, kept_channels
from modeldeploy.compress.steps.result import StepResult


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


def _prune_channels(model: onnx.ModelProto, sparsity: float) -> StepResult:
    found = channel_groups(model)
    kept = kept_channels(found, sparsity)
    if not kept:
        return StepResult(
            model,
            {
                "reason": "no layer whose output channels can be removed: each reaches a graph "
                "output or an op other than channel-wise ops, Concat, a residual Add and the "
                "next MatMul/Gemm/Conv"
            },
            True,
        )
    weights = graph.initializers(model)
    before = graph.parameters(model)
    for cut in found.cuts:
        index = cut_index(cut, found.sizes, kept)
        if index is not None:
            array = numpy_helper.to_array(weights[cut.initializer])
            graph.set_initializer(model, cut.initializer, np.take(array, index, axis=cut.axis))
    layers = [
        {"node": found.producers[group], "channels": found.sizes[group], "kept": len(keep)}
        for group, keep in sorted(kept.items())
    ]
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
