"""``from_torch``: a PyTorch ``nn.Module`` traced with ``torch.fx`` into a
:class:`host.model.Model`.

Offloaded: ``nn.Linear``, ``nn.Conv2d`` (zero padding), with the elementwise activation that
follows (``ReLU``, ``ReLU6``, ``GELU``, ``Sigmoid``, ``Tanh``, ``LeakyReLU``, a one-slope
``PReLU``, as modules or as ``torch``/``F`` functions) and a ``BatchNorm`` right after them
folded in. On the host: pooling, ``Flatten``/``view``/``reshape``/``permute``, softmax, layer
norm, residual adds and products, concatenation, dropout (nothing at inference), a
per-channel ``PReLU``, and ``size``. Anything else raises :class:`~host.model.UnsupportedOp`
naming the op and the node.

Weights are read as they are: ``torch.nn.utils.prune`` and ``torch.ao.pruning`` leave zeros
in ``module.weight``, which an unpruned import keeps exactly; or ``pattern=`` /
``sparsity=`` / ``scores=`` prune every offloaded layer on import, and ``plan=`` (a
:class:`host.planner.Plan` made for these layers, by node name) each its own way. fp16 and
bf16 weights are upcast; sparse tensors are made dense.
"""

import math
import operator

import numpy as np

from .model import (HostOp, MatMul, Model, UnsupportedOp, avg_pool2d, conv_matrix, fuse,
                    max_pool2d, softmax)
from .network import ACTIVATIONS


__all__ = ["from_torch"]


def _array(tensor):
    if tensor is None:
        return None
    tensor = tensor.detach()
    if getattr(tensor, "is_sparse", False) or getattr(tensor, "layout", None) not in (
            None, __import__("torch").strided):
        tensor = tensor.to_dense()
    return tensor.cpu().double().numpy()


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _activation_op(name, kind, function, activation=None):
    return HostOp(name=name, op=kind, inputs=[], function=function, activation=activation,
                  doc="elementwise activation")


def _sloped(slope):
    return lambda v: np.where(v < 0, slope * v, v)


def _adaptive_avg_pool2d(x, size):
    out_h, out_w = _pair(size)
    n, c, h, w = x.shape
    out_h = h if out_h is None else out_h
    out_w = w if out_w is None else out_w
    result = np.empty((n, c, out_h, out_w))
    for i in range(out_h):
        top, bottom = (i * h) // out_h, -((-(i + 1) * h) // out_h)
        for j in range(out_w):
            left, right = (j * w) // out_w, -((-(j + 1) * w) // out_w)
            result[:, :, i, j] = x[:, :, top:bottom, left:right].mean(axis=(2, 3))
    return result


def _layer_norm(shape, weight, bias, eps):
    axes = tuple(range(-len(shape), 0))

    def norm(x):
        mean = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + eps)
        if weight is not None:
            y = y * weight
        return y if bias is None else y + bias
    return norm


def _flatten(start=1, end=-1):
    def flatten(x):
        stop = end % x.ndim
        return x.reshape(*x.shape[:start], -1, *x.shape[stop + 1:])
    return flatten


def _weight(module, name="weight"):
    """A module's parameter as its forward pass sees it: torch.nn.utils.prune keeps it as
    ``weight_orig`` times ``weight_mask`` and sets ``weight`` only in a forward pre-hook, so
    that ``module.weight`` is a step old after an optimizer step (torch.ao.pruning's
    parametrizations compute it on access)."""
    if hasattr(module, f"{name}_orig") and hasattr(module, f"{name}_mask"):
        return _array(getattr(module, f"{name}_orig") * getattr(module, f"{name}_mask"))
    return _array(getattr(module, name))


