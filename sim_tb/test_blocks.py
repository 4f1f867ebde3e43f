"""The reduction tree and the fetch unit alone, on the Verilog ``gen`` emits, with random
stalls on both streams, against their NumPy models."""

import dataclasses
import json

import numpy as np
import pytest

from hw.config import AccelConfig
from hw.fetch import FetchUnit
from hw.reduce import ReductionTree
from host.bus import activation_words
from host.golden import reduction_model, run_counts
from sim_tb.runner import build, run_bench


def block_config(pes):
    return AccelConfig(pes=pes, max_k=3 * pes + 7, max_m=64, weight_depth=16)


def run_block(block, cfg, component, inputs, **extra):
    stimulus = {"block": block, "config": json.dumps(dataclasses.asdict(cfg)),
                "pause": 0.3, "seed": cfg.pes,
                **{f"in_{name}": values for name, values in inputs.items()}, **extra}
    return run_bench(build(component, block), block, "bench_blocks", stimulus)


def run_patterns(rng, pes, beats):
    """Row ends that make runs of every length: none, all, every other, random, P-1 apart."""
    patterns = [np.zeros(pes, bool), np.ones(pes, bool), np.arange(pes) % 2 == 1,
                np.arange(pes) % max(pes - 1, 1) == 0]
    patterns += [rng.random(pes) < density for density in (0.05, 0.3, 0.7)]
    return np.array([patterns[beat % len(patterns)] if beat < len(patterns)
                     else rng.random(pes) < rng.random() for beat in range(beats)])


def tree_inputs(cfg, products, last):
    """The reduction tree's inputs: products, and the runs the PE array counts from the row
    ends ``last``."""
    runs, closes = run_counts(last, cfg.row_granularity, cfg.output_ports + 1)
    return {"product": products, "runs": runs, "closes": closes}


@pytest.mark.parametrize("pes, ports", [(4, 1), (16, 2), (64, 2), (64, 4)])
def test_reduction_tree(pes, ports):
    cfg = dataclasses.replace(block_config(pes), output_ports=ports)
    rng = np.random.default_rng(pes)
    beats = 40
    limit = 1 << (cfg.product_width - 1)
    products = rng.integers(-limit, limit, (beats, pes))
    products[1] = limit - 1
    products[2] = -limit
    # Rows end only at the last lane of a group of row_granularity lanes.
    last = run_patterns(rng, pes, beats)
    last &= np.arange(pes) % cfg.row_granularity == cfg.row_granularity - 1
    out = run_block("reduce", cfg, ReductionTree(cfg), tree_inputs(cfg, products, last))
    sums, closes = reduction_model(products, last, ports + 1)
    np.testing.assert_array_equal(out["sums"], sums)
    np.testing.assert_array_equal(out["closes"], closes)


@pytest.mark.parametrize("pes, lut_ram", [(4, True), (16, True), (64, True), (16, False)])
def test_fetch_unit(pes, lut_ram):
    """Gathers from the replicas, and tile lists stored in and read from the compact buffers
    (LUT RAM, or block RAM as on an iCE40), a two-beat list followed at once by the weights
    that read it."""
    cfg = block_config(pes)
    rng = np.random.default_rng(pes)
    beats = 30
    x = rng.integers(-cfg.quant_max, cfg.quant_max + 1, cfg.act_words * cfg.acts_per_word)
    weight = rng.integers(-cfg.quant_max, cfg.quant_max + 1, (beats, pes))
    column = rng.integers(0, len(x), (beats, pes))
    column[0] = 0
    column[1] = len(x) - 1
    column[2] = 5                       # every lane reads the same activation
    last = rng.random((beats, pes)) < 0.2
    gather, compact, slot = (np.zeros(beats, dtype=np.int64) for _ in range(3))
    # Beats 10-11 store a list at slots 0, 1; beats 12-15 read slots 0, 1, 1, 0 (beats 12
    # and 13 the slots stored two beats before, the nearest a tile's weights come).
    gather[10:12], slot[10:12] = 1, [0, 1]
    compact[12:16], slot[12:16] = 1, [0, 1, 1, 0]
    out = run_block("fetch", cfg, FetchUnit(cfg, lut_ram=lut_ram),
                    {"weight": weight, "column": column, "last": last,
                     "gather": gather, "compact": compact, "slot": slot},
                    act_words=activation_words(cfg, x))
    expected = x[column % len(x)]
    stored = {0: x[column[10]], 1: x[column[11]]}
    for beat in range(12, 16):
        expected[beat] = stored[slot[beat]]
    np.testing.assert_array_equal(out["weight"], weight)
    np.testing.assert_array_equal(out["activation"], expected)
    np.testing.assert_array_equal(out["last"], last)
