"""The sparsity planner: a pattern, a sparsity and a hardware format for every layer.

For each layer it measures what each candidate pruning costs in quality (the model's drift
from its dense INT8 self on calibration data, with only that layer pruned) and what it
saves in time (the cycle model's cycles on the accelerator, every format that can carry the
pruned layer tried, the fastest kept, link bytes breaking ties). It then spends the quality
budget where it buys the most cycles: starting from all-dense, it takes the step (one layer
to a sparser candidate) with the least drift per cycle saved, until the whole model reaches
the target speedup, or until the next step would pass the drift budget.
"""

import dataclasses
from dataclasses import dataclass

import numpy as np

from hw.config import FIELD_SPECS, AccelConfig

from .cycles import run_cycles
from .encode import encode
from .patterns import NM, BankBalanced, Dense, TileWise, Unstructured, parse_pattern
from .patterns import _most_per_group
from .quant import quantize_weights
from .runner import DENSE, LayerChoice


__all__ = ["CANDIDATES", "LayerPlan", "Plan", "layer_cost", "plan_sparsity",
           "fitting_patterns", "cheapest_pattern"]


#: Candidate prunings tried for every layer, besides dense.
CANDIDATES = (
    LayerChoice("unstructured", 0.5), LayerChoice("2:4"), LayerChoice("4:8"),
    LayerChoice("unstructured", 0.625), LayerChoice("unstructured", 0.75), LayerChoice("1:4"),
)


def _unlimited(cfg, shape):
    """``cfg`` with room for a whole layer of ``shape``: a cost, not a fit, is measured."""
    return dataclasses.replace(cfg, weight_depth=FIELD_SPECS["weight_depth"].high,
                               max_k=max(cfg.max_k, shape[1]), max_m=max(cfg.max_m, shape[0]))


