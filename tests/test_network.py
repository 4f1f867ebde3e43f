import math
import re
from fractions import Fraction

import numpy as np
import pytest

from host import Layer, Network
from host.datasets import digits_mlp
from host.network import QuantizedLayer, activation_table, requantization, requantize
from host.reconstruct import reconstruct_prune


SCALAR_ACTIVATIONS = {
    None:                lambda v: v,
    "relu":              lambda v: max(v, 0.0),
    "relu6":             lambda v: min(max(v, 0.0), 6.0),
    "gelu":              lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))),
    "sigmoid":           lambda v: (1.0 if v >= 0 else math.exp(v)) / (1.0 + math.exp(-abs(v))),
    "tanh":              math.tanh,
    "leaky_relu":        lambda v: 0.01 * v if v < 0 else v,
    ("prelu", 0.25):     lambda v: 0.25 * v if v < 0 else v,
    np.sin:              math.sin,
}


def clip(value, limit=127):
    return max(-limit, min(limit, value))


def reference_requantization(multiplier):
    """The largest n with rint(M * 2**n) < 2**16, by trying every n; None unless 0..63."""
    for shift in range(64, -1, -1):
        m = round(multiplier * 2.0 ** shift)
        if m < 1 << 16:
            return (m, shift) if shift < 64 else None
    return None


def reference_network(layers, scales, x):
    """The integer rule in Python integers and floats, one value at a time, from the pruned
    float weights and the calibrated scales [(s_in, s_pre, s_out)] of each layer: the
    parameters and, for each input, every layer's sums and outputs."""
    params, traces = [], [[] for _ in x]
    for layer, (s_in, s_pre, s_out) in zip(layers, scales):
        weights = layer.weights.astype(np.float64).tolist()
        bias = [0.0] * len(weights) if layer.bias is None else layer.bias.tolist()
        f = SCALAR_ACTIVATIONS[layer.key]
        s_w, q, bias_q, pairs = [], [], [], []
        for row, b in zip(weights, bias):
            scale = max(abs(w) for w in row) / 127
            q.append([clip(round(w / scale)) for w in row] if scale else [0] * len(row))
            scale = scale or s_pre / s_in
            s_w.append(scale)
            bias_q.append(max(-2**31, min(2**31 - 1, round(b / (scale * s_in)))))
            pairs.append(reference_requantization(scale * s_in / s_pre))
        table = [clip(round(f(v * s_pre) / s_out)) for v in range(-127, 128)]
        table = [table[0]] + table
        params.append((q, bias_q, pairs, table, s_w))
    for trace, vector in zip(traces, x):
        values = [clip(round(v / scales[0][0])) for v in vector]
        for q, bias_q, pairs, table, _ in params:
            sums, outputs = [], []
            for row, b, (m, n) in zip(q, bias_q, pairs):
                acc = sum(w * v for w, v in zip(row, values)) + b
                acc = (acc + 2**31) % 2**32 - 2**31
                y = clip((acc * m + (1 << (n - 1))) >> n if n else acc * m)
                sums.append(acc)
                outputs.append(table[y + 128])
            trace.append((sums, outputs))
            values = outputs
    return params, traces


def random_layer(rng, k, m, activation, pattern, sparsity, *, bias=True, zero_row=False):
    weights = rng.normal(size=(m, k)) * rng.choice([0.01, 1.0, 30.0])
    weights[rng.random(weights.shape) < 0.2] = 0
    if zero_row:
        weights[rng.integers(m)] = 0
    layer = Layer(weights, rng.normal(size=m) * 2 if bias else None, pattern=pattern,
                  sparsity=sparsity, activation=activation)
    layer.key = activation
    return layer


CASES = [
    # (shapes K, M1, M2, ...; patterns per layer)
    ((7, 5, 3), [(None, None), ("2:4", None)]),
    ((16, 12, 9, 4), [("unstructured", 0.5), ("dense", None), ("bank:4", 0.5)]),
    ((1, 1, 6), [("dense", None), ("tile:2", 0.5)]),
    ((33, 20, 1), [("1:4", None), ("unstructured", 0.75)]),
]


