"""MiniLM with every linear computed by the accelerator's arithmetic.

Each linear of :data:`host.minilm.LINEARS` is pruned to its :class:`LayerChoice` (pattern,
sparsity, method; dense by default), quantized to INT8 per output row, and run on INT8
inputs quantized per token: ``golden_matvec``, the model every RTL bench checks bit for bit,
computes the integer sums, which are then scaled back and given their bias. The layers named
in ``board_layers`` run on an accelerator (:class:`host.driver.SparseAccel`, the simulated
board by default) instead; both paths compute the same integers, so they agree exactly.
"""

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from .golden import golden_matvec, wrap
from .minilm import LINEARS, MiniLM, linear_inputs
from .models import minilm_tensors
from .patterns import parse_pattern
from .quant import quantize_activations, quantize_weights
from .reconstruct import METHODS, prune_layer


__all__ = ["LayerChoice", "DENSE", "SparseModel"]


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

    def __str__(self):
        sparsity = f" {self.sparsity:.0%}" if self.sparsity is not None else ""
        return f"{self.pattern}{sparsity}" + (f" ({self.method})"
                                               if self.pattern != "dense" else "")


#: Every weight kept, INT8 only.
DENSE = LayerChoice()


class SparseModel:
    """all-MiniLM-L6-v2 with each linear pruned, quantized and computed as the accelerator does.

    Parameters
    ----------
    plan : dict, optional
        :class:`LayerChoice` per linear name; layers not named stay dense (INT8).
    calibration : list of str, optional
        Texts whose activations (through the dense model) calibrate the ``activation`` and
        ``reconstruct`` methods.
    quantize : bool
        ``False`` runs the pruned weights in float32, to separate pruning from quantization.
    accelerator : :class:`host.driver.SparseAccel`, optional
        Runs the layers named in ``board_layers``.
    progress : callable, optional
        Called with a message as layers are pruned.
    """
    def __init__(self, plan=None, calibration=None, *, quantize=True, accelerator=None,
                 board_layers=(), progress=None):
        plan = dict(plan or {})
        unknown = sorted(set(plan) - set(LINEARS)) + sorted(set(board_layers) - set(LINEARS))
        if unknown:
            raise ValueError(f"all-MiniLM-L6-v2 has no linear {unknown[0]!r}")
        if board_layers and accelerator is None:
            raise ValueError("board_layers need an accelerator")
        self.plan = {name: plan.get(name, DENSE) for name in LINEARS}
        self.quantize = quantize
        self.accelerator = accelerator
        self.board_layers = frozenset(board_layers)
        self.board_seconds = 0.0
        needs_calibration = any(choice.method != "magnitude" and choice.pattern != "dense"
                                for choice in self.plan.values())
        if needs_calibration and not calibration:
            raise ValueError("Calibration texts are needed by the activation and reconstruct "
                             "methods")
        inputs = linear_inputs(calibration) if needs_calibration else {}
        tensors = minilm_tensors()
        say = progress or (lambda message: None)
        self.weights, self.biases = {}, {}
        for index, name in enumerate(LINEARS):
            choice = self.plan[name]
            weights = tensors[f"{name}.weight"].astype(np.float64)
            if choice.pattern != "dense":
                say(f"pruning {index + 1}/{len(LINEARS)} {name}: {choice}")
                weights = prune_layer(weights, choice.pattern, choice.method,
                                      sparsity=choice.sparsity, calibration=inputs.get(name))
            self.weights[name] = weights
            self.biases[name] = tensors[f"{name}.bias"].astype(np.float64)
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
        q, weight_scale = self.quantized[name]
        xq, input_scale = quantize_activations(np.asarray(x, dtype=np.float64))
        acc = golden_matvec(q, xq)
        y = weight_scale[None, :] * input_scale[:, None] * wrap(acc, 32)
        return (y + self.biases[name]).astype(np.float32)

    def embed(self, texts):
        """Unit-length sentence embeddings, as :meth:`host.minilm.MiniLM.embed`."""
        return MiniLM(self.linear).embed(texts)

    def sparsity(self):
        """Share of pruned weights over all linears."""
        total = sum(w.size for w in self.weights.values())
        return 1 - sum(int((w != 0).sum()) for w in self.weights.values()) / total
