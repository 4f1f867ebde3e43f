"""The generated accelerator against the golden and cycle models, bit for bit and cycle for
cycle, on random and real layers in every format."""

import numpy as np
import pytest

from hw.accel import pipeline_latency
from hw.config import AccelConfig
from hw.bus import Status
from host.cycles import predict_run
from host.golden import golden_matvec
from host.patterns import prune
from host.quant import quantize_activations, quantize_weights
from sim_tb.accel_runs import run_layers


def bench_config(pes):
    """Memories large enough for the dense MiniLM 384x384 layer on 64 PEs."""
    return AccelConfig(pes=pes, max_k=400, max_m=400, weight_depth=2400, max_group_width=16)


def check_layers(cfg, layers):
    """Run ``[(q, x, pattern), ...]`` back to back on one accelerator without reset; every
    result bit-exact, every counter as predicted."""
    runs = run_layers(cfg, layers)
    for (q, x, _), run in zip(layers, runs):
        assert run.status == Status.DONE.value
        np.testing.assert_array_equal(run.outputs, golden_matvec(q, x, cfg.acc_width))
        assert run.counters == predict_run(cfg, run.layer, x)
    return runs


def random_layer(rng, shape, sparsity, cfg):
    q = rng.integers(-cfg.quant_max, cfg.quant_max + 1, shape)
    q = q * (rng.random(shape) >= sparsity)
    x = rng.integers(-cfg.quant_max, cfg.quant_max + 1, shape[1])
    return q, x, "unstructured"


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
    return q, x, "unstructured"


@pytest.mark.parametrize("pes", [4, 16, 64])
def test_edges(pes):
    cfg = bench_config(pes)
    rng = np.random.default_rng(100 + pes)
    all_zero = (np.zeros((9, 13), dtype=np.int64), rng.integers(-127, 128, 13), "unstructured")
    extremes = (np.full((3, 50), -127), np.full(50, -127), "unstructured")
    check_layers(cfg, [edge_layer(pes, rng, cfg), all_zero, extremes, edge_layer(pes, rng, cfg)])


def structured_layer(rng, pattern, shape, cfg, sparsity=None):
    """A random layer pruned to ``pattern``, with an empty row, an all-zero first group or
    bank, and an all-zero tile of up to 4 rows (rows 4 to 7)."""
    w = rng.normal(size=shape)
    w[1] = 0
    w[4:8] = 0
    w[:, :16] = 0
    q, _ = quantize_weights(prune(w, pattern, sparsity=sparsity))
    x = rng.integers(-cfg.quant_max, cfg.quant_max + 1, shape[1])
    return q, x, pattern


@pytest.mark.parametrize("pes", [4, 16, 64])
def test_formats_switch_between_layers(pes):
    """Every format, K not a multiple of the group, rows shorter and longer than P, formats
    switched from one layer to the next without a reset."""
    cfg = bench_config(pes)
    rng = np.random.default_rng(200 + pes)
    layers = [
        structured_layer(rng, "dense", (11, 53), cfg),
        structured_layer(rng, "2:4", (13, 3 * pes + 3), cfg),
        structured_layer(rng, "unstructured", (9, 61), cfg, sparsity=0.7),
        structured_layer(rng, "1:4", (17, 45), cfg),
        structured_layer(rng, "4:8", (7, 2 * pes + 9), cfg),
        structured_layer(rng, "3:16", (6, 37), cfg),
        structured_layer(rng, "bank:16", (10, 70), cfg, sparsity=0.75),
        structured_layer(rng, "tile:4", (10, 40), cfg, sparsity=0.5),
        structured_layer(rng, "tile:3", (8, 3 * pes + 1), cfg, sparsity=0.4),
        structured_layer(rng, "dense", (3, 5), cfg),
        structured_layer(rng, "2:4", (5, 7), cfg),
    ]
    check_layers(cfg, layers)


def test_minilm_attention_projection():
    """The query projection of all-MiniLM-L6-v2's first layer at P = 64: 50 % unstructured,
    2:4 and dense, back to back."""
    from host.models import load_minilm_linear, minilm_activations
    weights = load_minilm_linear("encoder.layer.0.attention.self.query")
    x, _ = quantize_activations(minilm_activations(weights.shape[1]))
    q_unstructured, _ = quantize_weights(prune(weights, "unstructured", sparsity=0.5))
    q_24, _ = quantize_weights(prune(weights, "2:4"))
    q_dense, _ = quantize_weights(weights)
    cfg = bench_config(64)
    runs = check_layers(cfg, [(q_unstructured, x, "unstructured"), (q_24, x, "2:4"),
                              (q_dense, x, "dense")])
    latency = pipeline_latency(cfg)
    # The gap code's filler lanes cost under 1 % of the beats.
    ideal = np.count_nonzero(q_unstructured) / 64
    assert runs[0].counters.cycles == runs[0].layer.n_beats + latency <= ideal * 1.01 + latency
    assert runs[2].counters.cycles == 384 * 384 // 64 + latency
