"""Imported models: a graph of tensor ops whose matrix products run on the accelerator, in
resident segments, and whose other ops run on the host in NumPy.

A :class:`Model` is a list of :class:`Node` s in topological order, each naming its inputs.
A :class:`MatMul` node is offloaded: a ``Linear``/``Gemm``/``MatMul`` by a constant, or a
``Conv2d``/``Conv`` lowered to a matrix product by im2col (the patches of the images are the
rows of the batch; groups, strides, padding and dilation handled: a grouped convolution is a
block-diagonal matrix, whose zeros the accelerator never spends a cycle on), with its
elementwise activation (the on-chip table) and any BatchNorm after it folded in. Every other
node is a :class:`HostOp`: a NumPy function of its inputs, exact (float64) and documented in
:data:`HOST_OPS`.

Runs of offloaded nodes with nothing between them (each the only consumer of the one before,
each taking the one before's output rows as they are: linear after linear) form one
*segment*, a :class:`host.network.Network` resident on the accelerator as one run a batch.
The integer rule is the network's, per segment: a segment quantizes its input with its own
static scale and gives its last layer's INT8 outputs dequantized; the host ops between work on
those float values, in float64, in the golden model exactly as around the accelerator, so the
two agree bit for bit.
"""

from dataclasses import dataclass, field

import numpy as np

from .network import Layer, Network


__all__ = ["Node", "MatMul", "HostOp", "Model", "HOST_OPS", "UnsupportedOp", "im2col",
           "conv_matrix", "max_pool2d", "avg_pool2d", "softmax", "to_numpy", "like_input",
           "fuse"]


class UnsupportedOp(ValueError):
    """An op that neither the accelerator nor the host runs; names the op and the node."""
    def __init__(self, op, node, detail=""):
        super().__init__(f"Op {op!r} of node {node!r} is not supported"
                         + (f": {detail}" if detail else ""))
        self.op, self.node = op, node


@dataclass
class Node:
    """One node of a :class:`Model`: its ``name`` (the source graph's), the ``op`` it was
    (``"Linear"``, ``"Conv"``, ``"relu"``...), and the names of its ``inputs``."""
    name: str
    op: str
    inputs: list


@dataclass
class MatMul(Node):
    """An offloaded matrix product: ``activation(x @ weight.T + bias)`` on the rows of its
    input, ``weight`` (M, K) float64.

    ``conv`` is None for a linear on the input's last axis, or for a 2-D convolution the dict
    ``{"in_channels", "out_channels", "kernel": (kh, kw), "stride", "padding" (top, left,
    bottom, right), "dilation", "groups"}``: the input (N, C, H, W) is lowered by
    :func:`im2col` to rows (N * H' * W', C * kh * kw) and the output rows reshaped to
    (N, M, H', W'). ``pattern``, ``sparsity`` and ``scores`` prune it as a
    :class:`host.network.Layer` does; ``activation`` as there.
    """
    weight: np.ndarray = None
    bias: np.ndarray = None
    conv: dict = None
    activation: object = None
    activation_op: str = None
    pattern: object = None
    sparsity: float = None
    scores: object = None

    def rows(self, x):
        """The input tensor as the matrix's rows, and what :meth:`unrows` needs."""
        if self.conv is None:
            return x.reshape(-1, x.shape[-1]), x.shape[:-1]
        c = self.conv
        patches, size = im2col(x, c["kernel"], c["stride"], c["padding"], c["dilation"])
        return patches, (x.shape[0],) + size

    def unrows(self, y, shape):
        if self.conv is None:
            return y.reshape(*shape, y.shape[-1])
        n, height, width = shape
        return y.reshape(n, height, width, -1).transpose(0, 3, 1, 2)


@dataclass
class HostOp(Node):
    """An op on the host: ``function(*inputs)`` on float64 NumPy arrays. An elementwise
    activation carries ``activation`` (what a :class:`host.network.Layer` takes: a name, a
    pair such as ``("prelu", slope)`` or a callable), a batch normalisation ``affine``
    (``(scale, shift)`` per channel, axis 1), so that :func:`fuse` can fold them into the
    matrix product before them."""
    function: object = None
    doc: str = ""
    activation: object = None
    affine: tuple = None


