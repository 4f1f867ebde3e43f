"""ONNX graphs as imported models: :func:`from_onnx` reads an ONNX graph and gives a
:class:`host.model.Model`, its matrix products on the accelerator and the rest on the host.

Each ONNX node becomes at most one node of the model, named after the ONNX node's output
tensor, so that the model's nodes read the ONNX tensor names; errors name the ONNX node (its
``name``, or its first output where it has none) and its op. What each op becomes is in
:data:`ONNX_OPS`:

- ``Gemm`` and ``MatMul`` by a constant matrix, and 2-D ``Conv`` with constant weights, are
  :class:`~host.model.MatMul` nodes (ops ``"Gemm"``, ``"MatMul"``, ``"Conv"``);
- elementwise activations and inference ``BatchNormalization`` are :class:`~host.model.HostOp`
  s that :func:`~host.model.fuse` folds into the product before them where it can;
- pooling, reshapes, softmax, elementwise arithmetic and concatenation are host ops, float64
  NumPy;
- ``Identity`` and ``Dropout`` are no node at all: their output is their input.

Constants (initializers and ``Constant`` nodes) are folded: a node whose inputs are all
constants is evaluated in NumPy as the graph is read and its output is a constant in turn, so
that shape arithmetic (``Shape`` of a constant, ``Gather``, ``Concat`` into a ``Reshape``)
costs nothing at run time. A host op's constant operands are closed over in its function; its
``inputs`` are the computed tensors alone. Nodes that no output of the graph depends on are
dropped. Any other op, another domain than ONNX's own, or a node whose second output is
used, raises :class:`~host.model.UnsupportedOp`.
"""

import math
import os

import numpy as np

from .model import (HostOp, MatMul, Model, UnsupportedOp, avg_pool2d, conv_matrix, fuse,
                    max_pool2d, softmax)
from .network import ACTIVATIONS


__all__ = ["from_onnx", "ONNX_OPS"]


