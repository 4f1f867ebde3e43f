"""The generated accelerator against the golden and cycle models, bit for bit and cycle for
cycle, on random and real layers."""

import numpy as np
import pytest

from hw.config import AccelConfig
from hw.layouts import Status
from host.cycles import predict_run
from host.golden import golden_matvec
from host.prune import prune_unstructured
from host.quant import quantize_activations, quantize_weights
from sim_tb.accel_runs import run_layers


def bench_config(pes):
    """Memories large enough for the MiniLM 384x384 layer at 50 % on 64 PEs."""
    return AccelConfig(pes=pes, max_k=400, max_m=400, weight_depth=max(1200, 4800 // pes * 4))


def check_layers(cfg, layers):
    """Run ``[(q, x), ...]`` back to back; every result bit-exact, every counter predicted."""
    runs = run_layers(cfg, layers)
    for (q, x), run in zip(layers, runs):
        assert run.status == Status.DONE.value
        np.testing.assert_array_equal(run.outputs, golden_matvec(q, x, cfg.acc_width))
        assert run.counters == predict_run(cfg, run.layer, x)
    return runs


def random_layer(rng, shape, sparsity, cfg):
    q = rng.integers(-cfg.quant_max, cfg.quant_max + 1, shape)
    q = q * (rng.random(shape) >= sparsity)
    x = rng.integers(-cfg.quant_max, cfg.quant_max + 1, shape[1])
    return q, x


@pytest.mark.parametrize("pes", [4, 16, 64])
def test_random_sparsities(pes):
    cfg = bench_config(pes)
    rng = np.random.default_rng(pes)
    layers = [random_layer(rng, (37, 101), sparsity, cfg) for sparsity in (0, 0.5, 0.9, 0.99)]
    check_layers(cfg, layers)


def edge_layer(pes, rng, cfg):
    """Rows of 0, 1, P-1, P, P+1 and more than 3P kept weights, in one layer; K is prime."""
    k = 3 * pes + 7
    lengths = [0, 1, pes - 1, pes, pes + 1, 3 * pes + 5, 0, 1, 1, 2, pes - 1, 0]
    q = np.zeros((len(lengths), k), dtype=np.int64)
    for row, length in enumerate(lengths):
        columns = rng.choice(k, size=length, replace=False)
        q[row, columns] = rng.choice([-127, -1, 1, 127, 55], size=length)
    x = rng.integers(-127, 128, k)
    x[::5] = 0
    return q, x


@pytest.mark.parametrize("pes", [4, 16, 64])
def test_edges(pes):
    cfg = bench_config(pes)
    rng = np.random.default_rng(100 + pes)
    all_zero = (np.zeros((9, 13), dtype=np.int64), rng.integers(-127, 128, 13))
    extremes = (np.full((3, 50), -127), np.full(50, -127))
    check_layers(cfg, [edge_layer(pes, rng, cfg), all_zero, extremes, edge_layer(pes, rng, cfg)])


def test_minilm_attention_projection():
    """The query projection of all-MiniLM-L6-v2's first layer, 50 % pruned per row, P = 64."""
    from host.models import load_minilm_linear, minilm_activations
    weights = load_minilm_linear("encoder.layer.0.attention.self.query")
    q, _ = quantize_weights(prune_unstructured(weights, 0.5))
    x, _ = quantize_activations(minilm_activations(weights.shape[1]))
    cfg = bench_config(64)
    [run] = check_layers(cfg, [(q, x)])
    assert run.counters.cycles == -(-np.count_nonzero(q) // cfg.pes) + cfg.latency
