"""Networks of chained layers: the float model, the calibration and the bit-exact integer model.

A :class:`Network` is a list of :class:`Layer` s, each ``f(W x + b)`` with ``W`` (M, K)
pruned to a pattern and ``f`` an elementwise activation. :meth:`Network.calibrate` runs the
float model (pruned weights, no quantization) on calibration inputs and fixes one static scale
per tensor, as full-integer TFLite does:

- ``s_in`` of layer ``l``: ``max|input| / 127`` of its input (the network's input for layer 0,
  the previous layer's output, after its activation, otherwise);
- ``s_pre``: ``max|W x + b| / 127`` of its pre-activation output;
- ``s_out``: the next layer's ``s_in``, or for the last layer the network's output scale
  ``max|f(W x + b)| / 127``.

A maximum of zero (a tensor that is zero on every calibration input) gives the scale 1.0.
Every scale is float64.

The integer rule
----------------
What the accelerator computes, per layer and output row ``i``, with ``acc_width`` 32:

1. Weights: ``q, s_w = host.quant.quantize_weights(pruned W)``, per row,
   ``s_w[i] = max|W[i, :]| / 127`` and ``q = clip(rint(W / s_w), -127, 127)``. A row of zeros
   (``s_w[i] = 0``) takes ``s_w[i] = s_pre / s_in`` instead, so that its multiplier is 1 and its
   output the requantized bias.
2. Inputs: layer 0 takes ``xq = clip(rint(x / s_in), -127, 127)`` (``rint`` rounds half to even,
   in float64); a later layer takes the previous layer's INT8 output as it is.
3. Bias: ``bias_q[i] = clip(rint(b[i] / (s_w[i] * s_in)), -2**31, 2**31 - 1)``, 0 without a
   bias.
4. Sum: ``acc[i] = wrap32(sum_k q[i, k] * xq[k] + bias_q[i])``, exact integers wrapped to
   signed 32 bits (:func:`host.golden.wrap`).
5. Requantization: the real multiplier ``M_i = s_w[i] * s_in / s_pre`` becomes a multiplier
   ``m`` (16 bits unsigned, ``2**15 <= m < 2**16``) and a shift ``n`` (0 to 63): ``n`` is the
   largest shift with ``m = rint(M_i * 2**n) < 2**16`` (:func:`requantization`). If that
   shift is not in 0..63, that is unless ``(2**15 - 1/4) / 2**63 <= M_i < 2**16 - 1/2``,
   :class:`ValueError` names the layer and the row. Then ``y = (acc * m + 2**(n - 1)) >> n``
   for ``n > 0`` and ``y = acc * m`` for ``n = 0``, an arithmetic (flooring) shift of the
   exact product (which fits in 48 bits signed), so ``y`` is ``acc * m / 2**n`` rounded half
   up; then ``y = clip(y, -127, 127)``.
6. Activation: a table of 256 INT8 entries, entry ``v + 128`` for value ``v``:
   ``table[v + 128] = clip(rint(f(v * s_pre) / s_out), -127, 127)`` for ``v`` in -127..127,
   computed in float64, and ``table[0]`` (``v = -128``, never produced) equal to
   ``table[1]``. ``f`` is the identity for no activation. The output is
   ``z[i] = table[y[i] + 128]``.
7. The network's output is ``z * s_out`` of the last layer; or, with ``output="int32"``, the
   last layer's sums ``acc * s_w * s_in`` (the bias is in ``acc``), for a consumer on the host.

All of it is NumPy on integers (int64) after the scales are chosen, bit-exact and
deterministic: the hardware (:mod:`hw.output`) is bit-exact to it.

The error of the requantization
-------------------------------
``n`` being the largest shift with ``rint(M * 2**n) < 2**16``, ``M * 2**(n + 1)`` rounds to at
least ``2**16``, so ``M * 2**n >= 2**15 - 1/4``. Where ``M * 2**n >= 2**15``,
``|M * 2**n - m| <= 1/2 <= M * 2**n * 2**-16``; below, ``m = 2**15`` and the difference is at
most 1/4. So ``|M - m / 2**n| <= M * 2**-16``: the multiplier's relative error is at most
``2**-16`` (its absolute error at most ``2**-(n + 1)``), and
``|acc * m / 2**n - acc * M| <= |acc * M| * 2**-16``.

Hence ``y`` before the clamp is within ``1/2 + |acc * M| * 2**-16`` of the real ``acc * M``.
After the clamp, ``y`` differs from ``clip(round_half_up(acc * M), -127, 127)`` by at most 1,
and only when ``acc * M`` lies within ``127 * 2**-16 < 2**-9`` of a
half-integer from -126.5 to 126.5 (the only points where the clamped rounding changes; any
farther from them, both round the same way or both clamp). The activation table then rounds
once more, to half a step of ``s_out``.
"""

