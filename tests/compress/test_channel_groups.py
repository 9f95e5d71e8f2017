"""Structured pruning of a BERT-style encoder: the FFN's inner width is cut, an initializer
that two nodes share keeps its width, and the pruned graph still fine-tunes."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.dataset import load_dataset
from modeldeploy.compress.runtime import session
from modeldeploy.compress.steps.prune import prune
from modeldeploy.compress.steps.torchgraph import OnnxModule
from tests.compress.conftest import TinyBert


def _unshared(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with a copy of each shared initializer per reader. The exporter merges equal
    tensors: the tiny BERT's all-zero biases are one initializer, which the other layers read
    through Identity nodes."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    weights = graph.initializers(copy)
    aliases = [node for node in copy.graph.node if node.op_type == "Identity"]
    for node in aliases:
        if node.input[0] in weights:
            array = numpy_helper.to_array(weights[node.input[0]])
            copy.graph.initializer.append(numpy_helper.from_array(array, node.output[0]))
            copy.graph.node.remove(node)
    onnx.checker.check_model(copy)
    return copy


def test_biases_shared_between_layers_keep_the_encoder_whole(tiny_bert: TinyBert) -> None:
    result = prune(onnx.load(str(tiny_bert.model)), 0.5, structured=True)

    assert result.nothing_to_compress
    assert "no layer whose output channels can be removed" in result.details["reason"]


def test_ffn_inner_width_is_pruned_and_the_graph_still_fine_tunes(tiny_bert: TinyBert) -> None:
    model = _unshared(onnx.load(str(tiny_bert.model)))
    data = load_dataset(tiny_bert.data, "data.npz", model).take(8)

    result = prune(model, 0.5, structured=True)

    onnx.checker.check_model(result.model)
    assert [layer["node"] for layer in result.details["layers"]] == [
        f"/bert/encoder/layer.{index}/intermediate/dense/MatMul" for index in range(4)
    ]
    assert all((layer["channels"], layer["kept"]) == (64, 32) for layer in result.details["layers"])
    pruned = session(result.model).run(None, data.feeds)[0]
    assert pruned.shape == session(model).run(None, data.feeds)[0].shape
    fine_tuned = OnnxModule(result.model).eval()
    ran = fine_tuned(*(torch.from_numpy(array) for array in data.feeds.values()))
    np.testing.assert_allclose(ran.detach().numpy(), pruned, rtol=1e-4, atol=1e-4)