def im2col(x, kernel, stride, padding, dilation):
    """The patches of images ``x`` (N, C, H, W): rows (N * H' * W', C * kh * kw), channel
    major then kernel row then column (PyTorch's and ONNX's weight order), and (H', W')."""
    kh, kw = kernel
    sh, sw = stride
    top, left, bottom, right = padding
    dh, dw = dilation
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    n, c, h, w = x.shape
    out_h = (h - dh * (kh - 1) - 1) // sh + 1
    out_w = (w - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"A {kh}x{kw} kernel does not fit an input of {h}x{w} (padded)")
    cols = np.empty((n, c, kh, kw, out_h, out_w), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i * dh:i * dh + sh * out_h:sh,
                                 j * dw:j * dw + sw * out_w:sw][:, :, :out_h, :out_w]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, c * kh * kw), \
        (out_h, out_w)


def conv_matrix(weight, groups):
    """A convolution's weight (O, C / groups, kh, kw) as one matrix (O, C * kh * kw):
    block-diagonal for ``groups > 1``."""
    out_channels, per_group = weight.shape[:2]
    kernel = weight.shape[2] * weight.shape[3]
    matrix = np.zeros((out_channels, groups * per_group * kernel))
    step = out_channels // groups
    for group in range(groups):
        rows = slice(group * step, (group + 1) * step)
        matrix[rows, group * per_group * kernel:(group + 1) * per_group * kernel] = \
            weight[rows].reshape(step, -1)
    return matrix


def _pool(x, kernel, stride, padding, reduce, pad_value):
    kh, kw = kernel
    sh, sw = stride
    top, left, bottom, right = padding
    x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=pad_value)
    n, c, h, w = x.shape
    out_h, out_w = (h - kh) // sh + 1, (w - kw) // sw + 1
    windows = np.stack([x[:, :, i:i + sh * out_h:sh, j:j + sw * out_w:sw][:, :, :out_h, :out_w]
                        for i in range(kh) for j in range(kw)])
    return reduce(windows, axis=0)


def _ceil_extra(size, before, kernel, stride):
    """Padding past the end that ``ceil_mode`` adds on one axis: PyTorch's and ONNX's rule,
    ``ceil((size + pads - kernel) / stride) + 1`` windows, less the last if it would start
    past the input and its leading padding."""
    span = size + before[0] + before[1] - kernel
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + before[0]:
        out -= 1
    return max(0, (out - 1) * stride + kernel - (size + before[0] + before[1]))


def max_pool2d(x, kernel, stride, padding=(0, 0, 0, 0), ceil_mode=False):
    """Max pooling of (N, C, H, W); ``ceil_mode`` keeps a last partial window (as PyTorch
    and ONNX do), padding the bottom and right with -inf."""
    if ceil_mode:
        extra_h = _ceil_extra(x.shape[2], (padding[0], padding[2]), kernel[0], stride[0])
        extra_w = _ceil_extra(x.shape[3], (padding[1], padding[3]), kernel[1], stride[1])
        padding = (padding[0], padding[1], padding[2] + extra_h, padding[3] + extra_w)
    return _pool(x, kernel, stride, padding, np.max, -np.inf)


def avg_pool2d(x, kernel, stride, padding=(0, 0, 0, 0)):
    """Average pooling of (N, C, H, W), zero padding counted."""
    return _pool(x, kernel, stride, padding, np.mean, 0.0)


def softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