@pytest.mark.parametrize("activation", list(SCALAR_ACTIVATIONS), ids=str)
@pytest.mark.parametrize("shapes, patterns", CASES)
def test_integer_rule(activation, shapes, patterns):
    rng = np.random.default_rng(abs(hash((str(activation), shapes))) % 2**32)
    names = list(SCALAR_ACTIVATIONS)
    layers = [random_layer(rng, k, m, names[(names.index(activation) + i) % len(names)]
                           if i else activation, pattern, sparsity, bias=i != 1,
                           zero_row=i == 0)
              for i, (k, m, (pattern, sparsity)) in enumerate(zip(shapes, shapes[1:],
                                                                  patterns))]
    net = Network(layers).calibrate(rng.normal(size=(40, shapes[0])))
    # Inputs beyond the calibration's range, so that inputs and outputs clamp too.
    x = rng.normal(size=(6, shapes[0])) * 1.5
    scales = [(p.s_in, p.s_pre, p.s_out) for p in net.quantized]
    params, traces = reference_network(layers, scales, x)
    for quantized, (q, bias_q, pairs, table, s_w) in zip(net.quantized, params):
        assert quantized.q.dtype == np.int8 and quantized.q.tolist() == q
        assert quantized.bias.dtype == np.int32 and quantized.bias.tolist() == bias_q
        assert list(zip(quantized.multiplier.tolist(), quantized.shift.tolist())) == pairs
        assert quantized.table.dtype == np.int8 and quantized.table.tolist() == table
        assert quantized.s_w.tolist() == s_w
    results = net.golden_int(net.quantize_input(x))
    for index, result in enumerate(results):
        assert result.sums.tolist() == [trace[index][0] for trace in traces]
        assert result.outputs.tolist() == [trace[index][1] for trace in traces]
    single = net.golden_int(net.quantize_input(x[0]))
    assert [r.outputs.tolist() for r in single] == [trace[1] for trace in traces[0]]
    last = net.quantized[-1]
    np.testing.assert_array_equal(net.golden(x), results[-1].outputs * last.s_out)
    np.testing.assert_array_equal(net.golden(x, output="int32"),
                                  results[-1].sums * (last.s_w * last.s_in))


def test_bias_saturates_and_sums_wrap():
    rng = np.random.default_rng(3)
    weights = np.abs(rng.normal(size=(4, 8))) * 1e-3
    layer = Layer(weights, np.full(4, 1e3))
    layer.key = None
    net = Network([layer]).calibrate(np.ones((2, 8)))
    assert net.quantized[0].bias.tolist() == [2**31 - 1] * 4
    x = np.ones((1, 8))
    result = net.golden_int(net.quantize_input(x))[0]
    assert (result.sums < -2**30).all() and (result.outputs < 0).all()
    _, traces = reference_network([layer], [(p.s_in, p.s_pre, p.s_out)
                                            for p in net.quantized], x)
    assert [result.sums.tolist(), result.outputs.tolist()] == [[v] for v in traces[0][0]]


def test_calibration_scales():
    rng = np.random.default_rng(4)
    layers = [Layer(rng.normal(size=(6, 5)), rng.normal(size=6), activation="relu"),
              Layer(-np.abs(rng.normal(size=(3, 6))), activation="relu")]
    x = rng.normal(size=(20, 5))
    net = Network(layers).calibrate(x)
    hidden = np.maximum(x @ layers[0].weights.T + layers[0].bias, 0)
    first, second = net.quantized
    assert first.s_in == np.abs(x).max() / 127
    assert first.s_pre == np.abs(x @ layers[0].weights.T + layers[0].bias).max() / 127
    assert first.s_out == second.s_in == hidden.max() / 127
    assert second.s_pre == np.abs(hidden @ layers[1].weights.T).max() / 127
    # Non-positive pre-activations through a ReLU: the output is zero, its scale 1.0.
    assert second.s_out == net.output_scale == 1.0
    assert Network([Layer(np.ones((2, 3)))]).calibrate(np.zeros((4, 3))).quantized[0].s_in == 1
    assert isinstance(first, QuantizedLayer)
    with pytest.raises(ValueError):
        first.q[0, 0] = 1