def from_onnx(model, *, pattern=None, sparsity=None, scores=None, plan=None):
    """The :class:`~host.model.Model` of an ONNX graph.

    ``model`` is a path to an ``.onnx`` file, its bytes, or an ``onnx.ModelProto``. The graph
    takes one input (its inputs that are not initializers) and gives one or more outputs.

    ``pattern``, ``sparsity`` and ``scores`` prune every :class:`~host.model.MatMul` as a
    :class:`host.network.Layer` does; ``scores`` is one array for all of them (of each
    one's weight shape) or a dict of arrays by node name (the ONNX node's name or our node's,
    its output tensor), the others taking the weights' magnitudes. ``plan`` (a
    :class:`host.planner.Plan` whose layers are named the same way, made on this model's
    weights) gives each of its layers the plan's pruned weights and pattern instead; the
    layers it does not name stay as they are. A ``plan`` excludes the other three.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as error:
        raise ImportError("from_onnx needs the package 'onnx': pip install onnx") from error
    if plan is not None and (pattern is not None or sparsity is not None
                             or scores is not None):
        raise ValueError("Pass either plan= or pattern=, sparsity= and scores=, not both")
    proto = _load(onnx, model)
    graph = _Graph(onnx, numpy_helper, proto)
    nodes = graph.read()
    outputs = graph.outputs()
    nodes = _live(nodes, outputs)
    nodes = fuse(nodes, outputs)
    products = [node for node in nodes if isinstance(node, MatMul)]
    labels = {node.name: graph.labels[node.name] for node in products}
    if plan is not None:
        _apply_plan(plan, products, labels)
    else:
        by_name = _by_name("scores", scores, products, labels) if isinstance(scores, dict) \
            else None
        for node in products:
            node.pattern, node.sparsity = pattern, sparsity
            node.scores = by_name.get(node.name) if by_name is not None else scores
    return Model(nodes, [graph.input], outputs)


def _load(onnx, model):
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray, memoryview)):
        return onnx.load_from_string(bytes(model))
    if isinstance(model, (str, os.PathLike)):
        return onnx.load(os.fspath(model))
    raise TypeError(f"An ONNX model is a path, bytes or an onnx.ModelProto, not {model!r}")


def _live(nodes, outputs):
    """The nodes some output depends on, in their order."""
    live, kept = set(outputs), []
    for node in reversed(nodes):
        if node.name in live:
            kept.append(node)
            live.update(node.inputs)
    return kept[::-1]


def _by_name(what, mapping, products, labels):
    """``mapping`` (keyed by ONNX node names or our node names) keyed by our node names;
    ``ValueError`` for a key that names no matrix product."""
    names = {}
    for node in products:
        names[node.name] = names[labels[node.name]] = node.name
    unknown = [key for key in mapping if key not in names]
    if unknown:
        raise ValueError(f"{what}= names {unknown[0]!r}, which is no matrix product of the "
                         f"model; its matrix products are "
                         f"{', '.join(repr(labels[node.name]) for node in products) or 'none'}")
    return {names[key]: value for key, value in mapping.items()}


def _apply_plan(plan, products, labels):
    from .planner import Plan
    if not isinstance(plan, Plan):
        raise TypeError(f"plan must be a host.planner.Plan, not {plan!r}")
    keys = _by_name("plan", {key: key for key in plan.layers}, products, labels)
    for node in products:
        if node.name not in keys:
            continue
        key = keys[node.name]
        weights = np.asarray(plan.weights(key), dtype=np.float64)
        if weights.shape != node.weight.shape:
            raise ValueError(f"The plan's layer {key!r} has weights of shape {weights.shape}, "
                             f"but the model's has {node.weight.shape}")
        choice = plan.choice(key).choice
        node.weight, node.pattern, node.sparsity = weights, choice.pattern, choice.sparsity


class _Graph:
    """An ONNX graph being read: its constants, the tensors that stand for others, and the
    model's nodes made so far."""

    def __init__(self, onnx, numpy_helper, proto):
        self.onnx, self.numpy_helper = onnx, numpy_helper
        opsets = [entry.version for entry in proto.opset_import
                  if entry.domain in ("", "ai.onnx")]
        if not opsets:
            raise ValueError("The ONNX model imports no opset of the default domain")
        self.opset = max(opsets)
        self.proto = proto.graph
        self.constants = {init.name: numpy_helper.to_array(init)
                          for init in self.proto.initializer}
        inputs = [value.name for value in self.proto.input if value.name not in self.constants]
        if len(inputs) != 1:
            raise ValueError(f"A model takes one input, but the ONNX graph takes "
                             f"{len(inputs)}: {', '.join(map(repr, inputs)) or 'none'}")
        self.input = inputs[0]
        for node in self.proto.node:
            label = _label(node)
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedOp(node.op_type, label, f"it is of domain {node.domain!r}")
            if node.op_type not in _HANDLERS:
                raise UnsupportedOp(node.op_type, label)
        try:
            inferred = onnx.shape_inference.infer_shapes(proto).graph
        except onnx.shape_inference.InferenceError:
            # The shapes only help (SAME padding, folding a batch norm); the graph's own
            # value_info is what is known then.
            inferred = self.proto
        self.shapes = self._shapes(inferred)
        self.alias = {}
        self.computed = {self.input}
        self.producers = {}
        self.labels = {}
        self.used = {name for node in self.proto.node for name in node.input}
        self.used.update(value.name for value in self.proto.output)

    @staticmethod
    def _shapes(graph):
        shapes = {}
        for value in list(graph.input) + list(graph.value_info) + list(graph.output):
            tensor = value.type.tensor_type
            if tensor.HasField("shape"):
                shapes[value.name] = tuple(dim.dim_value if dim.HasField("dim_value") else None
                                           for dim in tensor.shape.dim)
        return shapes

    def shape(self, name):
        """The static shape of a tensor, with None for the sizes that are not known; None if
        not even its rank is."""
        return self.shapes.get(name)

    def operand(self, name, label):
        """A node's input: None if absent, its array if constant, else the name of the model
        tensor it is."""
        if not name:
            return None
        name = self.alias.get(name, name)
        if name in self.constants:
            return self.constants[name]
        if name not in self.computed:
            raise ValueError(f"Node {label!r} reads {name!r}, which is neither an input, an "
                             f"initializer nor an output of a node before it")
        return name

    def read(self):
        """The model's nodes, one per ONNX node that computes at run time."""
        nodes = []
        for proto in self.proto.node:
            handler = _HANDLERS[proto.op_type]
            node = _Node(self, proto)
            for extra in proto.output[1:]:
                if extra and extra in self.used:
                    raise node.unsupported(f"its output {extra!r} is used; only the first "
                                           f"output of a node is")
            result = handler(node)
            if isinstance(result, _Alias):
                if isinstance(result.of, str):
                    self.alias[node.output] = result.of
                else:
                    self.constants[node.output] = np.asarray(result.of)
                continue
            if isinstance(result, _Host):
                if not any(isinstance(arg, str) for arg in result.args):
                    self.constants[node.output] = np.asarray(result.function(*result.args))
                    continue
                result = HostOp(node.output, result.op,
                                [arg for arg in result.args if isinstance(arg, str)],
                                function=_bind(result.function, result.args), doc=result.doc,
                                activation=result.activation, affine=result.affine)
            nodes.append(result)
            self.computed.add(node.output)
            self.producers[node.output] = result
            self.labels[node.output] = node.label
        return nodes

    def outputs(self):
        outputs = []
        for value in self.proto.output:
            name = self.alias.get(value.name, value.name)
            if name in self.constants:
                raise ValueError(f"The graph's output {value.name!r} is a constant; a model's "
                                 f"outputs are computed")
            outputs.append(name)
        if not outputs:
            raise ValueError("The ONNX graph has no output")
        return outputs