#: The ops the host runs, by name, with what they compute (float64 NumPy).
HOST_OPS = {
    "max_pool2d": "max over each window; ceil_mode pads with -inf",
    "avg_pool2d": "mean over each window, zero padding counted",
    "adaptive_avg_pool2d": "mean over each of the output's bins (PyTorch's bin edges)",
    "flatten": "reshape from a start axis",
    "reshape": "reshape (view, reshape, permute and transpose likewise)",
    "softmax": "exp(x - max) / sum, along an axis",
    "add": "elementwise sum (residual adds), broadcasting",
    "mul": "elementwise product, broadcasting",
    "concat": "concatenation along an axis",
    "identity": "dropout and other ops that do nothing at inference",
    "relu, relu6, gelu, sigmoid, tanh, leaky_relu, prelu": "an elementwise activation that "
        "does not follow an offloaded product (or is not its only consumer)",
    "prelu_per_channel": "PReLU with a slope per channel (axis 1): no single table",
    "batch_norm": "x * scale + shift per channel (axis 1), where it follows no product",
    "clip": "clip to a range other than ReLU6's", "mean": "mean over axes",
    "transpose, squeeze, unsqueeze, shape, gather, cast": "as NumPy does them",
    "sub, div": "elementwise difference and quotient, broadcasting",
    "constant": "a tensor of the model (PyTorch get_attr)",
    "layer_norm": "(x - mean) / sqrt(var + eps) * weight + bias over the last axes",
    "matmul": "a product of two computed tensors (attention's)",
}


@dataclass
class _Segment:
    """A run of offloaded linear-chained :class:`MatMul` nodes: its :class:`Network`."""
    nodes: list
    network: Network = None


class Model:
    """An imported model: nodes in topological order, ``inputs`` (names of the graph's
    inputs: one) and ``outputs`` (the names of its outputs: one, or several, returned as a
    tuple). Its segments are found
    when it is made; :meth:`calibrate` fixes their scales from float inputs."""

    def __init__(self, nodes, inputs, outputs):
        self.nodes = list(nodes)
        if len(inputs) != 1:
            raise ValueError(f"A model takes one input, not {len(inputs)}")
        self.inputs, self.outputs = list(inputs), list(outputs)
        names = set(self.inputs)
        for node in self.nodes:
            for name in node.inputs:
                if name not in names:
                    raise ValueError(f"Node {node.name!r} reads {name!r} before it is made")
            names.add(node.name)
        for name in self.outputs:
            if name not in names:
                raise ValueError(f"The model's output {name!r} is no node of it")
        self.segments = self._segments()

    def _consumers(self):
        consumers = {}
        for node in self.nodes:
            for name in node.inputs:
                consumers.setdefault(name, []).append(node.name)
        for name in self.outputs:
            consumers.setdefault(name, []).append(None)
        return consumers

    def _segments(self):
        consumers = self._consumers()
        segments, by_node = [], {}
        for node in self.nodes:
            if not isinstance(node, MatMul):
                continue
            source = node.inputs[0]
            before = by_node.get(source)
            if (before is not None and node.conv is None and before.nodes[-1].name == source
                    and consumers.get(source) == [node.name]):
                before.nodes.append(node)
                by_node[node.name] = before
            else:
                segment = _Segment([node])
                segments.append(segment)
                by_node[node.name] = segment
        for segment in segments:
            segment.network = Network([
                Layer(node.weight, node.bias, pattern=node.pattern, sparsity=node.sparsity,
                      scores=node.scores, activation=node.activation)
                for node in segment.nodes])
        return segments

    @property
    def calibrated(self):
        return all(segment.network.calibrated for segment in self.segments)

    # Running.

    def _run(self, x, segment_run):
        """Runs the graph on ``x``; ``segment_run(segment, rows)`` gives a segment's output
        rows. Returns the outputs."""
        values = {self.inputs[0]: x}
        first = {segment.nodes[0].name: segment for segment in self.segments}
        inside = {node.name for segment in self.segments for node in segment.nodes[1:]}
        for node in self.nodes:
            if node.name in inside:
                continue
            if node.name in first:
                segment = first[node.name]
                rows, shape = node.rows(values[node.inputs[0]])
                out = segment_run(segment, rows)
                values[segment.nodes[-1].name] = segment.nodes[-1].unrows(out, shape)
            else:
                values[node.name] = node.function(*(values[name] for name in node.inputs))
        result = [values[name] for name in self.outputs]
        return result[0] if len(result) == 1 else tuple(result)

    def _check(self, x, name="X"):
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be numeric, not {x.dtype}")
        x = x.astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError(f"{name} holds NaN or infinite values")
        return x

    def float(self, x):
        """The float model: pruned weights, no quantization."""
        source = x
        x = self._check(to_numpy(x))
        return like_input(self._run(x, lambda segment, rows: segment.network.float(rows)),
                          source)

    def calibrate(self, x_cal):
        """Fix every segment's static scales from the float model on ``x_cal``; returns the
        model."""
        x = self._check(to_numpy(x_cal), "X_cal")
        seen = {}

        def record(segment, rows):
            seen[id(segment)] = rows
            return segment.network.float(rows)

        self._run(x, record)
        for segment in self.segments:
            segment.network.calibrate(seen[id(segment)])
        return self

    def golden(self, x):
        """The integer model: every segment bit-exact as the accelerator runs it, the host
        ops between in float64."""
        source = x
        x = self._check(to_numpy(x))
        return like_input(self._run(x, lambda segment, rows: segment.network.golden(rows)),
                          source)

    def table(self):
        """Which op runs where: ``(node, op, "accelerator" or "host", segment index)``."""
        where = {node.name: index for index, segment in enumerate(self.segments)
                 for node in segment.nodes}
        return [(node.name, node.op, "accelerator" if node.name in where else "host",
                 where.get(node.name)) for node in self.nodes]

    def __repr__(self):
        return (f"Model({len(self.nodes)} nodes, {len(self.segments)} segments on the "
                f"accelerator)")


