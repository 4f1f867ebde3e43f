"""MiniLM with every linear computed by the accelerator's arithmetic.

Each linear of :data:`host.minilm.LINEARS` is pruned to its :class:`LayerChoice` (pattern,
sparsity, method; dense by default), quantized to INT8 per output row, and run on INT8
inputs quantized per token: ``golden_matvec``, the model every RTL bench checks bit for bit,
computes the integer sums, which are then scaled back and given their bias. The layers named
in ``board_layers`` run on an accelerator (:class:`host.driver.SparseAccel`, the simulated
board by default) instead; both paths compute the same integers, so they agree exactly.
"""

import time
from dataclasses import dataclass

import numpy as np

from .golden import golden_matvec, wrap
from .minilm import LINEARS, MiniLM, linear_inputs
from .models import minilm_tensors
from .patterns import parse_pattern
from .quant import quantize_activations, quantize_weights
from .reconstruct import METHODS, prune_layer


__all__ = ["LayerChoice", "DENSE", "SparseModel", "int8_linear", "prune_plan",
           "prune_sequential"]


@dataclass(frozen=True)
class LayerChoice:
    """How one layer is pruned: a pattern name, its sparsity if it takes one, a method."""
    pattern: str = "dense"
    sparsity: float | None = None
    method: str = "reconstruct"

    def __post_init__(self):
        pattern = parse_pattern(self.pattern)
        if pattern.needs_sparsity and self.sparsity is None:
            raise ValueError(f"Pattern {pattern.name!r} needs a sparsity")
        if self.method not in METHODS:
            raise ValueError(f"Pruning method must be one of {', '.join(METHODS)}, "
                             f"not {self.method!r}")

    @property
    def prunes(self):
        """Whether the choice may remove weights (every pattern but dense,
        :attr:`host.patterns.Pattern.prunes`)."""
        return parse_pattern(self.pattern).prunes

    def __str__(self):
        sparsity = f" {self.sparsity:.0%}" if self.sparsity is not None else ""
        return f"{self.pattern}{sparsity}" + (f" ({self.method})" if self.prunes else "")


#: Every weight kept, INT8 only.
DENSE = LayerChoice()


def prune_plan(plan, calibration_inputs, *, progress=None, cache=None):
    """The weights of every MiniLM linear pruned as ``plan`` says (float64, by name).

    ``calibration_inputs`` maps linear names to the rows they see (:func:`linear_inputs`);
    only layers whose method needs calibration use them. ``cache`` (a dict) keeps pruned
    layers by ``(name, choice)`` across calls.
    """
    tensors = minilm_tensors()
    say = progress or (lambda message: None)
    cache = {} if cache is None else cache
    weights = {}
    for index, name in enumerate(LINEARS):
        choice = plan.get(name, DENSE)
        if not choice.prunes:
            weights[name] = tensors[f"{name}.weight"].astype(np.float64)
            continue
        if (name, choice) not in cache:
            say(f"pruning {index + 1}/{len(LINEARS)} {name}: {choice}")
            cache[name, choice] = prune_layer(
                tensors[f"{name}.weight"].astype(np.float64), choice.pattern, choice.method,
                sparsity=choice.sparsity, calibration=calibration_inputs.get(name))
        weights[name] = cache[name, choice]
    return weights


def _stages():
    """The linears in groups whose inputs depend only on the groups before them."""
    for layer in range(6):
        prefix = f"encoder.layer.{layer}"
        yield [f"{prefix}.attention.self.{part}" for part in ("query", "key", "value")]
        for part in ("attention.output.dense", "intermediate.dense", "output.dense"):
            yield [f"{prefix}.{part}"]
    yield ["pooler.dense"]


def prune_sequential(plan, calibration, *, progress=None):
    """As :func:`prune_plan`, but each layer is calibrated on the inputs it sees in the INT8
    model whose earlier layers are already pruned (as SparseGPT does), so that it corrects
    their errors too. Runs the model over the ``calibration`` texts once per group of
    layers that depend on nothing after them (25 times)."""
    unknown = sorted(set(plan) - set(LINEARS))
    if unknown:
        raise ValueError(f"all-MiniLM-L6-v2 has no linear {unknown[0]!r}")
    say = progress or (lambda message: None)
    weights = prune_plan({}, {})
    for stage in _stages():
        pruned = [name for name in stage if plan.get(name, DENSE).prunes]
        if not pruned:
            continue
        inputs = linear_inputs(calibration, SparseModel(weights).linear, only=pruned)
        for name in pruned:
            say(f"pruning {name}: {plan[name]}")
            weights[name] = prune_layer(weights[name], plan[name].pattern, plan[name].method,
                                        sparsity=plan[name].sparsity, calibration=inputs[name])
    return weights


def int8_linear(quantized, bias, x):
    """A linear as the accelerator computes it: INT8 weights ``quantized = (q, scale)`` per
    output row, ``x`` (rows x inputs) quantized per row, sums from :func:`golden_matvec`,
    scaled back, plus ``bias``. Returns float64."""
    q, weight_scale = quantized
    xq, input_scale = quantize_activations(np.asarray(x, dtype=np.float64))
    acc = golden_matvec(q, xq)
    return weight_scale[None, :] * input_scale[:, None] * wrap(acc, 32) + bias


class SparseModel:
    """all-MiniLM-L6-v2 with each linear computed as the accelerator does.

    Parameters
    ----------
    weights : dict, optional
        Weights (outputs x inputs) per linear name, pruned as wished (:func:`prune_plan`);
        layers not named keep the model's own.
    quantize : bool
        ``False`` runs the weights in float, to separate pruning from quantization.
    accelerator : :class:`host.driver.SparseAccel`, optional
        Runs the layers named in ``board_layers``; the others run on the golden model.
    """
    def __init__(self, weights=None, *, quantize=True, accelerator=None, board_layers=()):
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(LINEARS)) + sorted(set(board_layers) - set(LINEARS))
        if unknown:
            raise ValueError(f"all-MiniLM-L6-v2 has no linear {unknown[0]!r}")
        if board_layers and accelerator is None:
            raise ValueError("board_layers need an accelerator")
        tensors = minilm_tensors()
        self.weights = {name: np.asarray(weights.get(name, tensors[f"{name}.weight"]),
                                         dtype=np.float64) for name in LINEARS}
        self.biases = {name: tensors[f"{name}.bias"].astype(np.float64) for name in LINEARS}
        self.quantize = quantize
        self.accelerator = accelerator
        self.board_layers = frozenset(board_layers)
        self.board_seconds = 0.0
        self.quantized = {name: quantize_weights(weights)
                          for name, weights in self.weights.items()}

    def linear(self, name, x):
        """Linear ``name`` on the rows of ``x`` (tokens x inputs), bias included."""
        if not self.quantize:
            return (x @ self.weights[name].T + self.biases[name]).astype(np.float32)
        if name in self.board_layers:
            started = time.monotonic()
            y = self.accelerator.run(self.weights[name], np.asarray(x, dtype=np.float64))
            self.board_seconds += time.monotonic() - started
            return (y + self.biases[name]).astype(np.float32)
        return int8_linear(self.quantized[name], self.biases[name], x).astype(np.float32)

    def embed(self, texts):
        """Unit-length sentence embeddings, as :meth:`host.minilm.MiniLM.embed`."""
        return MiniLM(self.linear).embed(texts)

    def sparsity(self):
        """Share of pruned weights over all linears."""
        total = sum(w.size for w in self.weights.values())
        return 1 - sum(int((w != 0).sum()) for w in self.weights.values()) / total