class _Node:
    """One ONNX node as the handlers see it: ``op``, ``label`` (for messages), ``output``
    (the name of our node), ``operands`` (None, a constant array or a computed tensor's
    name, per input), ``attrs`` and the graph's ``opset``."""

    def __init__(self, graph, proto):
        self.graph = graph
        self.op = proto.op_type
        self.label = _label(proto)
        if not proto.output or not proto.output[0]:
            raise ValueError(f"Node {self.label!r} ({self.op}) has no output")
        self.output = proto.output[0]
        self.opset = graph.opset
        self.operands = [graph.operand(name, self.label) for name in proto.input]
        self.attrs = {attribute.name: _attribute(graph, attribute)
                      for attribute in proto.attribute}

    def unsupported(self, detail=""):
        return UnsupportedOp(self.op, self.label, detail)

    def input(self, index):
        return self.operands[index] if index < len(self.operands) else None

    def constant(self, index, what):
        """Input ``index`` as a constant array (None if absent); :class:`UnsupportedOp` if
        it is computed."""
        value = self.input(index)
        if isinstance(value, str):
            raise self.unsupported(f"its {what} is computed; only a constant {what} is taken")
        return value

    def ints(self, name, default, count=None):
        """An attribute as a tuple of ints; ``ValueError`` unless it has ``count`` of them."""
        values = tuple(int(value) for value in self.attrs.get(name, default))
        if count is not None and len(values) != count:
            raise ValueError(f"{self.op} {self.label!r}: {name} {list(values)} are not "
                             f"{count} values")
        return values


def _label(proto):
    """What messages call an ONNX node: its name, or its first output where it has none."""
    return proto.name or (proto.output[0] if proto.output else "")


def _attribute(graph, attribute):
    value = graph.onnx.helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, graph.onnx.TensorProto):
        return graph.numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [item.decode() for item in value]
    return value


class _Alias:
    """A handler's answer for an op whose output is its input (``of``: a name or an array)."""
    def __init__(self, of):
        self.of = of


class _Host:
    """A handler's answer for a host op: ``function(*args)``, each arg a constant array or a
    computed tensor's name; evaluated at once if every arg is constant."""
    def __init__(self, op, function, args, doc, activation=None, affine=None):
        self.op, self.function, self.args, self.doc = op, function, list(args), doc
        self.activation, self.affine = activation, affine


def _bind(function, args):
    """``function`` of ``args`` as a function of the computed ones alone, in their order,
    the constants closed over."""
    computed = [index for index, arg in enumerate(args) if isinstance(arg, str)]
    args = list(args)

    def run(*values):
        full = list(args)
        for index, value in zip(computed, values):
            full[index] = value
        return function(*full)
    return run


_HANDLERS = {}


def _handles(*ops):
    def register(handler):
        for op in ops:
            _HANDLERS[op] = handler
        return handler
    return register


# Matrix products.

