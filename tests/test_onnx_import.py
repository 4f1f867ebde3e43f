import io
import math
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper
from torch import nn

from host.model import HostOp, MatMul, UnsupportedOp
from host.network import ACTIVATIONS
from host.onnx_import import ONNX_OPS, from_onnx
from host.planner import LayerPlan, Plan
from host.runner import LayerChoice


def export(module, example, **options):
    """The module in eval mode through the TorchScript exporter (opset 17), as bytes."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module.eval(), example, buffer, dynamo=False, opset_version=17,
                          **options)
    return buffer.getvalue()


def reference(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(x, dtype=np.float32))).double().numpy()


def assert_close(y, expected, rtol=1e-5):
    """Within ``rtol`` of the largest expected magnitude."""
    assert y.shape == expected.shape
    assert np.abs(y - expected).max() <= rtol * np.abs(expected).max()


def randomize_batch_norms(module, generator):
    for layer in module.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            size = layer.num_features
            layer.running_mean.copy_(torch.rand(size, generator=generator) - 0.5)
            layer.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            layer.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            layer.bias.data.copy_(torch.rand(size, generator=generator) * 0.4 - 0.2)


def where(model):
    return {op: place for _, op, place, _ in model.table()}


def _float32(array):
    array = np.asarray(array)
    return array.astype(np.float32) if array.dtype.kind == "f" else array


def graph(nodes, inputs, outputs, initializers=(), opset=17):
    """An ONNX model of ``nodes``; ``inputs`` and ``outputs`` (name, shape) pairs of float
    tensors, ``initializers`` (name, array) pairs, floats stored as float32."""
    return helper.make_model(
        helper.make_graph(
            nodes, "g",
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
             for name, shape in inputs],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
             for name, shape in outputs],
            [numpy_helper.from_array(_float32(array), name) for name, array in initializers]),
        opset_imports=[helper.make_opsetid("", opset)])


# Models exported from torch.

ACTIVATION_CASES = {
    "relu6": (nn.ReLU6, "relu6"),
    "tanh": (nn.Tanh, "tanh"),
    "sigmoid": (nn.Sigmoid, "sigmoid"),
    "prelu": (lambda: nn.PReLU(init=0.2), ("prelu", float(np.float32(0.2)))),
    "leaky_relu": (lambda: nn.LeakyReLU(0.1), ("leaky_relu", float(np.float32(0.1)))),
}


@pytest.mark.parametrize("activation", ACTIVATION_CASES)
def test_cnn(activation):
    make, fused = ACTIVATION_CASES[activation]
    generator = torch.manual_seed(1)
    module = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                           nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 16), make(),
                           nn.Linear(16, 10))
    randomize_batch_norms(module, generator)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 1, 8, 8))
    # Without constant folding the exporter leaves the BatchNormalization for us to fold.
    model = from_onnx(export(module, torch.zeros(1, 1, 8, 8), do_constant_folding=False))

    assert where(model) == {"Conv+BatchNorm": "accelerator", "max_pool2d": "host",
                            "flatten": "host", "Gemm": "accelerator"}
    assert not any(node.op == "batch_norm" or getattr(node, "affine", None) is not None
                   for node in model.nodes)
    conv, first, last = [node for node in model.nodes if isinstance(node, MatMul)]
    assert conv.activation == "relu"
    assert first.activation == fused and last.activation is None
    assert [len(segment.nodes) for segment in model.segments] == [1, 2]
    expected = reference(module, x)
    assert_close(model.float(x), expected)

    model.calibrate(rng.standard_normal((64, 1, 8, 8)))
    golden = model.golden(x)
    assert np.abs(golden - expected).max() <= 0.05 * np.abs(expected).max()
    assert (golden.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.75


def test_grouped_strided_conv():
    torch.manual_seed(3)
    module = nn.Sequential(
        nn.Conv2d(4, 8, 3, stride=2, padding=(1, 2), dilation=(1, 2), groups=2),
        nn.PReLU(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3), nn.Softmax(-1))
    with torch.no_grad():
        module[1].weight.uniform_(0.0, 0.5)
    x = np.random.default_rng(4).standard_normal((3, 4, 9, 9))
    model = from_onnx(export(module, torch.zeros(3, 4, 9, 9)))

    conv = model.nodes[0]
    assert conv.op == "Conv"
    assert conv.conv == {"in_channels": 4, "out_channels": 8, "kernel": (3, 3),
                         "stride": (2, 2), "padding": (1, 2, 1, 2), "dilation": (1, 2),
                         "groups": 2}
    assert conv.weight.shape == (8, 36)
    assert not conv.weight[:4, 18:].any() and not conv.weight[4:, :18].any()
    prelu = model.nodes[1]
    assert isinstance(prelu, HostOp) and prelu.op == "prelu" and prelu.activation is None
    assert where(model) == {"Conv": "accelerator", "prelu": "host",
                            "adaptive_avg_pool2d": "host", "flatten": "host",
                            "Gemm": "accelerator", "softmax": "host"}
    assert_close(model.float(x), reference(module, x))


POOLS = {
    "max": lambda: nn.MaxPool2d(2),
    "max_padded_ceil": lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
    # The last window would start past the input: ceil_mode leaves it out.
    "max_ceil_wide_stride": lambda: nn.MaxPool2d(2, stride=5, ceil_mode=True),
    "avg_ceil": lambda: nn.AvgPool2d(2, ceil_mode=True),
    "avg_pad_counted": lambda: nn.AvgPool2d(3, stride=2, padding=1),
    "avg_pad_not_counted": lambda: nn.AvgPool2d(3, stride=2, padding=1,
                                                count_include_pad=False),
    "avg_pad_counted_ceil": lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
    "avg_pad_not_counted_ceil": lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True,
                                                     count_include_pad=False),
}


@pytest.mark.parametrize("pool", POOLS)
def test_pooling(pool):
    torch.manual_seed(5)
    module = nn.Sequential(nn.Conv2d(2, 3, 3), POOLS[pool](), nn.Flatten())
    x = np.random.default_rng(6).standard_normal((2, 2, 12, 12))
    model = from_onnx(export(module, torch.zeros(2, 2, 12, 12)))
    assert model.table()[1][1:3] == ("max_pool2d" if pool.startswith("max") else "avg_pool2d",
                                     "host")
    assert_close(model.float(x), reference(module, x))


def mlp():
    torch.manual_seed(7)
    module = nn.Sequential(nn.Linear(12, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                           nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 4))
    randomize_batch_norms(module, torch.manual_seed(8))
    return module, export(module, torch.zeros(2, 12), do_constant_folding=False)


def test_mlp():
    module, exported = mlp()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((32, 12))
    model = from_onnx(exported)
    assert [(op, place, segment) for _, op, place, segment in model.table()] == [
        ("Gemm+BatchNorm", "accelerator", 0), ("Gemm", "accelerator", 0),
        ("Gemm", "accelerator", 0)]
    assert [layer.activation_name for layer in model.segments[0].network.layers] == [
        "relu", "tanh", "identity"]
    expected = reference(module, x)
    assert_close(model.float(x), expected)
    assert_close(model.float(torch.from_numpy(x)).double().numpy(), expected, rtol=1e-6)

    model.calibrate(rng.standard_normal((256, 12)))
    golden = model.golden(x)
    assert np.abs(golden - expected).max() <= 0.05 * np.abs(expected).max()
    assert (golden.argmax(axis=1) == expected.argmax(axis=1)).mean() >= 0.9


@pytest.mark.parametrize("form", ["path", "bytes", "proto"])
def test_model_forms(form, tmp_path):
    module, exported = mlp()
    if form == "path":
        source = tmp_path / "mlp.onnx"
        source.write_bytes(exported)
    else:
        source = exported if form == "bytes" else onnx.load_from_string(exported)
    x = np.random.default_rng(10).standard_normal((4, 12))
    assert_close(from_onnx(source).float(x), reference(module, x))


def test_pattern_prunes_every_product():
    _, exported = mlp()
    for layer in from_onnx(exported, pattern="2:4").segments[0].network.layers:
        assert layer.pattern.name == "2:4"
        assert ((layer.weights.reshape(len(layer.weights), -1, 4) != 0).sum(axis=2) <= 2).all()
    for layer in from_onnx(exported, pattern="unstructured",
                           sparsity=0.5).segments[0].network.layers:
        assert ((layer.weights == 0).sum(axis=1) == layer.shape[1] // 2).all()


def test_scores_by_name():
    _, exported = mlp()
    dense = from_onnx(exported).nodes
    favoured = np.zeros(dense[1].weight.shape)
    favoured[:, :16] = 1.0
    # The ONNX node name of the second linear, or our node's name for the first.
    model = from_onnx(exported, pattern="unstructured", sparsity=0.5,
                      scores={"/4/Gemm": favoured, dense[0].name: np.abs(dense[0].weight)})
    first, second, _ = model.segments[0].network.layers
    assert np.array_equal(second.weights[:, :16], dense[1].weight[:, :16])
    assert not second.weights[:, 16:].any()
    assert ((first.weights == 0).sum(axis=1) == 6).all()
    with pytest.raises(ValueError, match=r"^scores= names 'nowhere', which is no matrix "
                                         r"product of the model; its matrix products are "
                                         r"'/0/Gemm', '/4/Gemm', '/6/Gemm'$"):
        from_onnx(exported, pattern="2:4", scores={"nowhere": favoured})


def test_plan():
    _, exported = mlp()
    dense = from_onnx(exported).nodes
    weights = dense[1].weight

    def prune(name, choice):
        assert (name, choice) == ("/4/Gemm", LayerChoice("2:4"))
        return np.where(np.arange(weights.shape[1]) % 4 < 2, weights, 0.0)
    plan = Plan({"/4/Gemm": LayerPlan("/4/Gemm", LayerChoice("2:4"), "2:4", 1, 10, 20, 0, 0.0)},
                {"/4/Gemm": weights}, prune)
    first, second, third = from_onnx(exported, plan=plan).segments[0].network.layers
    assert second.pattern.name == "2:4"
    assert np.array_equal(second.weights, prune("/4/Gemm", LayerChoice("2:4")))
    assert first.pattern.name == third.pattern.name == "unstructured"
    assert np.array_equal(first.weights, dense[0].weight)
    with pytest.raises(ValueError, match=r"^Pass either plan= or pattern=, sparsity= and "
                                         r"scores=, not both$"):
        from_onnx(exported, plan=plan, pattern="2:4")
    with pytest.raises(TypeError, match=r"^plan must be a host.planner.Plan, not 3$"):
        from_onnx(exported, plan=3)
    elsewhere = Plan({"/5/Gemm": plan.layers["/4/Gemm"]}, {"/5/Gemm": weights}, prune)
    with pytest.raises(ValueError, match=r"^plan= names '/5/Gemm', which is no matrix product "
                                         r"of the model; its matrix products are '/0/Gemm', "
                                         r"'/4/Gemm', '/6/Gemm'$"):
        from_onnx(exported, plan=elsewhere)
    short = Plan({"/4/Gemm": plan.layers["/4/Gemm"]}, {"/4/Gemm": weights[:, :8]},
                 lambda name, choice: weights[:, :8])
    with pytest.raises(ValueError, match=r"^The plan's layer '/4/Gemm' has weights of shape "
                                         r"\(16, 8\), but the model's has \(16, 32\)$"):
        from_onnx(exported, plan=short)


# Graphs made with onnx.helper: (model, NumPy reference, input shape, ops and where).

RNG = np.random.default_rng(11)
W = _float32(RNG.standard_normal((6, 5))).astype(np.float64)
B = _float32(RNG.standard_normal(5)).astype(np.float64)
CONV_W = _float32(RNG.standard_normal((3, 2, 3, 3))).astype(np.float64)


def _erf_gelu(v):
    return ACTIVATIONS["gelu"](v)


def _batch_norm_reference(x, scale, bias, mean, var, epsilon=1e-5):
    shape = (-1,) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + epsilon)
            * scale.reshape(shape) + bias.reshape(shape))


def _same_conv_reference(x):
    padded = np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1)))
    return torch.nn.functional.conv2d(torch.from_numpy(padded), torch.from_numpy(CONV_W),
                                      stride=2).numpy()


BN = [_float32(values).astype(np.float64)
      for values in (RNG.uniform(0.5, 1.5, 3), RNG.uniform(-0.2, 0.2, 3),
                     RNG.uniform(-0.5, 0.5, 3), RNG.uniform(0.5, 2.0, 3))]


def _cases():
    gemm = helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="gemm")
    gemm_constants = [("w", W), ("b", B)]
    return {
        "gelu": (
            graph([helper.make_node("MatMul", ["x", "w"], ["h"]),
                   helper.make_node("Gelu", ["h"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 5])], [("w", W)], opset=20),
            lambda x: _erf_gelu(x @ W), (2, 6), {"MatMul": "accelerator"}),
        "gelu_tanh": (
            graph([helper.make_node("Gelu", ["x"], ["y"], approximate="tanh")],
                  [("x", [2, 6])], [("y", [2, 6])], opset=20),
            lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
            (2, 6), {"gelu": "host"}),
        "clip_relu6": (
            graph([gemm, helper.make_node("Clip", ["h", "low", "high"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 5])],
                  gemm_constants + [("low", np.float32(0)), ("high", np.float32(6))]),
            lambda x: np.clip(x @ W + B, 0, 6), (2, 6), {"Gemm": "accelerator"}),
        "clip_attributes_relu": (
            graph([gemm, helper.make_node("Clip", ["h"], ["y"], min=0.0)],
                  [("x", [2, 6])], [("y", [2, 5])], gemm_constants, opset=6),
            lambda x: np.maximum(x @ W + B, 0), (2, 6), {"Gemm": "accelerator"}),
        "clip_range": (
            graph([gemm, helper.make_node("Clip", ["h", "low", "high"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 5])],
                  gemm_constants + [("low", np.float32(-0.5)), ("high", np.float32(0.5))]),
            lambda x: np.clip(x @ W + B, -0.5, 0.5), (2, 6),
            {"Gemm": "accelerator", "clip": "host"}),
        "gemm_attributes": (
            graph([helper.make_node("Gemm", ["x", "wt", "c"], ["y"], alpha=0.5, beta=2.0,
                                    transB=1)],
                  [("x", [2, 6])], [("y", [2, 5])],
                  [("wt", W.T), ("c", np.float32(0.25))]),
            lambda x: 0.5 * x @ W + 0.5, (2, 6), {"Gemm": "accelerator"}),
        "leaky_relu_sigmoid": (
            graph([gemm, helper.make_node("LeakyRelu", ["h"], ["r"], alpha=0.2),
                   helper.make_node("Sigmoid", ["r"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 5])], gemm_constants),
            lambda x: ACTIVATIONS["sigmoid"](np.where(x @ W + B < 0, 0.2 * (x @ W + B),
                                                      x @ W + B)),
            (2, 6), {"Gemm": "accelerator", "sigmoid": "host"}),
        "batch_norm_unfolded_on_3d": (
            # The channels are axis 1, not the product's outputs: no folding.
            graph([helper.make_node("MatMul", ["x", "w"], ["h"]),
                   helper.make_node("BatchNormalization", ["h", "s", "t", "m", "v"], ["y"])],
                  [("x", [2, 3, 6])], [("y", [2, 3, 5])],
                  [("w", W)] + list(zip("stmv", BN))),
            lambda x: _batch_norm_reference(x @ W, *BN), (2, 3, 6),
            {"MatMul": "accelerator", "batch_norm": "host"}),
        "conv_same_upper": (
            graph([helper.make_node("Conv", ["x", "k"], ["y"], auto_pad="SAME_UPPER",
                                    strides=[2, 2])],
                  [("x", [2, 2, 8, 8])], [("y", [2, 3, 4, 4])], [("k", CONV_W)]),
            _same_conv_reference, (2, 2, 8, 8), {"Conv": "accelerator"}),
        "max_pool_same_upper": (
            graph([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3],
                                    strides=[2, 2], auto_pad="SAME_UPPER")],
                  [("x", [2, 2, 8, 8])], [("y", None)]),
            lambda x: torch.nn.functional.max_pool2d(
                torch.from_numpy(np.pad(x, ((0, 0), (0, 0), (0, 1), (0, 1)),
                                        constant_values=-np.inf)), 3, 2).numpy(),
            (2, 2, 8, 8), {"max_pool2d": "host"}),
        "shapes_computed": (
            # x.view(x.size(0), -1) with a dynamic batch, then the inverse permutation.
            graph([helper.make_node("Shape", ["x"], ["s"]),
                   helper.make_node("Gather", ["s", "zero"], ["n"]),
                   helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
                   helper.make_node("Concat", ["n1", "minus"], ["shape"], axis=0),
                   helper.make_node("Reshape", ["x", "shape"], ["flat"]),
                   helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
                   helper.make_node("Squeeze", ["t", "axes"], ["y"])],
                  [("x", ["n", 1, 6])], [("flat", None), ("y", None)],
                  [("zero", np.int64(0)), ("axes", np.array([0])),
                   ("minus", np.array([-1]))], opset=13),
            lambda x: (x.reshape(len(x), -1), x.transpose(0, 2, 1).squeeze(0)), (1, 1, 6),
            {"shape": "host", "gather": "host", "unsqueeze": "host", "concat": "host",
             "reshape": "host", "transpose": "host", "squeeze": "host"}),
        "shapes_folded": (
            # The target shape computed from an initializer's shape: folded away.
            graph([helper.make_node("Shape", ["w"], ["s"]),
                   helper.make_node("Gather", ["s", "one"], ["k"]),
                   helper.make_node("Unsqueeze", ["k"], ["k1"], axes=[0]),
                   helper.make_node("Concat", ["minus", "k1"], ["shape"], axis=0),
                   helper.make_node("Reshape", ["x", "shape"], ["rows"]),
                   helper.make_node("Identity", ["rows"], ["same"]),
                   helper.make_node("Dropout", ["same"], ["kept"]),
                   helper.make_node("MatMul", ["kept", "wt"], ["y"])],
                  [("x", [2, 3, 5])], [("y", [6, 6])],
                  [("w", W), ("one", np.int64(1)), ("minus", np.array([-1])),
                   ("wt", W.T)], opset=11),
            lambda x: x.reshape(-1, 5) @ W.T, (2, 3, 5),
            {"reshape": "host", "MatMul": "accelerator"}),
        "reshape_zero_flatten": (
            graph([helper.make_node("Reshape", ["x", "shape"], ["r"]),
                   helper.make_node("Flatten", ["r"], ["y"], axis=-1)],
                  [("x", [2, 3, 4])], [("y", None)], [("shape", np.array([0, -1, 2]))]),
            lambda x: x.reshape(12, 2), (2, 3, 4), {"reshape": "host", "flatten": "host"}),
        "arithmetic_residual": (
            graph([gemm, helper.make_node("Relu", ["h"], ["r"]),
                   helper.make_node("Mul", ["two", "r"], ["m"]),
                   helper.make_node("Sub", ["m", "r"], ["d"]),
                   helper.make_node("Div", ["d", "half"], ["q"]),
                   helper.make_node("Add", ["q", "b"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 5])],
                  gemm_constants + [("two", np.float32(2)), ("half", np.float32(0.5))]),
            lambda x: (2 * np.maximum(x @ W + B, 0) - np.maximum(x @ W + B, 0)) / 0.5 + B,
            (2, 6), {"Gemm": "accelerator", "mul": "host", "sub": "host", "div": "host",
                     "add": "host"}),
        "residual_of_two_computed": (
            graph([gemm, helper.make_node("Tanh", ["h"], ["t"]),
                   helper.make_node("Add", ["h", "t"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 5])], gemm_constants),
            lambda x: x @ W + B + np.tanh(x @ W + B), (2, 6),
            {"Gemm": "accelerator", "tanh": "host", "add": "host"}),
        "concat_constant": (
            graph([helper.make_node("Concat", ["x", "c"], ["y"], axis=1)],
                  [("x", [2, 6])], [("y", [2, 11])], [("c", np.ones((2, 5), np.float32))]),
            lambda x: np.concatenate([x, np.ones((2, 5))], axis=1), (2, 6), {"concat": "host"}),
        "softmax_opset11_flattens": (
            graph([helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                  [("x", [2, 3, 4])], [("y", [2, 3, 4])], opset=11),
            lambda x: (np.exp(x) / np.exp(x).sum(axis=(1, 2), keepdims=True)), (2, 3, 4),
            {"softmax": "host"}),
        "softmax_opset13_one_axis": (
            graph([helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                  [("x", [2, 3, 4])], [("y", [2, 3, 4])], opset=13),
            lambda x: (np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)), (2, 3, 4),
            {"softmax": "host"}),
        "global_pool_mean": (
            graph([helper.make_node("GlobalAveragePool", ["x"], ["g"]),
                   helper.make_node("ReduceMean", ["x"], ["y"], axes=[1, 3], keepdims=0)],
                  [("x", [2, 3, 4, 5])], [("g", None), ("y", None)]),
            lambda x: (x.mean(axis=(2, 3), keepdims=True), x.mean(axis=(1, 3))), (2, 3, 4, 5),
            {"adaptive_avg_pool2d": "host", "mean": "host"}),
        "identity_to_output": (
            graph([helper.make_node("Identity", ["x"], ["y"])],
                  [("x", [2, 6])], [("y", [2, 6])]),
            lambda x: x, (2, 6), {}),
    }


CASES = _cases()


@pytest.mark.parametrize("case", CASES)
def test_graph(case):
    proto, function, shape, places = CASES[case]
    x = np.random.default_rng(12).standard_normal(shape)
    model = from_onnx(proto)
    assert where(model) == places
    y, expected = model.float(x), function(x)
    for got, want in zip(*((y, expected) if isinstance(y, tuple) else ((y,), (expected,)))):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_fused_activations():
    activations = {case: [node.activation for node in from_onnx(CASES[case][0]).nodes
                          if isinstance(node, MatMul)]
                   for case in ("gelu", "clip_relu6", "clip_attributes_relu",
                                "leaky_relu_sigmoid", "clip_range")}
    assert activations == {"gelu": ["gelu"], "clip_relu6": ["relu6"],
                           "clip_attributes_relu": ["relu"],
                           "leaky_relu_sigmoid": [("leaky_relu", float(np.float32(0.2)))],
                           "clip_range": [None]}


def test_golden_of_graph_with_host_ops():
    model = from_onnx(CASES["arithmetic_residual"][0])
    x = np.random.default_rng(13).standard_normal((64, 6))
    model.calibrate(x)
    assert np.abs(model.golden(x) - model.float(x)).max() <= 0.05 * np.abs(model.float(x)).max()


# Errors.

def _alone(op, name="", opset=17, **attributes):
    return graph([helper.make_node(op, ["x"], ["y"], name=name, **attributes)],
                 [("x", [2, 3])], [("y", None)], opset=opset)


@pytest.mark.parametrize("proto, message", [
    (_alone("Einsum", "mix", equation="ij->ji"), r"^Op 'Einsum' of node 'mix' is not supported$"),
    (_alone("Erf"), r"^Op 'Erf' of node 'y' is not supported$"),
    (graph([helper.make_node("Gemm", ["x", "w"], ["y"], name="g", transA=1)],
           [("x", [3, 2])], [("y", None)], [("w", W[:3])]),
     r"^Op 'Gemm' of node 'g' is not supported: transA=1; only A as it is \(transA=0\) is "
     r"offloaded$"),
    (graph([helper.make_node("Conv", ["x", "x"], ["y"], name="c")],
           [("x", [2, 2, 3, 3])], [("y", None)]),
     r"^Op 'Conv' of node 'c' is not supported: its weight is computed; only a constant "
     r"weight is taken$"),
    (graph([helper.make_node("Gemm", ["x", "w", "c"], ["y"], name="g")],
           [("x", [2, 6])], [("y", None)], [("w", W), ("c", np.ones((2, 5)))]),
     r"^Op 'Gemm' of node 'g' is not supported: C has shape \(2, 5\), not one bias per "
     r"output \(5,\)$"),
    (graph([helper.make_node("Foo", ["x"], ["y"], name="f", domain="com.example")],
           [("x", [2])], [("y", None)]),
     r"^Op 'Foo' of node 'f' is not supported: it is of domain 'com.example'$"),
    (graph([helper.make_node("MaxPool", ["x"], ["y", "i"], name="p", kernel_shape=[2, 2]),
            helper.make_node("Add", ["y", "i"], ["z"])],
           [("x", [1, 1, 4, 4])], [("z", None)]),
     r"^Op 'MaxPool' of node 'p' is not supported: its output 'i' is used; only the first "
     r"output of a node is$"),
    (graph([helper.make_node("Conv", ["x", "k"], ["y"], name="c1d")],
           [("x", [1, 2, 5])], [("y", None)], [("k", np.ones((3, 2, 3)))]),
     r"^Op 'Conv' of node 'c1d' is not supported: it is a 1-D convolution; only 2-D ones are "
     r"offloaded$"),
    (graph([helper.make_node("Conv", ["x", "k"], ["y"], name="c", auto_pad="SAME_UPPER",
                             strides=[2, 2])],
           [("x", [1, 2, "h", "w"])], [("y", None)], [("k", CONV_W)]),
     r"^Op 'Conv' of node 'c' is not supported: auto_pad SAME_UPPER with a stride of 2 needs "
     r"the input's size, which is not known$"),
])
def test_unsupported(proto, message):
    with pytest.raises(UnsupportedOp, match=message) as error:
        from_onnx(proto)
    node = proto.graph.node[0]
    assert (error.value.op, error.value.node) == (node.op_type, node.name or node.output[0])


def test_attribute_lengths():
    proto = graph([helper.make_node("Conv", ["x", "k"], ["y"], name="c", strides=[2])],
                  [("x", [1, 2, 5, 5])], [("y", None)], [("k", CONV_W)])
    with pytest.raises(ValueError, match=r"^Conv 'c': strides \[2\] are not 2 values$"):
        from_onnx(proto)


def test_one_input():
    proto = graph([helper.make_node("Conv", ["x", "k"], ["y"])],
                  [("x", [1, 2, 5, 5]), ("k", [3, 2, 3, 3])], [("y", None)])
    with pytest.raises(ValueError, match=r"^A model takes one input, but the ONNX graph "
                                         r"takes 2: 'x', 'k'$"):
        from_onnx(proto)


def test_constant_output():
    proto = graph([helper.make_node("Shape", ["w"], ["y"]), helper.make_node("Relu", ["x"], ["r"])],
                  [("x", [2])], [("y", None), ("r", None)], [("w", W)])
    with pytest.raises(ValueError, match=r"^The graph's output 'y' is a constant; a model's "
                                         r"outputs are computed$"):
        from_onnx(proto)


def test_model_type():
    with pytest.raises(TypeError, match=r"^An ONNX model is a path, bytes or an "
                                        r"onnx.ModelProto, not 42$"):
        from_onnx(42)


def test_onnx_ops_cover_the_brief():
    assert {"Gemm", "MatMul", "Conv", "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "PRelu",
            "Gelu", "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool",
            "Flatten", "Reshape", "Transpose", "Softmax", "Add", "Mul", "Sub", "Div", "Concat",
            "Identity", "Dropout", "Squeeze", "Unsqueeze", "Shape", "Gather",
            "Constant"} <= set(ONNX_OPS)
    assert all(ONNX_OPS.values())