def _module_node(name, module, torch):
    """The node of a module call (inputs filled in by the caller)."""
    nn = torch.nn
    kind = type(module).__name__
    if isinstance(module, nn.Linear):
        return MatMul(name=name, op="Linear", inputs=[], weight=_weight(module),
                      bias=None if module.bias is None else _weight(module, "bias"))
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise UnsupportedOp(kind, name, f"padding_mode {module.padding_mode!r}")
        kernel = _pair(module.kernel_size)
        dilation = _pair(module.dilation)
        padding = module.padding
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            padding = None
            pads = (total[0] // 2, total[1] // 2, total[0] - total[0] // 2,
                    total[1] - total[1] // 2)
        if padding is not None:
            top, left = _pair(padding)
            pads = (top, left, top, left)
        weight = _weight(module)
        return MatMul(name=name, op="Conv2d", inputs=[],
                      weight=conv_matrix(weight, module.groups),
                      bias=None if module.bias is None else _weight(module, "bias"),
                      conv={"in_channels": module.in_channels,
                            "out_channels": module.out_channels, "kernel": kernel,
                            "stride": _pair(module.stride), "padding": pads,
                            "dilation": dilation, "groups": module.groups})
    simple = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh"}
    for cls, activation in simple.items():
        if type(module) is cls:
            return _activation_op(name, activation, ACTIVATIONS[activation], activation)
    if isinstance(module, nn.GELU):
        if module.approximate != "none":
            function = (lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi)
                                                          * (v + 0.044715 * v ** 3))))
            return _activation_op(name, "gelu_tanh", function, function)
        return _activation_op(name, "gelu", ACTIVATIONS["gelu"], "gelu")
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        return _activation_op(name, "leaky_relu", _sloped(slope), ("leaky_relu", slope))
    if isinstance(module, nn.PReLU):
        slopes = _array(module.weight)
        if slopes.size == 1:
            slope = float(slopes.reshape(-1)[0])
            return _activation_op(name, "prelu", _sloped(slope), ("prelu", slope))
        # One slope per channel (axis 1): no single table; the host applies it.
        shape = (1, -1)
        return HostOp(name=name, op="prelu_per_channel", inputs=[],
                      function=lambda x: np.where(
                          x < 0, x * slopes.reshape(shape + (1,) * (x.ndim - 2)), x),
                      doc="PReLU with a slope per channel")
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if module.training:
            raise UnsupportedOp(kind, name, "in training mode: call module.eval() first")
        scale = (_array(module.weight) if module.affine else np.ones(module.num_features)) \
            / np.sqrt(_array(module.running_var) + module.eps)
        shift = (_array(module.bias) if module.affine else 0.0) \
            - _array(module.running_mean) * scale

        def batch_norm(x, scale=scale, shift=shift):
            shape = (1, -1) + (1,) * (x.ndim - 2)
            return x * scale.reshape(shape) + shift.reshape(shape)
        return HostOp(name=name, op="batch_norm", inputs=[], function=batch_norm,
                      affine=(scale, shift), doc="inference batch normalisation")
    if isinstance(module, nn.MaxPool2d):
        if _pair(module.dilation) != (1, 1):
            raise UnsupportedOp(kind, name, "dilated pooling")
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride or module.kernel_size)
        top, left = _pair(module.padding)
        return HostOp(name=name, op="max_pool2d", inputs=[], function=lambda x: max_pool2d(
            x, kernel, stride, (top, left, top, left), module.ceil_mode))
    if isinstance(module, nn.AvgPool2d):
        if module.ceil_mode or not module.count_include_pad:
            raise UnsupportedOp(kind, name, "ceil_mode or count_include_pad=False")
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride or module.kernel_size)
        top, left = _pair(module.padding)
        return HostOp(name=name, op="avg_pool2d", inputs=[],
                      function=lambda x: avg_pool2d(x, kernel, stride, (top, left, top, left)))
    if isinstance(module, nn.AdaptiveAvgPool2d):
        size = module.output_size
        return HostOp(name=name, op="adaptive_avg_pool2d", inputs=[],
                      function=lambda x: _adaptive_avg_pool2d(x, size))
    if isinstance(module, nn.Flatten):
        return HostOp(name=name, op="flatten", inputs=[],
                      function=_flatten(module.start_dim, module.end_dim))
    if isinstance(module, (nn.Dropout, nn.Identity)):
        return HostOp(name=name, op="identity", inputs=[], function=lambda x: x)
    if isinstance(module, nn.Softmax):
        dim = module.dim
        return HostOp(name=name, op="softmax", inputs=[],
                      function=lambda x: softmax(x, -1 if dim is None else dim))
    if isinstance(module, nn.LayerNorm):
        return HostOp(name=name, op="layer_norm", inputs=[], function=_layer_norm(
            module.normalized_shape, _array(module.weight), _array(module.bias), module.eps))
    raise UnsupportedOp(kind, name)