import math
from dataclasses import dataclass

import numpy as np

from hw.layouts import MULTIPLIER_WIDTH, SHIFT_WIDTH

from .golden import golden_matvec, wrap
from .patterns import Pattern, parse_pattern, prune
from .quant import check_finite, quantize_weights


__all__ = ["ACTIVATIONS", "Layer", "Network", "QuantizedLayer", "LayerResult",
           "weights_and_bias", "requantization", "requantize", "activation_table"]


#: The largest INT8 magnitude: values are symmetric, -127..127.
QUANT_MAX = 127

#: Bits of the accumulators and of a row's bias.
ACC_WIDTH = 32

#: The largest requantization shift the output stage takes.
MAX_SHIFT = (1 << SHIFT_WIDTH) - 1


def _erf(x):
    from scipy.special import erf
    return erf(x)


def _sigmoid(x):
    small = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, small) / (1.0 + small)


#: The activations by name: NumPy functions applied elementwise.
ACTIVATIONS = {
    "relu":       lambda v: np.maximum(v, 0.0),
    "relu6":      lambda v: np.clip(v, 0.0, 6.0),
    "gelu":       lambda v: 0.5 * v * (1.0 + _erf(v / math.sqrt(2.0))),
    "sigmoid":    _sigmoid,
    "tanh":       np.tanh,
    "leaky_relu": lambda v: np.where(v < 0, 0.01 * v, v),
}

#: The values an elementwise activation is probed on: the INT8 grid, in a fixed shuffled
#: order (so that a sort or a cumulative sum does not pass for elementwise).
_PROBE = np.random.default_rng(14).permutation(np.arange(-QUANT_MAX, QUANT_MAX + 1)) * 1.0


def _identity(v):
    return v


def _sloped(slope):
    return lambda v: np.where(v < 0, slope * v, v)


def _callable_name(function):
    return getattr(function, "__name__", None) or repr(function)


def _check_elementwise(function, name):
    """Refuse a callable that is not elementwise on the probe vector (1-D and 2-D)."""
    whole = np.asarray(function(_PROBE.copy()), dtype=np.float64)
    if whole.shape != _PROBE.shape:
        raise ValueError(f"Activation {name} is not elementwise: it maps shape "
                         f"{_PROBE.shape} to {whole.shape}")
    alone = np.concatenate([np.asarray(function(_PROBE[i:i + 1].copy()),
                                       dtype=np.float64).reshape(-1)[:1]
                            for i in range(len(_PROBE))])
    square = np.asarray(function(_PROBE.reshape(15, 17).copy()), dtype=np.float64)
    if (alone.shape != whole.shape or square.shape != (15, 17)
            or not np.allclose(whole, alone, rtol=1e-12, atol=1e-12, equal_nan=True)
            or not np.allclose(square.reshape(-1), whole, rtol=1e-12, atol=1e-12,
                               equal_nan=True)):
        raise ValueError(f"Activation {name} is not elementwise: on a vector it gives "
                         f"other values than on each element alone")


