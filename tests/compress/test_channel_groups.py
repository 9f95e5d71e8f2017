"""Structured pruning beyond the CNN: a BERT-style encoder's FFN inner width is cut (and
the pruned graph still fine-tunes), shared or computed tensors keep their layer whole, a
Gemm bias is cut along the axis that holds the channels."""

from __future__ import annotations

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

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


def _two_layer_gemm(bias_shape: list[int], computed_bias: bool) -> onnx.ModelProto:
    """x [N, 6] -> Gemm 8 (bias `bias_shape`) -> Relu -> Gemm 4."""
    rng = np.random.default_rng(0)
    bias = "b1_computed" if computed_bias else "b1"
    nodes = [
        helper.make_node("Gemm", ["x", "w1", bias], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
    ]
    if computed_bias:
        nodes.insert(0, helper.make_node("Identity", ["b1"], [bias]))
    arrays = {
        "w1": rng.normal(size=(8, 6)),
        "b1": rng.normal(size=bias_shape),
        "w2": rng.normal(size=(4, 8)),
        "b2": rng.normal(size=4),
    }
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "mlp",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
            [numpy_helper.from_array(a.astype(np.float32), name) for name, a in arrays.items()],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(model)
    return model


def test_a_gemm_bias_of_one_row_is_cut_with_its_channels() -> None:
    model = _two_layer_gemm([1, 8], computed_bias=False)

    result = prune(model, 0.5, structured=True)

    weights = graph.initializers(result.model)
    assert [list(weights[name].dims) for name in ("w1", "b1", "w2")] == [[4, 6], [1, 4], [4, 4]]
    x = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    assert session(result.model).run(None, {"x": x})[0].shape == (3, 4)


def test_a_computed_gemm_bias_keeps_the_layer_whole() -> None:
    result = prune(_two_layer_gemm([8], computed_bias=True), 0.5, structured=True)

    assert result.nothing_to_compress