def to_numpy(x):
    """An input as a NumPy array: a torch tensor is detached and copied from its device (fp16
    and bf16 upcast, sparse made dense), a ``scipy.sparse`` matrix made dense."""
    from .network import _tensor_array
    return _tensor_array(x)


def like_input(y, x):
    """The outputs ``y`` (an array or a tuple of them) as ``x`` came: float32 torch tensors on
    its device for a torch tensor, else float64 NumPy arrays."""
    if isinstance(y, tuple):
        return tuple(like_input(item, x) for item in y)
    if hasattr(x, "detach") and hasattr(x, "device"):
        import torch
        return torch.from_numpy(np.asarray(y, dtype=np.float32)).to(x.device)
    return y


#: Elementwise activations a :class:`MatMul` takes as its table, by the importers' op names.
FUSABLE = ("relu", "relu6", "gelu", "sigmoid", "tanh", "leaky_relu", "prelu")


def fuse(nodes, outputs):
    """The importers' last step: each elementwise activation (a :class:`HostOp` with an
    ``activation`` attribute: the :class:`host.network.Layer` activation it stands for) whose
    input is a :class:`MatMul` with no activation and no other consumer becomes that
    MatMul's activation; and each ``batch_norm`` (attribute ``affine``: ``(scale, shift)``
    per channel) right after such a MatMul is folded into its weights and bias. Returns the
    nodes; ``outputs`` (a list) is updated in place where an output was fused away."""
    nodes = list(nodes)
    while True:
        consumers = {}
        for node in nodes:
            for name in node.inputs:
                consumers.setdefault(name, []).append(node)
        for name in outputs:
            consumers.setdefault(name, []).append(None)
        by_name = {node.name: node for node in nodes}
        for node in nodes:
            if not isinstance(node, HostOp) or len(node.inputs) != 1:
                continue
            source = by_name.get(node.inputs[0])
            if (not isinstance(source, MatMul) or source.activation is not None
                    or consumers.get(source.name) != [node]):
                continue
            if getattr(node, "activation", None) is not None:
                source.activation, source.activation_op = node.activation, node.op
            elif getattr(node, "affine", None) is not None and \
                    np.size(node.affine[0]) == len(source.weight):
                # A normalisation of axis 1 after a convolution (its channels) or a linear on
                # rows (N, M): the importers set ``affine`` only there.
                scale, shift = node.affine
                scale = np.asarray(scale, dtype=np.float64)
                source.weight = source.weight * scale[:, None]
                bias = 0.0 if source.bias is None else source.bias
                source.bias = bias * scale + np.asarray(shift, dtype=np.float64)
                source.op = f"{source.op}+BatchNorm"
            else:
                continue
            # The fused node's consumers (and the outputs) read the MatMul instead.
            nodes = [item for item in nodes if item is not node]
            for item in nodes:
                item.inputs = [source.name if name == node.name else name
                               for name in item.inputs]
            outputs[:] = [source.name if name == node.name else name for name in outputs]
            break
        else:
            return nodes