@_handles("Gemm")
def _gemm(node):
    """A ``"Gemm"`` MatMul: ``alpha * A @ B' + beta * C``, ``B`` a constant matrix (either
    ``transB``), ``C`` a constant bias (one value, or one per output); ``transA`` 0 only."""
    a, b, c = node.input(0), node.input(1), node.input(2)
    alpha, beta = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    if trans_a:
        raise node.unsupported("transA=1; only A as it is (transA=0) is offloaded")
    if not isinstance(a, str):
        if isinstance(b, str) or isinstance(c, str):
            raise node.unsupported("A is a constant; only a product of a computed A by a "
                                   "constant B is offloaded")

        def gemm(a, b, c=None):
            y = alpha * (a @ (b.T if trans_b else b))
            return y if c is None else y + beta * c
        return _Host("gemm", gemm, [a, b] + ([] if c is None else [c]), "Gemm of constants")
    b = node.constant(1, "B")
    if b.ndim != 2:
        raise node.unsupported(f"B has shape {b.shape}; only a matrix is offloaded")
    weight = alpha * np.asarray(b if trans_b else b.T, dtype=np.float64)
    outputs = weight.shape[0]
    c = node.constant(2, "C")
    bias = None
    if c is not None:
        c = beta * np.asarray(c, dtype=np.float64)
        if c.size == 1:
            bias = np.full(outputs, c.reshape(-1)[0])
        elif c.shape in ((outputs,), (1, outputs)):
            bias = c.reshape(outputs)
        else:
            raise node.unsupported(f"C has shape {c.shape}, not one bias per output "
                                   f"({outputs},)")
    node.graph.shapes.setdefault(node.output, (None, outputs))
    return MatMul(node.output, "Gemm", [a], weight=weight, bias=bias)


@_handles("MatMul")
def _matmul(node):
    """A ``"MatMul"`` MatMul for ``x @ W``, ``W`` a constant matrix (the weight is ``W.T``);
    any other product (of two computed tensors, or by a constant on the left) is the host's
    ``matmul``."""
    a, b = node.input(0), node.input(1)
    if isinstance(a, str) and not isinstance(b, str) and b.ndim == 2:
        return MatMul(node.output, "MatMul", [a], weight=np.asarray(b.T, dtype=np.float64))
    return _Host("matmul", np.matmul, [a, b], "matrix product (NumPy's matmul)")


@_handles("Conv")
def _conv(node):
    """A ``"Conv"`` MatMul: a 2-D convolution with constant weights and bias, any
    ``strides``, ``pads``, ``dilations`` and ``group``, lowered by im2col; ``auto_pad``
    ``SAME_UPPER``/``SAME_LOWER`` where the input's size is known (or the stride is 1)."""
    x = node.input(0)
    weight = node.constant(1, "weight")
    if not isinstance(x, str):
        raise node.unsupported("its input is a constant; only a convolution of a computed "
                               "input is offloaded")
    if weight.ndim != 4:
        raise node.unsupported(f"it is a {weight.ndim - 2}-D convolution; only 2-D ones are "
                               f"offloaded")
    groups = int(node.attrs.get("group", 1))
    out_channels, per_group, kh, kw = weight.shape
    if groups < 1 or out_channels % groups:
        raise ValueError(f"Conv {node.label!r}: {out_channels} output channels do not split "
                         f"into {groups} groups")
    kernel = node.ints("kernel_shape", (kh, kw), 2)
    if kernel != (kh, kw):
        raise ValueError(f"Conv {node.label!r}: kernel_shape {kernel} is not the weight's "
                         f"{(kh, kw)}")
    stride = node.ints("strides", (1, 1), 2)
    dilation = node.ints("dilations", (1, 1), 2)
    shape = node.graph.shape(x)
    size = shape[2:] if shape is not None and len(shape) == 4 else (None, None)
    padding = _padding(node, kernel, stride, dilation, size)
    bias = node.constant(2, "bias")
    if bias is not None:
        bias = np.asarray(bias, dtype=np.float64).reshape(out_channels)
    conv = {"in_channels": per_group * groups, "out_channels": out_channels,
            "kernel": kernel, "stride": stride, "padding": padding, "dilation": dilation,
            "groups": groups}
    return MatMul(node.output, "Conv", [x], conv=conv, bias=bias,
                  weight=conv_matrix(np.asarray(weight, dtype=np.float64), groups))