def test_requantization_range_and_error():
    rng = np.random.default_rng(5)
    edges = [32767.75 * 2.0**-63, 2.0**-48, 1.0, 65535.49]
    for multiplier in [*10.0 ** rng.uniform(-14.4, 4.81, size=4000), *edges]:
        m, n = requantization(multiplier)
        assert 1 << 15 <= m < 1 << 16 and 0 <= n <= 63
        assert abs(m / 2**n - multiplier) <= multiplier * 2**-16
        assert (m, n) == reference_requantization(multiplier)
    assert requantization(1.0) == (1 << 15, 15)
    assert requantization(65535.49) == (65535, 0)
    assert requantization(math.nextafter(2.0**-48, 0)) == (1 << 15, 63)
    assert requantization(32767.75 * 2.0**-63) == (1 << 15, 63)
    # Just below a power of two, m rounds up to 2**16: one shift less.
    assert requantization(math.nextafter(1.0, 0)) == (1 << 15, 15)


@pytest.mark.parametrize("multiplier", [65535.5, 1e5, math.nextafter(32767.75 * 2.0**-63, 0),
                                        32767.5 * 2.0**-63, 1e-20, 0.0, -1.0, math.inf,
                                        math.nan])
def test_requantization_out_of_range(multiplier):
    message = (f"Requantization multiplier {multiplier!r} is out of range: m / 2**n with m of "
               f"16 bits and n from 0 to 63 covers [(2**15 - 1/4) / 2**63, 2**16 - 1/2)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        requantization(multiplier)


def test_requantization_error_bound():
    """The module docstring's bound, against exact rationals."""
    rng = np.random.default_rng(8)
    differ = 0
    for multiplier in 10.0 ** rng.uniform(-14.4, 4.81, size=3000):
        m, n = requantization(multiplier)
        target = rng.uniform(-130, 130)
        if rng.random() < 0.3:
            target = np.round(target) + 0.5
        acc = int(np.clip(np.rint(target / multiplier), -2**31, 2**31 - 1))
        exact = Fraction(acc) * Fraction(multiplier)
        y = (acc * m + (1 << (n - 1))) >> n if n else acc * m
        assert abs(y - exact) <= Fraction(1, 2) + abs(exact) * Fraction(1, 2**16)
        rounded = clip(math.floor(exact + Fraction(1, 2)))
        clamped = int(requantize([acc], [m], [n])[0])
        assert clamped == clip(y) and abs(clamped - rounded) <= 1
        if clamped != rounded:
            differ += 1
            assert abs(exact - (math.floor(exact) + Fraction(1, 2))) < Fraction(1, 2**9)
    assert differ


def test_requantize():
    acc = np.array([[5, -5, 7, -7, 2**31 - 1, -2**31]])
    assert requantize(acc, [1 << 15] * 6, [16] * 6).tolist() == [[3, -2, 4, -3, 127, -127]]
    assert requantize(acc, [1] * 6, [0] * 6).tolist() == [[5, -5, 7, -7, 127, -127]]
    assert requantize(acc, [65535] * 6, [63] * 6).tolist() == [[0, 0, 0, 0, 0, 0]]


def test_multiplier_out_of_range_names_the_row():
    net = Network([Layer(np.array([[1e6, -1e6], [1e-3, 0.0]]))])
    with pytest.raises(ValueError, match=r"^Layer 0 row 0: Requantization multiplier "
                                         r"7874015\.\d+ is out of range: m / 2\*\*n with m "
                                         r"of 16 bits and n from 0 to 63 covers "
                                         r"\[\(2\*\*15 - 1/4\) / 2\*\*63, 2\*\*16 - 1/2\)$"):
        net.calibrate(np.ones((3, 2)))


def test_activation_table():
    table = activation_table(np.tanh, 0.05, 1 / 127)
    assert table.dtype == np.int8 and table.shape == (256,)
    assert table[0] == table[1] == -127 and table[128] == 0 and table[255] == 127
    assert table[129] == round(np.tanh(0.05) * 127)


def test_float_close_to_golden():
    rng = np.random.default_rng(6)
    layers = [Layer(rng.normal(size=(48, 32)), rng.normal(size=48) * 0.5, activation="relu"),
              Layer(rng.normal(size=(24, 48)), rng.normal(size=24) * 0.5, pattern="2:4",
                    activation="gelu"),
              Layer(rng.normal(size=(10, 24)), pattern="unstructured", sparsity=0.5)]
    calibration = rng.normal(size=(300, 32))
    net = Network(layers).calibrate(calibration)
    # Inputs in the calibration's range (beyond it, the static scales clamp).
    x = calibration[:100]
    reference = net.float(x)
    span = np.abs(reference).max()
    for output in ("int8", "int32"):
        error = np.abs(net.golden(x, output=output) - reference)
        assert error.max() < 0.04 * span and error.mean() < 0.01 * span
    assert net.float(x[3]).shape == net.golden(x[3]).shape == (10,)
    np.testing.assert_array_equal(net.golden(x[3]), net.golden(x)[3])


@pytest.mark.parametrize("pattern, sparsity, method", [
    ("dense", None, "magnitude"), ("2:4", None, "magnitude"), ("unstructured", 0.5, "magnitude"),
    ("2:4", None, "reconstruct"), ("unstructured", 0.5, "reconstruct")])
def test_digits_accuracy(pattern, sparsity, method):
    """Golden within 1 point of float; reconstruction is calibrated layer after layer on the
    training inputs through the layers pruned so far."""
    mlp = digits_mlp(0)
    layers, x = [], mlp.x_train
    for index, (weights, bias) in enumerate(zip(mlp.weights, mlp.biases)):
        if method == "reconstruct":
            weights = reconstruct_prune(weights, pattern, x, sparsity=sparsity)
        layers.append(Layer(weights, bias, pattern=pattern, sparsity=sparsity,
                            activation=None if index + 1 == len(mlp.weights) else "relu"))
        if method == "reconstruct":
            # The pattern, applied again, keeps what the reconstruction kept.
            np.testing.assert_array_equal(layers[-1].weights, weights)
        x = layers[-1].float(x)
    net = Network(layers).calibrate(mlp.x_train)
    float_accuracy = np.mean(net.float(mlp.x_test).argmax(axis=1) == mlp.y_test)
    golden_accuracy = np.mean(net.golden(mlp.x_test).argmax(axis=1) == mlp.y_test)
    assert float_accuracy > (0.95 if method == "reconstruct" else 0.85)
    assert abs(golden_accuracy - float_accuracy) <= 0.01
    if pattern == "dense":
        assert float_accuracy == np.mean(mlp.logits(mlp.x_test).argmax(axis=1) == mlp.y_test)


def test_layer_inputs():
    weights = np.array([[1, 0, 2], [0, 3, 0]])
    layer = Layer(weights, pattern=None)
    assert layer.weights.tolist() == weights.tolist() and layer.pattern.name == "unstructured"
    assert weights.flags.writeable and not layer.weights.flags.writeable
    assert Layer(weights, pattern="1:2").weights.tolist() == [[1, 0, 2], [0, 3, 0]]
    assert Layer(weights, activation=("prelu", 1)).activation_name == "prelu(1.0)"

    class Tensor:
        def __init__(self, array):
            self.array = np.asarray(array, dtype=np.float32)

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.array

    class Linear:
        in_features, out_features = 3, 2
        weight, bias = Tensor(weights), Tensor([0.5, -0.5])

    layer = Layer(Linear())
    assert layer.weights.dtype == np.float32 and layer.bias.tolist() == [0.5, -0.5]
    with pytest.raises(ValueError, match=r"^The torch\.nn\.Linear has its own bias; "
                                         r"do not pass bias=$"):
        Layer(Linear(), [1, 2])


@pytest.mark.parametrize("make, error, message", [
    (lambda: Network([]), ValueError, r"A network needs at least one layer"),
    (lambda: Network(["x"]), TypeError, r"Layer 0 must be a host\.network\.Layer, not 'x'"),
    (lambda: Network([Layer(np.ones((5, 4))), Layer(np.ones((2, 5))), Layer(np.ones((3, 6)))]),
     ValueError, r"Layer 2 takes 6 inputs, but layer 1 gives 2 outputs"),
    (lambda: Layer(np.array([[1, 2, 3], [4, 5, np.nan]])), ValueError,
     r"weights must be finite, but weights\[1, 2\] is nan"),
    (lambda: Layer(np.ones((2, 3)), [1, np.inf]), ValueError,
     r"bias must be finite, but bias\[1\] is inf"),
    (lambda: Layer(np.ones((2, 3)), [1, 2, 3]), ValueError,
     r"bias must have one value per output row \(2,\), not shape \(3,\)"),
    (lambda: Layer(np.ones(3)), ValueError, r"weights must be a matrix \(M, K\), not shape \(3,\)"),
    (lambda: Layer(np.array([["a"]])), TypeError, r"weights must be numeric, not <U1"),
    (lambda: Layer(np.ones((2, 3)), sparsity=0.5), ValueError,
     r"sparsity and scores need a pattern"),
    (lambda: Layer(np.ones((2, 3)), activation="swish"), ValueError,
     r"Unknown activation 'swish'; expected None, 'relu', 'relu6', 'gelu', 'sigmoid', "
     r"'tanh', 'leaky_relu', \('prelu', slope\) or a callable"),
    (lambda: Layer(np.ones((2, 3)), activation="prelu"), ValueError,
     r"Activation 'prelu' needs a slope: pass \('prelu', slope\)"),
    (lambda: Layer(np.ones((2, 3)), activation=("prelu", "a")), ValueError,
     r"A sloped activation is \('prelu', slope\) or \('leaky_relu', slope\) with a real "
     r"slope, not \('prelu', 'a'\)"),
    (lambda: Layer(np.ones((2, 3)), activation=("prelu", math.nan)), ValueError,
     r"Activation slope must be finite, not nan"),
    (lambda: Layer(np.ones((2, 3)), activation=3), TypeError,
     r"Activation must be a name, \('prelu', slope\) or a callable, not 3"),
])
def test_layer_and_network_errors(make, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        make()


def centred(v):
    return v - v.mean()


@pytest.mark.parametrize("function, message", [
    (centred, r"on a vector it gives other values than on each element alone"),
    (np.sort, r"on a vector it gives other values than on each element alone"),
    (np.cumsum, r"on a vector it gives other values than on each element alone"),
    (lambda v: v[::-1], r"on a vector it gives other values than on each element alone"),
    (np.sum, r"it maps shape \(255,\) to \(\)"),
    (lambda v: v[:3], r"it maps shape \(255,\) to \(3,\)"),
])
def test_activation_not_elementwise(function, message):
    name = re.escape(getattr(function, "__name__"))
    with pytest.raises(ValueError, match=f"^Activation {name} is not elementwise: {message}$"):
        Layer(np.ones((2, 3)), activation=function)


def test_network_input_errors():
    rng = np.random.default_rng(7)
    net = Network([Layer(rng.normal(size=(4, 3)), activation="relu"), Layer(np.ones((2, 4)))])
    with pytest.raises(ValueError, match=r"^The network is not calibrated: "
                                         r"call calibrate\(X_cal\) first$"):
        net.golden(np.ones(3))
    with pytest.raises(ValueError, match=r"^The network is not calibrated: "
                                         r"call calibrate\(X_cal\) first$"):
        net.quantized
    with pytest.raises(ValueError, match=r"^X_cal must be finite, but X_cal\[1, 2\] is inf$"):
        net.calibrate([[0, 0, 0], [0, 0, np.inf]])
    with pytest.raises(ValueError, match=r"^X_cal must hold at least one input$"):
        net.calibrate(np.zeros((0, 3)))
    assert not net.calibrated and net.calibrate(rng.normal(size=(8, 3))) is net
    assert net.calibrated
    with pytest.raises(ValueError, match=r"^X has 4 inputs, but the network takes 3$"):
        net.golden(np.ones(4))
    with pytest.raises(ValueError, match=r"^X must be one input \(K,\) or a batch \(B, K\), "
                                         r"not shape \(1, 1, 3\)$"):
        net.float(np.ones((1, 1, 3)))
    with pytest.raises(ValueError, match=r"^X must be finite, but X\[0\] is nan$"):
        net.golden([np.nan, 0, 0])
    with pytest.raises(ValueError, match=r"^output must be 'int8' or 'int32', not 'int16'$"):
        net.golden(np.ones(3), output="int16")
    with pytest.raises(TypeError, match=r"^Xq must be integers, not float64$"):
        net.golden_int(np.ones(3))
    with pytest.raises(ValueError, match=r"^Xq must be INT8 values from -127 to 127, "
                                         r"not -128 to 0$"):
        net.golden_int(np.array([-128, 0, 0]))
    inf = Network([Layer(np.ones((2, 3)), activation=lambda v: np.where(v > 0, np.inf, v))])
    with pytest.raises(ValueError, match=r"^Layer 0: activation <lambda> is not finite on the "
                                         r"INT8 grid times s_pre = 0\.0236\d+$"):
        inf.calibrate(np.ones((1, 3)))