def _function_node(name, target, args, kwargs, torch):
    """The node of a function or method call: ``(node, tensor_args)``, the node's function
    taking the values of the arguments that are graph nodes, in order."""
    F = torch.nn.functional
    fx = torch.fx
    slots = []

    def substitute(value):
        if isinstance(value, fx.Node):
            slots.append(value)
            return _Slot(len(slots) - 1)
        if isinstance(value, (list, tuple)):
            return type(value)(substitute(item) for item in value)
        return value

    args = substitute(args)
    kwargs = {key: substitute(value) for key, value in kwargs.items()}

    def bind(function):
        def call(*values):
            fill = lambda value: (values[value.index] if isinstance(value, _Slot) else
                                  type(value)(fill(v) for v in value)
                                  if isinstance(value, (list, tuple)) else value)
            return function(*fill(args), **{k: fill(v) for k, v in kwargs.items()})
        return call

    activations = {torch.relu: "relu", F.relu: "relu", torch.sigmoid: "sigmoid",
                   F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.relu6: "relu6",
                   "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
    key = target if not isinstance(target, str) else target
    if key in activations and not kwargs.get("inplace"):
        activation = activations[key]
        node = HostOp(name=name, op=activation, inputs=[], activation=activation,
                      function=lambda x: ACTIVATIONS[activation](x), doc="elementwise")
        return node, slots[:1]
    if key is F.gelu:
        if kwargs.get("approximate", "none") != "none":
            raise UnsupportedOp("gelu(approximate='tanh')", name)
        return HostOp(name=name, op="gelu", inputs=[], activation="gelu",
                      function=ACTIVATIONS["gelu"]), slots[:1]
    if key is F.leaky_relu:
        slope = float(args[1] if len(args) > 1 else kwargs.get("negative_slope", 0.01))
        return HostOp(name=name, op="leaky_relu", inputs=[], activation=("leaky_relu", slope),
                      function=_sloped(slope)), slots[:1]

    def numpy_function():
        if key in (operator.add, torch.add, "add"):
            return "add", lambda a, b: np.add(a, b)
        if key in (operator.mul, torch.mul, "mul"):
            return "mul", np.multiply
        if key in (operator.sub, torch.sub, "sub"):
            return "add", np.subtract
        if key in (operator.truediv, torch.div, "div"):
            return "mul", np.divide
        if key in (torch.flatten, "flatten"):
            return "flatten", lambda x, start_dim=0, end_dim=-1: _flatten(start_dim, end_dim)(x)
        if key in ("view", "reshape", torch.reshape):
            return "reshape", lambda x, *shape: x.reshape(
                *(shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list))
                  else shape))
        if key in ("permute", torch.permute):
            return "reshape", lambda x, *dims: np.transpose(
                x, dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims)
        if key in ("transpose", torch.transpose):
            return "reshape", lambda x, a, b: np.swapaxes(x, a, b)
        if key == "dim":
            return "reshape", lambda x: x.ndim
        if key in ("contiguous", "detach", F.dropout, "float", "clone"):
            return "identity", lambda x, *rest, **options: x
        if key == "size":
            return "reshape", lambda x, dim=None: x.shape if dim is None else x.shape[dim]
        if key is operator.getitem:
            return "reshape", lambda x, index: x[index]
        if key is getattr and isinstance(args[1], str) and args[1] in ("shape", "ndim"):
            return "reshape", lambda x, attribute: getattr(x, attribute)
        if key in (torch.cat, torch.concat):
            return "concat", lambda tensors, dim=0: np.concatenate(tensors, axis=dim)
        if key in (torch.softmax, F.softmax, "softmax"):
            return "softmax", lambda x, dim=-1, **options: softmax(x, dim)
        if key in (F.max_pool2d,):
            def pool(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     return_indices=False):
                if _pair(dilation) != (1, 1) or return_indices:
                    raise UnsupportedOp("max_pool2d(dilation or indices)", name)
                top, left = _pair(padding)
                return max_pool2d(x, _pair(kernel_size), _pair(stride or kernel_size),
                                  (top, left, top, left), ceil_mode)
            return "max_pool2d", pool
        if key in (F.avg_pool2d,):
            def pool(x, kernel_size, stride=None, padding=0, ceil_mode=False,
                     count_include_pad=True, divisor_override=None):
                if ceil_mode or not count_include_pad or divisor_override:
                    raise UnsupportedOp("avg_pool2d(options)", name)
                top, left = _pair(padding)
                return avg_pool2d(x, _pair(kernel_size), _pair(stride or kernel_size),
                                  (top, left, top, left))
            return "avg_pool2d", pool
        if key in (F.adaptive_avg_pool2d,):
            return "adaptive_avg_pool2d", _adaptive_avg_pool2d
        if key in (torch.matmul, operator.matmul, "matmul"):
            return "matmul", np.matmul
        return None

    found = numpy_function()
    if found is None:
        raise UnsupportedOp(getattr(target, "__name__", str(target)), name)
    op, function = found
    return HostOp(name=name, op=op, inputs=[], function=bind(function)), slots


