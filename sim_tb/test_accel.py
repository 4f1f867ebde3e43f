"""The generated accelerator against the golden and cycle models, bit for bit and cycle for
cycle, on random and real layers."""

import dataclasses

import numpy as np
import pytest

from hw.accel import Accelerator
from hw.config import AccelConfig
from hw.layouts import Reg, Status
from host.bus import layer_writes, output_address, register_address
from host.cycles import predict_run
from host.encode import encode_unstructured
from host.golden import golden_matvec, wrap
from host.prune import prune_unstructured
from host.quant import quantize_activations, quantize_weights
from sim_tb.runner import build, run_bench


COUNTERS = (Reg.CYCLES, Reg.BEATS, Reg.BUSY_LANES, Reg.NONZERO_PRODUCTS, Reg.STALLS)


def bench_config(pes):
    """Memories large enough for the MiniLM 384x384 layer at 50 % on 64 PEs."""
    return AccelConfig(pes=pes, max_k=400, max_m=400, weight_depth=max(1200, 4800 // pes * 4))


_builds = {}


def accel_build(cfg):
    if cfg not in _builds:
        _builds[cfg] = build(Accelerator(cfg), "sparse_accel")
    return _builds[cfg]


def run_layers(cfg, layers):
    """Run ``[(q, x), ...]`` back to back; check every result and counter; return counters."""
    stimulus = {
        "runs": len(layers),
        "control": register_address(cfg, Reg.CONTROL),
        "status": register_address(cfg, Reg.STATUS),
        "done_bit": Status.DONE.value,
        "counters": [register_address(cfg, reg) for reg in COUNTERS],
    }
    encoded = []
    for run, (q, x) in enumerate(layers):
        layer = encode_unstructured(q, cfg)
        encoded.append(layer)
        stimulus[f"addresses{run}"], stimulus[f"words{run}"] = layer_writes(cfg, layer, x)
        stimulus[f"outputs{run}"] = output_address(cfg, np.arange(len(layer.rows)))
    response = run_bench(accel_build(cfg), "sparse_accel", "bench_accel", stimulus)
    measured = []
    for run, ((q, x), layer) in enumerate(zip(layers, encoded)):
        assert response[f"status{run}"] == Status.DONE.value
        sums = wrap(response[f"sums{run}"], cfg.acc_width)
        np.testing.assert_array_equal(layer.scatter(sums), golden_matvec(q, x, cfg.acc_width))
        counters = dict(zip((reg.name.lower() for reg in COUNTERS), response[f"counters{run}"]))
        assert counters == dataclasses.asdict(predict_run(cfg, layer, x))
        measured.append(counters)
    return measured


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
    run_layers(cfg, layers)


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
    run_layers(cfg, [edge_layer(pes, rng, cfg), all_zero, extremes, edge_layer(pes, rng, cfg)])


def test_minilm_attention_projection():
    """The query projection of all-MiniLM-L6-v2's first layer, 50 % pruned per row, P = 64."""
    from host.models import load_minilm_linear, minilm_activations
    weights = load_minilm_linear("encoder.layer.0.attention.self.query")
    q, _ = quantize_weights(prune_unstructured(weights, 0.5))
    x, _ = quantize_activations(minilm_activations(weights.shape[1]))
    cfg = bench_config(64)
    [counters] = run_layers(cfg, [(q, x)])
    nnz = np.count_nonzero(q)
    assert counters["cycles"] <= -(-nnz // cfg.pes) + cfg.latency
