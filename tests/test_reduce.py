import numpy as np
import pytest

from hw.config import AccelConfig
from hw.reduce import ReductionTree
from host.golden import reduction_model, run_counts
from tests.sim_streams import run_stream, stream_latency


def tree_beats(cfg, products, last):
    """The tree's input beats: products, with the runs the PE array counts from ``last``."""
    runs, closes = run_counts(last, cfg.row_granularity, cfg.output_ports + 1)
    return [{"lanes": [{"product": int(p)} for p in ps], "runs": [int(r) for r in rs],
             "closes": int(c)} for ps, rs, c in zip(products, runs, closes)]


@pytest.mark.parametrize("pes, ports", [(1, 1), (2, 1), (8, 2), (8, 4)])
def test_runs_summed_with_stalls(pes, ports):
    cfg = AccelConfig(pes=pes, max_k=8, max_m=8, weight_depth=8, output_ports=ports)
    rng = np.random.default_rng(pes)
    beats = 24
    products = rng.integers(-2**15, 2**15, (beats, pes))
    products[0] = 2**15 - 1
    # Rows end only at the last lane of a group of row_granularity lanes.
    ends = np.arange(pes) % cfg.row_granularity == cfg.row_granularity - 1
    last = (rng.random((beats, pes)) < rng.random((beats, 1))) & ends
    last[1] = ends                  # more row ends than ports: the count saturates
    dut = ReductionTree(cfg)
    received = run_stream(dut, tree_beats(cfg, products, last))
    sums, closes = reduction_model(products, last, ports + 1)
    assert [beat.closes for beat in received] == closes.tolist()
    assert [[int(s) for s in beat.sums] for beat in received] == sums.tolist()


@pytest.mark.parametrize("pes, cycles", [(1, 1), (2, 1), (8, 3), (32, 5), (64, 6)])
def test_latency(pes, cycles):
    cfg = AccelConfig(pes=pes, max_k=8, max_m=8, weight_depth=8)
    dut = ReductionTree(cfg)
    beat = tree_beats(cfg, [[1] * pes], [[0] * pes])[0]
    assert stream_latency(dut, beat) == dut.latency == cycles