def _activation(activation):
    """``(name, function)`` of an activation given as None, a name, a pair or a callable."""
    if activation is None:
        return "identity", _identity
    if isinstance(activation, str):
        if activation in ACTIVATIONS:
            return activation, ACTIVATIONS[activation]
        if activation == "prelu":
            raise ValueError("Activation 'prelu' needs a slope: pass ('prelu', slope)")
        raise ValueError(f"Unknown activation {activation!r}; expected None, "
                         f"{', '.join(map(repr, ACTIVATIONS))}, ('prelu', slope) or a callable")
    if isinstance(activation, tuple):
        if (len(activation) != 2 or activation[0] not in ("prelu", "leaky_relu")
                or isinstance(activation[1], bool)
                or not isinstance(activation[1], (int, float, np.integer, np.floating))):
            raise ValueError(f"A sloped activation is ('prelu', slope) or ('leaky_relu', "
                             f"slope) with a real slope, not {activation!r}")
        slope = float(activation[1])
        if not math.isfinite(slope):
            raise ValueError(f"Activation slope must be finite, not {slope!r}")
        return f"{activation[0]}({slope!r})", _sloped(slope)
    if callable(activation):
        name = _callable_name(activation)
        _check_elementwise(activation, name)
        return name, activation
    raise TypeError(f"Activation must be a name, ('prelu', slope) or a callable, "
                    f"not {activation!r}")


