
import numpy as np
import pytest

from hw.accel import pipeline_latency
from hw.config import AccelConfig
from host.cycles import run_cycles
from host.planner import cheapest_pattern, fitting_patterns, layer_cost, plan_sparsity
from host.patterns import prune
from host.runner import DENSE


def test_layer_cost_takes_the_fastest_format():
    cfg = AccelConfig()
    rng = np.random.default_rng(1)
    weights = rng.uniform(0.5, 1, (384, 384)) * rng.choice([-1, 1], (384, 384))
    cycles, link_bytes, fmt = layer_cost(cfg, weights, "dense")
    assert (cycles, fmt) == (384 * 384 // 64 + pipeline_latency(cfg), "dense")
    pruned = prune(weights, "2:4")
    cycles_24, bytes_24, fmt_24 = layer_cost(cfg, pruned, "2:4")
    assert fmt_24 == "2:4"                      # 10 bits a weight beat 20 unstructured
    assert cycles_24 == 384 * 192 // 64 + pipeline_latency(cfg)
    assert bytes_24 < link_bytes
    # A layer too sparse for its own pattern's stream is sent unstructured.
    sparse = np.where(rng.random(pruned.shape) < 0.1, pruned, 0)
    assert layer_cost(cfg, sparse, "2:4")[2] == "unstructured"


def toy_model(seed=2):
    """Three layers whose quality loss is the relative output error on fixed inputs."""
    rng = np.random.default_rng(seed)
    layers = {f"l{i}": (rng.normal(size=(64, 128)) * (1 + i), 100 * (i + 1)) for i in range(3)}
    x = rng.normal(size=(50, 128)) * rng.uniform(0.1, 2, 128)

    def prune_layer(name, choice):
        return prune(layers[name][0], choice.pattern, sparsity=choice.sparsity)

    def drift(replaced):
        total = 0.0
        for name, weights in replaced.items():
            reference = x @ layers[name][0].T
            total += np.sum((x @ weights.T - reference) ** 2) / np.sum(reference ** 2)
        return total * {"l0": 3, "l1": 1, "l2": 0.3}[next(iter(replaced))]

    return layers, prune_layer, drift


def test_plan_reaches_the_target_and_spends_drift_where_it_buys_most():
    layers, prune_layer, drift = toy_model()
    plan = plan_sparsity(layers, prune_layer, drift, target_speedup=1.6)
    assert plan.speedup >= 1.6
    assert set(plan.layers) == set(layers)
    # The least sensitive, most run layer is pruned at least as hard as the most sensitive.
    assert plan.layers["l2"].speedup >= plan.layers["l0"].speedup
    assert plan.cycles == sum(l.runs * l.cycles for l in plan.layers.values())
    for layer in plan.layers.values():
        assert layer.drift == pytest.approx(drift({layer.name: plan.weights(layer.name)}))
    table = plan.table()
    assert table.count("\n") == len(layers) + 2
    assert f"{plan.speedup:.2f}x" in table


def test_a_drift_budget_of_zero_keeps_everything_dense():
    layers, prune_layer, drift = toy_model()
    plan = plan_sparsity(layers, prune_layer, drift, max_drift=0)
    assert all(layer.choice == DENSE for layer in plan.layers.values())
    assert plan.speedup == 1


def test_a_planner_needs_a_budget():
    layers, prune_layer, drift = toy_model()
    with pytest.raises(ValueError, match=r"^The planner needs a budget: target_speedup, "
                                         r"max_drift or both$"):
        plan_sparsity(layers, prune_layer, drift)
    with pytest.raises(ValueError, match=r"^Target speedup must be at least 1, not 0.5$"):
        plan_sparsity(layers, prune_layer, drift, target_speedup=0.5)


def test_a_matrix_given_with_no_pattern_runs_in_its_cheapest_format():
    cfg = AccelConfig()
    rng = np.random.default_rng(3)
    weights = rng.integers(1, 128, (128, 256)) * rng.choice([-1, 1], (128, 256))
    chosen = {}
    for name, sparsity in [("dense", None), ("2:4", None), ("1:4", None), ("4:8", None),
                           ("unstructured", 0.5), ("tile:8", 0.5)]:
        pruned = (weights if name == "dense" else
                  prune(weights, name, sparsity=sparsity)).astype(np.int8)
        pattern, cycles, link_bytes = cheapest_pattern(cfg, pruned)
        chosen[name] = pattern.name
        # Of every pattern that carries the matrix, none is faster, or as fast and smaller.
        costs = []
        for other in fitting_patterns(cfg, pruned):
            layer = other.encode(pruned, cfg)
            costs.append((run_cycles(cfg, layer),
                          (layer.stream_bits(cfg) + layer.table_bits(cfg)) // 8))
        assert (cycles, link_bytes) == min(costs)
    # A tile's list beats cost cycles that the unstructured stream does not spend (at twice
    # the bytes: the rule puts cycles first).
    assert chosen == {"dense": "dense", "2:4": "2:4", "1:4": "1:4", "4:8": "4:8",
                      "unstructured": "unstructured", "tile:8": "unstructured"}