class _Slot:
    def __init__(self, index):
        self.index = index


def from_torch(module, example_input=None, *, pattern=None, sparsity=None, scores=None,
               plan=None):
    """Trace ``module`` (in eval mode: it is switched to it) with ``torch.fx`` into a
    :class:`~host.model.Model`. ``example_input``, if given, is run through the module and
    the float model to check the import (a ``ValueError`` if they differ by more than 1e-4
    relative). ``pattern``, ``sparsity`` and ``scores`` prune every offloaded layer as a
    :class:`host.network.Layer` does; ``plan`` (a :class:`host.planner.Plan` whose layers
    are named by node) takes each layer's choice instead."""
    import torch
    import torch.fx
    if (plan is not None) and (pattern is not None or sparsity is not None):
        raise ValueError("plan= chooses each layer's pattern and sparsity: pass either it or "
                         "pattern=/sparsity=")
    module = module.eval()
    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as error:
        raise ValueError(f"torch.fx could not trace the module: {error}") from error
    nodes, inputs, outputs = [], [], []
    for node in traced.graph.nodes:
        if node.op == "placeholder":
            inputs.append(node.name)
        elif node.op == "output":
            result = node.args[0]
            results = result if isinstance(result, (tuple, list)) else [result]
            for item in results:
                if not isinstance(item, torch.fx.Node):
                    raise UnsupportedOp("output", node.name, "a constant output")
                outputs.append(item.name)
        elif node.op == "call_module":
            ours = _module_node(node.name, traced.get_submodule(node.target), torch)
            sources = [arg for arg in node.args if isinstance(arg, torch.fx.Node)]
            if len(sources) != 1:
                raise UnsupportedOp(type(traced.get_submodule(node.target)).__name__,
                                    node.name, "a module call of other than one tensor")
            ours.inputs = [sources[0].name]
            nodes.append(ours)
        elif node.op in ("call_function", "call_method"):
            ours, sources = _function_node(node.name, node.target, node.args, node.kwargs,
                                           torch)
            ours.inputs = [source.name for source in sources]
            nodes.append(ours)
        elif node.op == "get_attr":
            value = _array(getattr(traced, node.target) if "." not in node.target else
                           traced.get_parameter(node.target))
            nodes.append(HostOp(name=node.name, op="constant", inputs=[],
                                function=lambda value=value: value))
        else:
            raise UnsupportedOp(node.op, node.name)
    # A constant feeding host ops is a node of no inputs: Model runs it like any other.
    nodes = fuse(nodes, outputs)
    for node in nodes:
        if isinstance(node, MatMul):
            if plan is not None:
                if node.name not in plan.layers:
                    continue        # a layer the plan does not name stays as it is
                choice = plan.choice(node.name).choice
                weights = np.asarray(plan.weights(node.name), dtype=np.float64)
                if weights.shape != node.weight.shape:
                    raise ValueError(f"The plan's layer {node.name!r} has weights of shape "
                                     f"{weights.shape}, but the model's has "
                                     f"{node.weight.shape}")
                # The plan's pruned weights, pruned again to its pattern (which keeps them).
                node.weight, node.pattern, node.sparsity = (weights, choice.pattern,
                                                            choice.sparsity)
            else:
                node.pattern, node.sparsity, node.scores = pattern, sparsity, scores
    model = Model(nodes, inputs, outputs)
    if example_input is not None:
        with torch.no_grad():
            expected = module(example_input)
        got = model.float(example_input)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = got if isinstance(got, tuple) else (got,)
        if pattern is None and plan is None:
            for want, have in zip(expected, got):
                want = want.detach().cpu().double().numpy()
                have = have.detach().cpu().double().numpy()
                if want.shape != have.shape or not np.allclose(
                        have, want, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(want).max())):
                    raise ValueError("The imported model does not compute what the module "
                                     "does on example_input")
    return model
