"""``from_torch``: PyTorch models traced into resident segments and host ops, run on the
simulated board."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from host import SparseAccel, from_torch  # noqa: E402
from host.model import UnsupportedOp  # noqa: E402


@pytest.fixture(scope="module")
def cnn():
    """The digits CNN (host.datasets.digits_cnn): two convolutions, two linears, 50 %."""
    from host.datasets import digits_cnn
    net, x_train, _, x_test, y_test = digits_cnn()
    return net, x_train, x_test, y_test


@pytest.fixture(scope="module")
def accel():
    with SparseAccel(timeout=5.0) as board:
        yield board


def test_the_pruned_cnn_runs_on_the_board_within_a_point_of_float(cnn, accel):
    net, x_train, x_test, y_test = cnn
    model = from_torch(net, x_test[:4])
    assert [where for _, _, where, _ in model.table()] == [
        "accelerator", "host", "accelerator", "host", "host", "accelerator", "accelerator"]
    assert len(model.segments) == 3
    # torch.nn.utils.prune's zeros are kept: half of every layer's weights.
    for segment in model.segments:
        for layer in segment.network.layers:
            assert np.count_nonzero(layer.weights) == layer.weights.size // 2
    model.calibrate(x_train)
    loaded = accel.load(model)
    y = loaded(x_test)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32
    np.testing.assert_array_equal(y.numpy(), model.golden(x_test).numpy())
    board = np.mean(y.argmax(1).numpy() == y_test)
    float_accuracy = np.mean(model.float(x_test).argmax(1).numpy() == y_test)
    torch_accuracy = np.mean(net(x_test).argmax(1).numpy() == y_test)
    assert float_accuracy == torch_accuracy and float_accuracy > 0.9
    assert abs(board - float_accuracy) <= 0.01
    stats = loaded.last_run
    on_chip = [op for op in stats.ops if op.where == "accelerator"]
    assert len(on_chip) == 4 and all(op.layer.cycles > 0 for op in on_chip)
    assert "| max_pool2d | host |" in stats.table().replace("_2 ", "").replace("_5 ", "") \
        or "max_pool2d" in stats.table()


def test_inputs_and_weights_of_every_kind():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(12, 8).to(torch.bfloat16), nn.GELU(), nn.Linear(8, 4))
    x = torch.randn(5, 12, requires_grad=True)
    model = from_torch(net.float())
    model.calibrate(x)
    y = model.float(x)
    assert y.dtype == torch.float32 and not y.requires_grad
    # bf16 weights are upcast; the GELU is the first layer's table.
    assert model.segments[0].network.layers[0].activation_name == "gelu"
    half = nn.Sequential(nn.Linear(12, 8).half())
    assert from_torch(half).segments[0].network.layers[0].weights.dtype == np.float64


def test_an_unsupported_op_is_named_with_its_node():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.fft.fft(self.fc(x)).real

    with pytest.raises(UnsupportedOp, match="fft"):
        from_torch(Odd())
    with pytest.raises(UnsupportedOp, match="Upsample"):
        from_torch(nn.Sequential(nn.Upsample(scale_factor=2)))


def test_sparse_weight_matrices_are_accepted(accel):
    import scipy.sparse
    rng = np.random.default_rng(2)
    dense = rng.normal(size=(6, 10)) * (rng.random((6, 10)) < 0.4)
    x = rng.normal(size=(3, 10))
    expected = accel.run(dense, x)
    np.testing.assert_array_equal(accel.run(scipy.sparse.csr_matrix(dense), x), expected)
    np.testing.assert_array_equal(accel.run(torch.tensor(dense).to_sparse(), x), expected)


def test_the_cnn_through_onnx_gives_the_same_integers(cnn, tmp_path):
    onnx = pytest.importorskip("onnx")
    import warnings
    from host import from_onnx
    net, x_train, x_test, _ = cnn
    path = tmp_path / "cnn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, x_test[:1], str(path), dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    from_file = from_onnx(onnx.load(str(path))).calibrate(x_train)
    traced = from_torch(net).calibrate(x_train)
    assert [where for _, _, where, _ in from_file.table()].count("accelerator") == 4
    for a, b in zip(from_file.segments, traced.segments):
        for qa, qb in zip(a.network.quantized, b.network.quantized):
            np.testing.assert_array_equal(qa.q, qb.q)
            np.testing.assert_array_equal(qa.bias, qb.bias)
            np.testing.assert_array_equal(qa.table, qb.table)
    np.testing.assert_array_equal(from_file.golden(x_test.numpy()),
                                  traced.golden(x_test.numpy()))


def test_onet_on_the_board(accel):
    """MTCNN's O-Net with facenet-pytorch's trained weights (per-channel PReLUs on the host,
    eight segments), on a face and a non-face: bit-exact with the integer model, which ranks
    them as torch does. bench.onet runs all 200 images, dense and 50 %."""
    import importlib.util
    if importlib.util.find_spec("facenet_pytorch") is None:
        # Its package imports requests and torchvision: only its weights file is used.
        pytest.skip("facenet-pytorch is not installed (pip install --no-deps facenet-pytorch)")
    pytest.importorskip("skimage")
    from bench.onet import evaluate
    result = evaluate(None, 1, accel)
    assert result["exact"]
    assert result["torch"] == result["golden"] == result["board"] == 1.0
    model = result["model"]
    assert len(model.segments) == 8
    assert {op for _, op, where, _ in model.table() if where == "host"} >= {
        "prelu_per_channel", "max_pool2d", "softmax"}


def test_a_plan_prunes_each_layer_its_own_way():
    from host.planner import LayerPlan, Plan
    from host.runner import LayerChoice
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 4))
    weights = from_torch(net).nodes[1].weight
    kept = np.where(np.arange(weights.shape[1]) % 4 < 2, weights, 0.0)
    plan = Plan({"_2": LayerPlan("_2", LayerChoice("2:4"), "2:4", 1, 10, 20, 0, 0.0)},
                {"_2": weights}, lambda name, choice: kept)
    first, second = from_torch(net, plan=plan).segments[0].network.layers
    assert first.pattern.name == "unstructured" and second.pattern.name == "2:4"
    np.testing.assert_array_equal(second.weights, kept)
    with pytest.raises(ValueError, match="either it or"):
        from_torch(net, plan=plan, pattern="2:4")