def _padding(node, kernel, stride, dilation, size):
    """``(top, left, bottom, right)`` of a 2-D window op from ``pads`` and ``auto_pad``;
    ``size`` (height, width) may hold None where unknown."""
    mode = node.attrs.get("auto_pad", "NOTSET")
    if mode == "NOTSET":
        return node.ints("pads", (0, 0, 0, 0), 4)
    if mode == "VALID":
        return (0, 0, 0, 0)
    if mode not in ("SAME_UPPER", "SAME_LOWER"):
        raise node.unsupported(f"auto_pad {mode!r}")
    begin, end = [], []
    for length, k, s, d in zip(size, kernel, stride, dilation):
        if s == 1:
            total = (k - 1) * d
        elif length is None:
            raise node.unsupported(f"auto_pad {mode} with a stride of {s} needs the input's "
                                   f"size, which is not known")
        else:
            total = max((-(-length // s) - 1) * s + (k - 1) * d + 1 - length, 0)
        small = total // 2
        begin.append(small if mode == "SAME_UPPER" else total - small)
        end.append(total - begin[-1])
    return (begin[0], begin[1], end[0], end[1])


# Elementwise activations: what host.network.Layer takes, so that fuse() can put them in the
# table of the product before them.

_NAMED = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh"}


@_handles(*_NAMED)
def _named_activation(node):
    """An elementwise activation (``relu``, ``sigmoid``, ``tanh``) that :func:`fuse` puts in
    the table of the product before it."""
    name = _NAMED[node.op]
    return _Host(name, ACTIVATIONS[name], [node.input(0)], _ACTIVATION_DOCS[name],
                 activation=name)


_ACTIVATION_DOCS = {
    "relu": "max(x, 0)",
    "relu6": "min(max(x, 0), 6)",
    "sigmoid": "1 / (1 + exp(-x))",
    "tanh": "tanh(x)",
    "gelu": "x * Phi(x), Phi the normal distribution function",
}


def _sloped(slope):
    def sloped(x, slope=slope):
        return np.where(x < 0, slope * x, x)
    return sloped


@_handles("LeakyRelu")
def _leaky_relu(node):
    """``leaky_relu`` with the node's ``alpha`` (0.01 by default), fused like the others."""
    slope = float(node.attrs.get("alpha", 0.01))
    return _Host("leaky_relu", _sloped(slope), [node.input(0)], f"x < 0 ? {slope!r} x : x",
                 activation=("leaky_relu", slope))


@_handles("PRelu")
def _prelu(node):
    """``prelu``: with one slope an activation fused like the others; with a slope per
    channel (broadcast against the input as NumPy does: (C, 1, 1) for images) a host op."""
    x, slope = node.input(0), node.input(1)
    if not isinstance(slope, str) and slope.size == 1:
        value = float(slope.reshape(-1)[0])
        return _Host("prelu", _sloped(value), [x], f"x < 0 ? {value!r} x : x",
                     activation=("prelu", value))

    def prelu(x, slope):
        return np.where(x < 0, slope * x, x)
    return _Host("prelu", prelu, [x, slope], "x < 0 ? slope x : x, a slope per channel")


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


@_handles("Gelu")
def _gelu(node):
    """``gelu`` (opset 20): ``approximate="none"`` fused like the others; ``"tanh"`` a host
    op."""
    approximate = node.attrs.get("approximate", "none")
    if approximate == "none":
        return _Host("gelu", ACTIVATIONS["gelu"], [node.input(0)], _ACTIVATION_DOCS["gelu"],
                     activation="gelu")
    if approximate == "tanh":
        return _Host("gelu", _gelu_tanh, [node.input(0)],
                     "x / 2 (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))")
    raise node.unsupported(f"approximate={approximate!r}")


@_handles("Clip")
def _clip(node):
    """``relu6`` for the range 0 to 6 and ``relu`` for 0 up, fused like the others; any
    other range a host ``clip``."""
    x = node.input(0)
    if node.opset < 11:
        low = np.asarray(node.attrs.get("min", -np.inf))
        high = np.asarray(node.attrs.get("max", np.inf))
    else:
        low, high = node.input(1), node.input(2)
    if not isinstance(low, str) and not isinstance(high, str):
        low = -np.inf if low is None else float(np.asarray(low).reshape(-1)[0])
        high = np.inf if high is None else float(np.asarray(high).reshape(-1)[0])
        for name, (start, stop) in (("relu6", (0.0, 6.0)), ("relu", (0.0, np.inf))):
            if (low, high) == (start, stop):
                return _Host(name, ACTIVATIONS[name], [x], _ACTIVATION_DOCS[name],
                             activation=name)

        def clip(x):
            return np.clip(x, low, high)
        return _Host("clip", clip, [x], f"min(max(x, {low!r}), {high!r})")

    has_low, has_high = low is not None, high is not None

    def clip(x, *bounds):
        bounds = list(bounds)
        lower = bounds.pop(0) if has_low else -np.inf
        upper = bounds.pop(0) if has_high else np.inf
        return np.clip(x, lower, upper)
    args = [x] + [bound for bound in (low, high) if bound is not None]
    return _Host("clip", clip, args, "min(max(x, low), high), the bounds computed")


@_handles("BatchNormalization")
def _batch_norm(node):
    """``batch_norm`` (inference): ``x * scale + shift`` per channel (axis 1), with
    ``scale = gamma / sqrt(var + epsilon)`` and ``shift = beta - mean * scale``; folded into
    the product before it where that product's outputs are the channels (a convolution, or a
    linear with 2-D outputs)."""
    if int(node.attrs.get("training_mode", 0)):
        raise node.unsupported("training_mode=1; only inference is taken")
    x = node.input(0)
    gamma, beta, mean, var = (np.asarray(node.constant(index, what), dtype=np.float64)
                              for index, what in ((1, "scale"), (2, "bias"), (3, "mean"),
                                                  (4, "variance")))
    epsilon = float(node.attrs.get("epsilon", 1e-5))
    scale = gamma / np.sqrt(var + epsilon)
    shift = beta - mean * scale

    def batch_norm(x):
        channels = (-1,) + (1,) * (x.ndim - 2)
        return x * scale.reshape(channels) + shift.reshape(channels)
    producer = node.graph.producers.get(x) if isinstance(x, str) else None
    shape = node.graph.shape(x) if isinstance(x, str) else None
    foldable = not (isinstance(producer, MatMul) and producer.conv is None
                    and (shape is None or len(shape) != 2))
    return _Host("batch_norm", batch_norm, [x], f"x * scale + shift over {len(scale)} "
                 f"channels (axis 1)", affine=(scale, shift) if foldable else None)


# Pooling.

def _window(node):
    """``kernel``, ``stride`` and ``ceil_mode`` of a 2-D pooling node."""
    kernel = node.ints("kernel_shape", ())
    if len(kernel) != 2:
        raise node.unsupported(f"kernel_shape {list(kernel)}; only 2-D pooling is taken")
    if node.ints("dilations", (1, 1)) != (1, 1):
        raise node.unsupported(f"dilations {list(node.ints('dilations', ()))}; only 1 is "
                               f"taken in pooling")
    return kernel, node.ints("strides", (1, 1), 2), bool(node.attrs.get("ceil_mode", 0))


def _pool_padding(node, kernel, stride, ceil_mode):
    """A function of the input's (height, width) giving the pooling's padding and, for
    ``ceil_mode``, the rows and columns added at the bottom and right to keep the last
    partial windows (those that start inside the input or its top and left padding)."""
    mode = node.attrs.get("auto_pad", "NOTSET")
    if mode not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise node.unsupported(f"auto_pad {mode!r}")
    fixed = None if mode.startswith("SAME") else _padding(node, kernel, stride, (1, 1), None)

    def padding(size):
        pads = fixed if fixed is not None else _padding(node, kernel, stride, (1, 1), size)
        extra = [0, 0]
        if ceil_mode:
            for axis in range(2):
                begin, end = pads[axis], pads[axis + 2]
                padded = size[axis] + begin + end
                count = -(-(padded - kernel[axis]) // stride[axis]) + 1
                if (count - 1) * stride[axis] >= size[axis] + begin:
                    count -= 1
                extra[axis] = max(0, (count - 1) * stride[axis] + kernel[axis] - padded)
        return pads, tuple(extra)
    return padding


@_handles("MaxPool")
def _max_pool(node):
    """``max_pool2d``: ``kernel_shape``, ``strides``, ``pads`` (or ``auto_pad``) and
    ``ceil_mode``."""
    kernel, stride, ceil_mode = _window(node)
    padding = _pool_padding(node, kernel, stride, ceil_mode)

    def pool(x):
        (top, left, bottom, right), (extra_h, extra_w) = padding(x.shape[2:])
        return max_pool2d(x, kernel, stride, (top, left, bottom + extra_h, right + extra_w))
    return _Host("max_pool2d", pool, [node.input(0)],
                 f"max over {kernel[0]}x{kernel[1]} windows, stride {stride}"
                 + (", ceil_mode" if ceil_mode else ""))


@_handles("AveragePool")
def _avg_pool(node):
    """``avg_pool2d``: as ``max_pool2d``, the padding counted in the mean with
    ``count_include_pad=1`` and not with 0 (the default); the rows ``ceil_mode`` adds are
    never counted."""
    kernel, stride, ceil_mode = _window(node)
    padding = _pool_padding(node, kernel, stride, ceil_mode)
    count_pad = bool(node.attrs.get("count_include_pad", 0))

    def pool(x):
        (top, left, bottom, right), (extra_h, extra_w) = padding(x.shape[2:])
        full = (top, left, bottom + extra_h, right + extra_w)
        means = avg_pool2d(x, kernel, stride, full)
        if count_pad and not (extra_h or extra_w):
            return means
        counted = np.ones((1, 1) + x.shape[2:])
        if count_pad:
            counted = np.pad(counted, ((0, 0), (0, 0), (top, bottom), (left, right)),
                             constant_values=1.0)
            full = (0, 0, extra_h, extra_w)
        return means / avg_pool2d(counted, kernel, stride, full)
    return _Host("avg_pool2d", pool, [node.input(0)],
                 f"mean over {kernel[0]}x{kernel[1]} windows, stride {stride}, padding "
                 f"{'' if count_pad else 'not '}counted" + (", ceil_mode" if ceil_mode else ""))


@_handles("GlobalAveragePool")
def _global_avg_pool(node):
    """``adaptive_avg_pool2d`` to one value per channel: the mean over the axes from 2 on,
    kept as size 1."""
    def pool(x):
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)
    return _Host("adaptive_avg_pool2d", pool, [node.input(0)], "mean over each channel")


@_handles("ReduceMean")
def _reduce_mean(node):
    """``mean`` over ``axes`` (an attribute before opset 18, an input from it), ``keepdims``
    (1 by default); no axes: all of them, or none with ``noop_with_empty_axes``."""
    axes = node.attrs.get("axes") if node.opset < 18 else node.constant(1, "axes")
    keep = bool(node.attrs.get("keepdims", 1))
    if axes is None and node.attrs.get("noop_with_empty_axes", 0):
        return _Alias(node.input(0))
    axes = None if axes is None else tuple(int(axis) for axis in np.reshape(axes, -1))

    def mean(x):
        return np.mean(x, axis=axes, keepdims=keep)
    return _Host("mean", mean, [node.input(0)], f"mean over axes {axes}")


# Shapes.

@_handles("Flatten")
def _flatten(node):
    """``flatten``: the axes before ``axis`` (1 by default) into one, and those from it."""
    axis = int(node.attrs.get("axis", 1))

    def flatten(x):
        start = axis + x.ndim if axis < 0 else axis
        return x.reshape(math.prod(x.shape[:start]), math.prod(x.shape[start:]))
    return _Host("flatten", flatten, [node.input(0)], f"flatten from axis {axis}")


@_handles("Reshape")
def _reshape(node):
    """``reshape`` to the shape input: 0 keeps the input's size at that index (unless
    ``allowzero``), -1 takes what is left."""
    allow_zero = bool(node.attrs.get("allowzero", 0))

    def reshape(x, shape):
        shape = [int(size) for size in np.reshape(shape, -1)]
        if not allow_zero:
            shape = [x.shape[index] if size == 0 else size for index, size in enumerate(shape)]
        return np.reshape(x, shape)
    return _Host("reshape", reshape, [node.input(0), node.input(1)], "reshape")


@_handles("Transpose")
def _transpose(node):
    """``transpose`` by ``perm`` (the axes reversed by default)."""
    perm = node.attrs.get("perm")
    perm = None if perm is None else tuple(int(axis) for axis in perm)

    def transpose(x):
        return np.transpose(x, perm)
    return _Host("transpose", transpose, [node.input(0)], f"transpose by {perm}")


def _axes(node):
    """A node's ``axes``: the attribute before opset 13, the input from it; None if absent."""
    axes = node.attrs.get("axes") if node.opset < 13 else node.constant(1, "axes")
    if axes is None:
        return None
    return tuple(int(axis) for axis in np.reshape(axes, -1))


@_handles("Squeeze")
def _squeeze(node):
    """``squeeze`` of ``axes`` (all axes of size 1 without)."""
    axes = _axes(node)

    def squeeze(x):
        return np.squeeze(x, axis=axes)
    return _Host("squeeze", squeeze, [node.input(0)], f"squeeze axes {axes}")


@_handles("Unsqueeze")
def _unsqueeze(node):
    """``unsqueeze``: axes of size 1 inserted at ``axes`` (of the output)."""
    axes = _axes(node)
    if axes is None:
        raise ValueError(f"Unsqueeze {node.label!r} has no axes")

    def unsqueeze(x):
        return np.expand_dims(x, axes)
    return _Host("unsqueeze", unsqueeze, [node.input(0)], f"unsqueeze axes {axes}")


@_handles("Shape")
def _shape(node):
    """``shape``: the input's shape (from ``start`` to ``end``) as int64; a constant where
    the input is one."""
    start, end = node.attrs.get("start", 0), node.attrs.get("end")

    def shape(x):
        return np.array(np.shape(x)[start:end], dtype=np.int64)
    return _Host("shape", shape, [node.input(0)], "shape")


@_handles("Gather")
def _gather(node):
    """``gather``: the entries of the data at the indices along ``axis`` (0 by default)."""
    axis = int(node.attrs.get("axis", 0))

    def gather(data, indices):
        return np.take(data, np.asarray(indices, dtype=np.int64), axis=axis)
    return _Host("gather", gather, [node.input(0), node.input(1)], f"gather along {axis}")


@_handles("Concat")
def _concat(node):
    """``concat`` of the inputs along ``axis``."""
    axis = int(node.attrs["axis"])

    def concat(*parts):
        return np.concatenate(parts, axis=axis)
    return _Host("concat", concat, node.operands, f"concatenation along {axis}")


@_handles("Cast")
def _cast(node):
    """``cast`` to the type ``to``; floating types are kept as float64, as the host computes
    in float64."""
    target = np.dtype(node.graph.onnx.helper.tensor_dtype_to_np_dtype(int(node.attrs["to"])))
    kind = np.float64 if target.kind == "f" else target

    def cast(x):
        return np.asarray(x).astype(kind)
    return _Host("cast", cast, [node.input(0)], f"cast to {np.dtype(kind)}")


@_handles("Constant")
def _constant(node):
    """A constant, folded: ``value``, ``value_float(s)`` or ``value_int(s)``."""
    for name, dtype in (("value", None), ("value_float", np.float32),
                        ("value_floats", np.float32), ("value_int", np.int64),
                        ("value_ints", np.int64)):
        if name in node.attrs:
            return _Alias(np.asarray(node.attrs[name], dtype=dtype))
    raise node.unsupported(f"a constant of {', '.join(node.attrs) or 'no value'}")


@_handles("Identity")
def _identity(node):
    """No node: the output is the input."""
    return _Alias(node.input(0))


@_handles("Dropout")
def _dropout(node):
    """No node at inference: the output is the input (``training_mode`` must be false)."""
    training = node.constant(2, "training_mode")
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        raise node.unsupported("training_mode is true; only inference is taken")
    return _Alias(node.input(0))


# Arithmetic.

def _divide(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))
    return a / b


_ARITHMETIC = {"Add": ("add", np.add, "a + b"), "Sub": ("sub", np.subtract, "a - b"),
               "Mul": ("mul", np.multiply, "a * b"), "Div": ("div", _divide, "a / b")}


@_handles(*_ARITHMETIC)
def _arithmetic(node):
    """``add``, ``sub``, ``mul``, ``div``: elementwise, broadcasting as NumPy does (integer
    division truncates)."""
    op, function, doc = _ARITHMETIC[node.op]
    return _Host(op, function, [node.input(0), node.input(1)], f"{doc}, broadcasting")


@_handles("Softmax")
def _softmax(node):
    """``softmax`` along ``axis``: from opset 13 that axis alone (-1 by default); before, as
    those opsets define it, over the axes from ``axis`` (1 by default) taken as one."""
    if node.opset >= 13:
        axis = int(node.attrs.get("axis", -1))

        def run(x):
            return softmax(x, axis=axis)
    else:
        axis = int(node.attrs.get("axis", 1))

        def run(x):
            start = axis + x.ndim if axis < 0 else axis
            rows = x.reshape(math.prod(x.shape[:start]), -1)
            return softmax(rows, axis=-1).reshape(x.shape)
    return _Host("softmax", run, [node.input(0)], f"softmax along axis {axis}")


def _summary(handler):
    return " ".join(handler.__doc__.split())


#: The ONNX ops :func:`from_onnx` takes, with what each becomes.
ONNX_OPS = {op: _summary(handler) for op, handler in sorted(_HANDLERS.items())}