def _tensor_array(value):
    """A torch tensor (dense or sparse, any float type, any device, with or without a
    gradient), a ``scipy.sparse`` matrix or an array-like, as a NumPy array; fp16 and bf16
    are upcast to float64. torch is not imported."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach()
        if getattr(value, "is_sparse", False) or str(getattr(value, "layout", "")) not in (
                "", "torch.strided"):
            value = value.to_dense()
        if getattr(getattr(value, "dtype", None), "is_floating_point", False):
            value = value.double()
        return np.asarray(value.cpu().numpy())
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        return value.toarray()
    return np.asarray(value)


def weights_and_bias(layer):
    """The weight matrix and bias of a matrix or a ``torch.nn.Linear`` (bias None for a
    matrix), checked: a numeric matrix (M, K) of finite values. A matrix may be a NumPy
    array, a torch tensor (sparse too; fp16 and bf16 upcast) or a ``scipy.sparse`` matrix.
    torch is not imported."""
    if hasattr(layer, "weight") and hasattr(layer, "in_features"):
        weights = _tensor_array(layer.weight)
        bias = None if layer.bias is None else _tensor_array(layer.bias)
    else:
        weights, bias = _tensor_array(layer), None
    weights = np.asarray(weights)
    if weights.dtype.kind not in "fiu":
        raise TypeError(f"weights must be numeric, not {weights.dtype}")
    if weights.ndim != 2:
        raise ValueError(f"weights must be a matrix (M, K), not shape {weights.shape}")
    check_finite("weights", np.asarray(weights, dtype=np.float64))
    return weights, bias


class Layer:
    """One layer of a :class:`Network`: ``activation(W x + b)``.

    ``weights`` is a matrix (M, K), float or integer, or a ``torch.nn.Linear`` (its bias is
    taken too); ``bias`` (M,) or None. ``pattern``, ``sparsity`` and ``scores`` are those of
    :func:`host.patterns.prune`; with no pattern, exactly the non-zero weights given are kept
    (``pattern`` is ``unstructured``, ``pattern_given`` false), and the accelerator that
    loads the layer runs them in their cheapest format
    (:func:`host.planner.cheapest_pattern`). ``activation`` is None (the identity), a name of
    :data:`ACTIVATIONS` (``"leaky_relu"`` has the slope 0.01), ``("prelu", slope)`` (or
    ``("leaky_relu", slope)``), or a NumPy callable applied elementwise: it is refused if on
    the INT8 grid values (-127..127 as float64) it gives another shape, or as one vector (or a
    15 x 17 matrix) other values than on each value alone, beyond a relative 1e-12.

    Attributes: ``weights`` (the pruned matrix, of the given dtype), ``bias`` (float64 or
    None), ``pattern`` (a :class:`host.patterns.Pattern`), ``activation`` (the function),
    ``activation_name``; ``shape`` is (M, K).
    """
    def __init__(self, weights, bias=None, pattern=None, sparsity=None, scores=None,
                 activation=None):
        weights, own_bias = weights_and_bias(weights)
        if own_bias is not None:
            if bias is not None:
                raise ValueError("The torch.nn.Linear has its own bias; do not pass bias=")
            bias = own_bias
        if bias is not None:
            bias = np.asarray(bias)
            if bias.dtype.kind not in "fiu":
                raise TypeError(f"bias must be numeric, not {bias.dtype}")
            if bias.shape != (weights.shape[0],):
                raise ValueError(f"bias must have one value per output row "
                                 f"({weights.shape[0]},), not shape {bias.shape}")
            bias = bias.astype(np.float64)
            check_finite("bias", bias)
        # With no pattern, the accelerator that loads the layer runs it in its cheapest
        # format (host.planner.cheapest_pattern); ``pattern`` is then unstructured, which
        # carries any weights.
        self.pattern_given = pattern is not None
        if pattern is None:
            if sparsity is not None or scores is not None:
                raise ValueError("sparsity and scores need a pattern")
            self.pattern = parse_pattern("unstructured")
            self.weights = np.array(weights)
        else:
            self.pattern = parse_pattern(pattern)
            self.weights = prune(weights, self.pattern, sparsity=sparsity, scores=scores)
        self.weights.setflags(write=False)
        self.bias = bias
        self.activation_name, self.activation = _activation(activation)

    @property
    def shape(self):
        return self.weights.shape

    def float(self, x):
        """The float model of the layer on inputs (B, K): ``activation(x @ W.T + b)``."""
        return self.activation(self.pre_activation(x))

    def pre_activation(self, x):
        """``x @ W.T + b`` in float64 on inputs (B, K)."""
        pre = x @ self.weights.astype(np.float64).T
        return pre if self.bias is None else pre + self.bias

    def __repr__(self):
        return (f"Layer({self.shape[0]}x{self.shape[1]}, pattern={self.pattern.name!r}, "
                f"activation={self.activation_name!r})")


def requantization(multiplier):
    """The multiplier ``m`` and shift ``n`` that stand for a real multiplier ``M > 0``.

    ``n`` is the largest shift with ``m = rint(M * 2**n) < 2**16``; then
    ``2**15 <= m < 2**16`` and ``|M - m / 2**n| <= M * 2**-16``. ``ValueError`` if that
    shift is not in 0..63: ``M`` must lie in ``[(2**15 - 1/4) / 2**63, 2**16 - 1/2)``.
    """
    multiplier = float(multiplier)
    top = 1 << MULTIPLIER_WIDTH
    if not (multiplier > 0 and math.isfinite(multiplier)
            and np.rint(multiplier) < top
            and np.rint(math.ldexp(multiplier, MAX_SHIFT + 1)) >= top):
        raise ValueError(f"Requantization multiplier {multiplier!r} is out of range: m / 2**n "
                         f"with m of {MULTIPLIER_WIDTH} bits and n from 0 to {MAX_SHIFT} "
                         f"covers [(2**15 - 1/4) / 2**63, 2**16 - 1/2)")
    # M = f * 2**e with 1/2 <= f < 1: M * 2**(16 - e) is in [2**15, 2**16), unless it rounds
    # up to 2**16, in which case one shift less.
    _, exponent = math.frexp(multiplier)
    shift = MULTIPLIER_WIDTH - exponent
    if np.rint(math.ldexp(multiplier, shift)) >= top:
        shift -= 1
    return int(np.rint(math.ldexp(multiplier, shift))), shift


def requantize(acc, multiplier, shift):
    """``clip((acc * m + 2**(n - 1)) >> n, -127, 127)`` (``acc * m`` for ``n = 0``), in int64,
    for sums ``acc`` (..., M) and per-row ``multiplier`` and ``shift`` (M,)."""
    acc = np.asarray(acc, dtype=np.int64)
    multiplier = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    half = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    return np.clip((acc * multiplier + half) >> shift, -QUANT_MAX, QUANT_MAX)


def activation_table(function, s_pre, s_out):
    """The 256-entry INT8 table of an activation (entry ``v + 128`` for value ``v``):
    ``clip(rint(f(v * s_pre) / s_out), -127, 127)``, and entry 0 equal to entry 1."""
    grid = np.arange(-QUANT_MAX, QUANT_MAX + 1, dtype=np.float64)
    values = np.asarray(function(grid * s_pre), dtype=np.float64)
    check_finite("activation", values)
    entries = np.clip(np.rint(values / s_out), -QUANT_MAX, QUANT_MAX).astype(np.int8)
    return np.concatenate([entries[:1], entries])


def _frozen(array):
    array = np.array(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    """The integer parameters of one layer, what the accelerator holds for it.

    ``q`` (M, K) int8, the pruned weights quantized per row; ``pattern`` the
    :class:`host.patterns.Pattern` they were pruned to; ``bias`` (M,) int32; ``multiplier``
    (M,) and ``shift`` (M,) the requantization (16 bits unsigned, 0 to 63); ``table`` (256,)
    int8, entry ``v + 128`` for value ``v``; the float64 scales ``s_w`` (M,) and ``s_in``,
    ``s_pre``, ``s_out``; ``pattern_given`` false when the layer was given no pattern (a
    placement then takes its cheapest format). The arrays are read-only.
    """
    q: np.ndarray
    pattern: Pattern
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    table: np.ndarray
    s_w: np.ndarray
    s_in: float
    s_pre: float
    s_out: float
    pattern_given: bool = True

    def run(self, xq):
        """The layer on INT8 inputs (B, K): ``(acc, y, z)``, the sums with the bias, the
        requantized values before the table and the outputs, each (B, M) int64."""
        acc = wrap(golden_matvec(self.q, xq, ACC_WIDTH) + self.bias.astype(np.int64),
                   ACC_WIDTH)
        y = requantize(acc, self.multiplier, self.shift)
        return acc, y, self.table.astype(np.int64)[y + 128]


@dataclass(frozen=True, eq=False)
class LayerResult:
    """One layer of :meth:`Network.golden_int`: ``sums`` (the INT32 sums, bias included),
    ``requantized`` (before the table) and ``outputs`` (INT8), each (B, M) int64."""
    sums: np.ndarray
    requantized: np.ndarray
    outputs: np.ndarray


def _scale(values):
    """``max|values| / 127``, or 1.0 for a maximum of zero."""
    top = float(np.abs(values).max(initial=0))
    return top / QUANT_MAX if top > 0 else 1.0


class Network:
    """A chain of :class:`Layer` s, layer ``i``'s M the inputs K of layer ``i + 1``.

    The float model (:meth:`float`) needs nothing more; the integer model (:meth:`golden`,
    :meth:`golden_int`, :attr:`quantized`) needs :meth:`calibrate` first.
    """
    def __init__(self, layers):
        layers = tuple(layers)
        if not layers:
            raise ValueError("A network needs at least one layer")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Layer {index} must be a host.network.Layer, not {layer!r}")
            if index and layer.shape[1] != layers[index - 1].shape[0]:
                raise ValueError(f"Layer {index} takes {layer.shape[1]} inputs, but layer "
                                 f"{index - 1} gives {layers[index - 1].shape[0]} outputs")
        self.layers = layers
        self._quantized = None
        self.output_scale = None

    @property
    def inputs(self):
        """K of the first layer."""
        return self.layers[0].shape[1]

    @property
    def outputs(self):
        """M of the last layer."""
        return self.layers[-1].shape[0]

    @property
    def calibrated(self):
        return self._quantized is not None

    def _batch(self, x, name):
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be numeric, not {x.dtype}")
        if x.ndim not in (1, 2):
            raise ValueError(f"{name} must be one input (K,) or a batch (B, K), "
                             f"not shape {x.shape}")
        if x.shape[-1] != self.inputs:
            raise ValueError(f"{name} has {x.shape[-1]} inputs, but the network takes "
                             f"{self.inputs}")
        x = x.astype(np.float64)
        check_finite(name, x)
        return np.atleast_2d(x), x.ndim == 1

    def float(self, x):
        """The float model (pruned weights, no quantization): (B, K) or (K,) to (B, M) or
        (M,)."""
        x, single = self._batch(x, "X")
        for layer in self.layers:
            x = layer.float(x)
        return x[0] if single else x

    def calibrate(self, x_cal):
        """Set the static scales from the float model on ``x_cal`` (B, K), and the integer
        parameters of every layer (:attr:`quantized`). Returns the network."""
        x, _ = self._batch(x_cal, "X_cal")
        if not len(x):
            raise ValueError("X_cal must hold at least one input")
        inputs, pres = [], []
        for layer in self.layers:
            inputs.append(_scale(x))
            pre = layer.pre_activation(x)
            pres.append(_scale(pre))
            x = layer.activation(pre)
        outputs = inputs[1:] + [_scale(x)]
        self._quantized = tuple(self._quantize(index, layer, s_in, s_pre, s_out)
                                for index, (layer, s_in, s_pre, s_out)
                                in enumerate(zip(self.layers, inputs, pres, outputs)))
        self.output_scale = outputs[-1]
        return self

    @staticmethod
    def _quantize(index, layer, s_in, s_pre, s_out):
        q, s_w = quantize_weights(layer.weights, QUANT_MAX)
        s_w = np.where(s_w == 0, s_pre / s_in, s_w.astype(np.float64))
        bias = np.zeros(len(q)) if layer.bias is None else layer.bias
        limit = 1 << (ACC_WIDTH - 1)
        bias_q = np.clip(np.rint(bias / (s_w * s_in)), -limit, limit - 1)
        pairs = []
        for row, scale in enumerate(s_w):
            try:
                pairs.append(requantization(scale * s_in / s_pre))
            except ValueError as error:
                raise ValueError(f"Layer {index} row {row}: {error}") from None
        multiplier, shift = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
        try:
            table = activation_table(layer.activation, s_pre, s_out)
        except ValueError:
            raise ValueError(f"Layer {index}: activation {layer.activation_name} is not "
                             f"finite on the INT8 grid times s_pre = {s_pre!r}") from None
        return QuantizedLayer(
            q=_frozen(q.astype(np.int8)), pattern=layer.pattern,
            bias=_frozen(bias_q.astype(np.int32)), multiplier=_frozen(multiplier),
            shift=_frozen(shift), table=_frozen(table), s_w=_frozen(s_w),
            s_in=s_in, s_pre=s_pre, s_out=s_out, pattern_given=layer.pattern_given)

    @property
    def quantized(self):
        """The :class:`QuantizedLayer` of every layer, from the calibration."""
        if self._quantized is None:
            raise ValueError("The network is not calibrated: call calibrate(X_cal) first")
        return self._quantized

    def quantize_input(self, x):
        """The network's INT8 input: ``clip(rint(x / s_in), -127, 127)`` of layer 0, int64,
        (B, K) or (K,)."""
        s_in = self.quantized[0].s_in
        x, single = self._batch(x, "X")
        xq = np.clip(np.rint(x / s_in), -QUANT_MAX, QUANT_MAX).astype(np.int64)
        return xq[0] if single else xq

    def golden_int(self, xq):
        """The integer model on INT8 inputs ``xq`` (B, K) or (K,): a :class:`LayerResult`
        per layer, each (B, M) or (M,)."""
        layers = self.quantized
        xq = np.asarray(xq)
        if xq.dtype.kind not in "iu":
            raise TypeError(f"Xq must be integers, not {xq.dtype}")
        self._batch(xq, "Xq")
        if xq.size and np.abs(xq.astype(np.int64)).max() > QUANT_MAX:
            raise ValueError(f"Xq must be INT8 values from -{QUANT_MAX} to {QUANT_MAX}, "
                             f"not {int(xq.min())} to {int(xq.max())}")
        single = xq.ndim == 1
        z = np.atleast_2d(xq).astype(np.int64)
        results = []
        for layer in layers:
            acc, y, z = layer.run(z)
            results.append(LayerResult(*(v[0] if single else v for v in (acc, y, z))))
        return results

    def golden(self, x, output="int8"):
        """The integer model, dequantized: (B, K) or (K,) to (B, M) or (M,) float64.

        ``output="int8"``: the last layer's INT8 outputs times its ``s_out``; ``"int32"``: its
        sums times ``s_w * s_in``, before requantization and activation.
        """
        if output not in ("int8", "int32"):
            raise ValueError(f"output must be 'int8' or 'int32', not {output!r}")
        last = self.quantized[-1]
        result = self.golden_int(self.quantize_input(x))[-1]
        if output == "int32":
            return result.sums * (last.s_w * last.s_in)
        return result.outputs * last.s_out

    def __repr__(self):
        return f"Network([{', '.join(map(repr, self.layers))}])"