def layer_cost(cfg, weights, pattern):
    """``(cycles, link_bytes, format)`` of one input through the layer on the accelerator.

    ``weights`` are already pruned to ``pattern``; every format that can carry them (the
    pattern's own and unstructured) is encoded, and the one with the fewest cycles is kept,
    the fewest link bytes breaking a tie. The weights are taken to fit the weight memory
    (``weight_depth`` is not a limit here); ``cycles`` are the run's, latency included.
    """
    pattern = parse_pattern(pattern)
    unlimited = _unlimited(cfg, weights.shape)
    q, _ = quantize_weights(weights, cfg.quant_max)
    best = None
    for name in dict.fromkeys([pattern.name, "unstructured"]):
        layer = encode(q, unlimited, name)
        cycles = run_cycles(unlimited, layer)
        cost = (cycles, layer.stream_bits(unlimited) // 8, name)
        if best is None or cost[:2] < best[:2]:
            best = cost
    return best


def fitting_patterns(cfg, q):
    """Every pattern that carries the matrix ``q`` as it is, each at its tightest: dense;
    ``N:M`` for each power of two ``M`` up to ``max_group_width`` (and at most 16), ``N`` the
    most non-zero weights of any group of M; ``bank:W`` for the wider powers of two up to
    ``max_group_width``; ``tile:G`` for G of 4, 8 and 16 rows; unstructured."""
    q = np.asarray(q)
    found = [Dense()]
    width = 2
    while width <= min(cfg.max_group_width, q.shape[1]):
        most = max(1, int(_most_per_group(q, width).max(initial=0)))
        if most < width:
            found.append(NM(most, width) if width <= 16 else BankBalanced(width))
        width *= 2
    found += [TileWise(rows) for rows in (4, 8, 16) if rows < q.shape[0]]
    found.append(Unstructured())
    return found


def cheapest_pattern(cfg, q):
    """``(pattern, cycles, link_bytes)``: of :func:`fitting_patterns`, the pattern whose
    format runs one input through ``q`` in the fewest cycles on ``cfg`` (latency included),
    the fewest bytes on the link (the stream and the pattern table) breaking a tie, then the order of
    :func:`fitting_patterns` (dense first). This is the rule ``SparseAccel.run`` and ``load``
    follow for a matrix given with no pattern: a dense matrix runs dense, a 2:4 matrix
    2:4, and a matrix with no structure unstructured. The weight memory's depth is not a
    limit here (a larger layer is split into tiles, each in the same format); a format the
    configuration cannot carry (a tile's list longer than its buffers) is passed over."""
    q = np.asarray(q)
    unlimited = _unlimited(cfg, q.shape)
    best = None
    for pattern in fitting_patterns(cfg, q):
        try:
            layer = pattern.encode(q, unlimited)
        except ValueError:      # LayerTooBig among them: the format cannot carry it here
            continue
        cost = (run_cycles(unlimited, layer),
                (layer.stream_bits(unlimited) + layer.table_bits(unlimited)) // 8)
        if best is None or cost < best[1:]:
            best = (pattern, *cost)
    return best


@dataclass(frozen=True)
class LayerPlan:
    """One layer's choice and what the planner measured of it."""
    name: str
    choice: LayerChoice
    format: str
    runs: int                   # inputs the layer computes per pass of the model
    cycles: int                 # cycles per input
    dense_cycles: int
    link_bytes: int
    drift: float                # measured quality effect of this layer alone

    @property
    def speedup(self):
        return self.dense_cycles / self.cycles


@dataclass
class Plan:
    """Every layer's :class:`LayerPlan`, and the whole model's predicted figures.

    ``weights(name)`` gives the layer's weights pruned as chosen (what
    :meth:`host.driver.SparseAccel.run` sends for ``pattern="auto"``).
    """
    layers: dict
    dense: dict = dataclasses.field(default_factory=dict, repr=False)
    prune: object = dataclasses.field(default=None, repr=False)

    def weights(self, name):
        choice = self.choice(name).choice
        return self.prune(name, choice) if choice.prunes else self.dense[name]

    def choices(self):
        """``{name: LayerChoice}``, as :func:`host.runner.prune_sequential` takes it."""
        return {name: layer.choice for name, layer in self.layers.items()}

    def choice(self, name):
        if name not in self.layers:
            raise KeyError(f"The plan has no layer {name!r}")
        return self.layers[name]

    @property
    def cycles(self):
        return sum(layer.runs * layer.cycles for layer in self.layers.values())

    @property
    def dense_cycles(self):
        return sum(layer.runs * layer.dense_cycles for layer in self.layers.values())

    @property
    def speedup(self):
        """Predicted whole-model speedup over the dense format on the same accelerator."""
        return self.dense_cycles / self.cycles

    @property
    def drift(self):
        """Sum of the chosen layers' measured drifts (the planner's additive estimate)."""
        return sum(layer.drift for layer in self.layers.values())

    def table(self):
        """The plan as a Markdown table, one row per layer and a total."""
        lines = ["| layer | pattern | format | cycles/input | speedup | link KB | drift |",
                 "|---|---|---|---|---|---|---|"]
        for layer in self.layers.values():
            lines.append(f"| {layer.name} | {layer.choice} | {layer.format} | {layer.cycles} "
                         f"| {layer.speedup:.2f}x | {layer.link_bytes / 1024:.0f} "
                         f"| {layer.drift:.5f} |")
        lines.append(f"| whole model | | | {self.cycles} (x runs) | {self.speedup:.2f}x | "
                     f"{sum(l.link_bytes for l in self.layers.values()) / 1024:.0f} "
                     f"| {self.drift:.5f} |")
        return "\n".join(lines)


def plan_sparsity(layers, prune, drift, *, cfg=None, target_speedup=None, max_drift=None,
                  candidates=CANDIDATES, progress=None):
    """Choose each layer's pruning and format.

    Parameters
    ----------
    layers : dict
        ``{name: (weights, runs)}``: each layer's dense weights and how many inputs it
        computes per pass of the model (tokens, for a transformer's linears).
    prune : callable
        ``prune(name, choice)`` returns the layer's weights pruned by ``choice``.
    drift : callable
        ``drift({name: weights})`` measures the model's quality loss with those layers'
        weights replaced (0 for the dense model; such as 1 - mean cosine to its embeddings).
    target_speedup, max_drift : float
        The budget: stop once the predicted speedup reaches ``target_speedup``, and never
        exceed ``max_drift`` (summed over layers). At least one is needed.
    """
    if target_speedup is None and max_drift is None:
        raise ValueError("The planner needs a budget: target_speedup, max_drift or both")
    if target_speedup is not None and target_speedup < 1:
        raise ValueError(f"Target speedup must be at least 1, not {target_speedup!r}")
    cfg = cfg or AccelConfig()
    say = progress or (lambda message: None)
    options = {}
    for index, (name, (weights, runs)) in enumerate(layers.items()):
        say(f"measuring {index + 1}/{len(layers)} {name}")
        dense_cycles, dense_bytes, dense_format = layer_cost(cfg, weights, "dense")
        found = [LayerPlan(name, DENSE, dense_format, runs, dense_cycles, dense_cycles,
                           dense_bytes, 0.0)]
        for choice in candidates:
            pruned = prune(name, choice)
            cycles, link_bytes, fmt = layer_cost(cfg, pruned, choice.pattern)
            found.append(LayerPlan(name, choice, fmt, runs, cycles, dense_cycles, link_bytes,
                                   max(0.0, float(drift({name: pruned})))))
        options[name] = _worthwhile(found)

    chosen = {name: 0 for name in layers}
    plan = Plan({name: options[name][0] for name in layers},
                {name: weights for name, (weights, _) in layers.items()}, prune)
    while target_speedup is None or plan.speedup < target_speedup:
        steps = [(_slope(options[name][i], options[name][i + 1]), name)
                 for name, i in chosen.items() if i + 1 < len(options[name])]
        if not steps:
            break
        _, name = min(steps)
        step = options[name][chosen[name] + 1]
        if max_drift is not None and plan.drift - plan.layers[name].drift + step.drift \
                > max_drift:
            break
        chosen[name] += 1
        plan.layers[name] = step
    return plan


def _worthwhile(found):
    """The options worth stepping through, from most cycles to fewest: those no other option
    beats on both cycles and drift, on the lower convex hull of (cycles, drift), so that each
    step costs more drift per cycle saved than the one before."""
    pareto, least = [], np.inf
    for option in sorted(found, key=lambda option: (option.cycles, option.drift)):
        if option.drift < least:
            pareto.append(option)
            least = option.drift
    hull = []
    for option in reversed(pareto):
        while len(hull) >= 2 and _slope(hull[-2], hull[-1]) >= _slope(hull[-1], option):
            hull.pop()
        hull.append(option)
    return hull


def _slope(before, after):
    """Drift per cycle saved (weighted by runs) going from one option to the next."""
    saved = (before.cycles - after.cycles) * before.runs
    return (after.drift - before.drift) / saved if saved > 0 else np.inf
