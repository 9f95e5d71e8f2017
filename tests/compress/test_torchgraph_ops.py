"""The ONNX graph run in PyTorch (fine-tuning) computes what ONNX Runtime computes, op by op,
and trains BatchNormalization as torch does."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from modeldeploy.compress import graph
from modeldeploy.compress.errors import CompressError
from modeldeploy.compress.runtime import session
from modeldeploy.compress.steps.torchgraph import OnnxModule, unsupported
from tests.fixtures.cnn import DigitsCnn

SHAPE = [2, 3, 6, 6]


def _one_node_model(
    node: onnx.NodeProto, constants: dict[str, np.ndarray], opset: int
) -> onnx.ModelProto:
    rank = 2 if node.op_type == "Flatten" else len(SHAPE)
    model = helper.make_model(
        helper.make_graph(
            [node],
            "op",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
            # Dims left open (the rank is the input's, 2 after a Flatten).
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * rank)],
            [numpy_helper.from_array(array, name) for name, array in constants.items()],
        ),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    onnx.checker.check_model(model)
    return model


def _scalar(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float32)


RNG = np.random.default_rng(0)
CHANNEL = RNG.uniform(0.5, 1.5, size=3).astype(np.float32)
CASES = {
    "MaxPool": (
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        {},
    ),
    "MaxPool-ceil": (
        helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1, dilations=[2, 2]),
        {},
    ),
    "AveragePool": (
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        {},
    ),
    "AveragePool-count-pad": (
        helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         count_include_pad=1, strides=[2, 2]),
        {},
    ),
    "GlobalAveragePool": (helper.make_node("GlobalAveragePool", ["x"], ["y"]), {}),
    "GlobalMaxPool": (helper.make_node("GlobalMaxPool", ["x"], ["y"]), {}),
    "BatchNormalization": (
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3),
        {"s": CHANNEL, "b": -CHANNEL, "m": CHANNEL / 2, "v": CHANNEL * 2},
    ),
    "Concat": (helper.make_node("Concat", ["x", "x"], ["y"], axis=1), {}),
    "Flatten": (helper.make_node("Flatten", ["x"], ["y"], axis=2), {}),
    "Sigmoid": (helper.make_node("Sigmoid", ["x"], ["y"]), {}),
    "Tanh": (helper.make_node("Tanh", ["x"], ["y"]), {}),
    "Softmax": (helper.make_node("Softmax", ["x"], ["y"], axis=1), {}),
    "LogSoftmax": (helper.make_node("LogSoftmax", ["x"], ["y"]), {}),
    "Dropout": (helper.make_node("Dropout", ["x"], ["y"]), {}),
    "Clip": (helper.make_node("Clip", ["x", "lo", "hi"], ["y"]),
             {"lo": _scalar(-0.5), "hi": _scalar(0.5)}),
    "Clip-max-only": (helper.make_node("Clip", ["x", "", "hi"], ["y"]), {"hi": _scalar(0.2)}),
    "Gelu-tanh": (helper.make_node("Gelu", ["x"], ["y"], approximate="tanh"), {}),
    "Elu": (helper.make_node("Elu", ["x"], ["y"], alpha=0.5), {}),
    "HardSigmoid": (helper.make_node("HardSigmoid", ["x"], ["y"], alpha=0.3, beta=0.4), {}),
    "HardSwish": (helper.make_node("HardSwish", ["x"], ["y"]), {}),
    "Softplus": (helper.make_node("Softplus", ["x"], ["y"]), {}),
    "Neg": (helper.make_node("Neg", ["x"], ["y"]), {}),
    "Abs": (helper.make_node("Abs", ["x"], ["y"]), {}),
    "Exp": (helper.make_node("Exp", ["x"], ["y"]), {}),
    "Max": (helper.make_node("Max", ["x", "c"], ["y"]), {"c": _scalar(0.1)}),
    "Min": (helper.make_node("Min", ["x", "c", "x"], ["y"]), {"c": _scalar(0.1)}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnx_runtime(case: str) -> None:
    node, constants = CASES[case]
    model = _one_node_model(node, constants, opset=20)
    x = RNG.normal(size=SHAPE).astype(np.float32)

    expected = session(model).run(None, {"x": x})[0]
    actual = OnnxModule(model).eval()(torch.from_numpy(x)).detach().numpy()

    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_log_and_reciprocal_match_onnx_runtime() -> None:
    """Log and Reciprocal on positive inputs only."""
    nodes = [
        helper.make_node("Abs", ["x"], ["a"]),
        helper.make_node("Add", ["a", "one"], ["p"]),
        helper.make_node("Log", ["p"], ["l"]),
        helper.make_node("Reciprocal", ["p"], ["r"]),
        helper.make_node("Add", ["l", "r"], ["y"]),
    ]
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "positive",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)],
            [numpy_helper.from_array(_scalar(1.0), "one")],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    x = RNG.normal(size=SHAPE).astype(np.float32)

    expected = session(model).run(None, {"x": x})[0]
    actual = OnnxModule(model)(torch.from_numpy(x)).detach().numpy()

    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_the_cnn_runs_as_in_onnx_runtime_and_trains_batch_norm_like_torch(
    cnn: DigitsCnn,
) -> None:
    model = onnx.load(str(cnn.model))
    inputs = np.load(cnn.val)["inputs"][:64]
    module = OnnxModule(model).eval()
    np.testing.assert_allclose(
        module(torch.from_numpy(inputs)).detach().numpy(),
        session(model).run(None, {"input": inputs})[0],
        rtol=1e-4,
        atol=1e-4,
    )
    batch_norm = next(node for node in model.graph.node if node.op_type == "BatchNormalization")
    statistics = graph.initializers(model)
    mean_before = numpy_helper.to_array(statistics[batch_norm.input[3]])
    trained = {key for key, weight in module.weights.items() if weight.requires_grad}

    module.train()
    module(torch.from_numpy(inputs))
    updated = module.write_back(model)

    # The running mean moved towards this batch's mean (ONNX momentum 0.9: 10% of the way);
    # scale and bias are weights, the statistics are not.
    mean_after = numpy_helper.to_array(graph.initializers(updated)[batch_norm.input[3]])
    assert not np.allclose(mean_before, mean_after)
    assert np.allclose(mean_after, mean_before, atol=np.abs(mean_before).max())
    names = {module.names[name] for name in batch_norm.input[1:3]}
    assert names <= trained
    assert not set(batch_norm.input[3:5]) & set(module.names)


def test_unsupported_names_each_op_and_form_once() -> None:
    nodes = [
        helper.make_node("LRN", ["x"], ["a"], name="first", size=3),
        helper.make_node("LRN", ["a"], ["b"], name="second", size=3),
        helper.make_node("AveragePool", ["b"], ["c"], name="pool", kernel_shape=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("MaxPool", ["c"], ["d", "indices"], name="argmax", kernel_shape=[1, 1]),
        helper.make_node("Add", ["d", "indices_float"], ["e"], name="add"),
        helper.make_node("Cast", ["indices"], ["indices_float"], name="cast", to=1),
        helper.make_node("Gelu", ["e"], ["y"], name="fused", domain="com.microsoft"),
    ]  # fmt: skip
    model = helper.make_model(
        helper.make_graph(
            nodes,
            "unsupported",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
        ),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )

    assert unsupported(model) == [
        "LRN (node first)",
        "AveragePool with asymmetric pads [0, 0, 1, 1] (node pool)",
        "MaxPool with more than one output read (node argmax)",
        "com.microsoft.Gelu (node fused)",
    ]
    with pytest.raises(CompressError, match=r"^distill recover cannot run LRN \(node first\);"):
        OnnxModule(model, "distill recover")
