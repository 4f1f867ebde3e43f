import numpy as np
import pytest

from hw.config import AccelConfig
from hw.layouts import operand_layout
from host.golden import run_counts
from hw.pe import PEArray
from tests.sim_streams import run_stream, stream_latency


def operand_beats(cfg, weight, activation, last):
    layout = operand_layout(cfg)
    return [layout.const([{"weight": int(w), "activation": int(a), "last": int(e)}
                          for w, a, e in zip(*lanes)])
            for lanes in zip(weight, activation, last)]


def run_products(cfg, weight, activation, last, *, pause, seed):
    """The products, runs and row ends the array gives for beats of lanes (n_beats, P)."""
    received = run_stream(PEArray(cfg), operand_beats(cfg, weight, activation, last),
                          pause=pause, seed=seed)
    products = np.array([[int(lane.product) for lane in beat.lanes] for beat in received])
    runs = np.array([[int(run) for run in beat.runs] for beat in received])
    closes = np.array([int(beat.closes) for beat in received])
    return products.reshape(weight.shape), runs, closes


@pytest.mark.parametrize("pes, data_width, pause, ports", [
    (1, 16, 0.3, 2), (4, 4, 0.5, 2), (8, 8, 0.3, 1), (8, 8, 0.0, 2), (16, 8, 0.2, 4),
    (64, 8, 0.2, 2),
])
def test_products_with_stalls(pes, data_width, pause, ports):
    cfg = AccelConfig(pes=pes, data_width=data_width, max_k=8, max_m=8, weight_depth=8,
                      output_ports=ports)
    rng = np.random.default_rng(pes * data_width)
    top = 1 << (data_width - 1)
    beats = 24
    # The full range of both operands, the most negative code included.
    weight = rng.integers(-top, top, (beats, pes))
    activation = rng.integers(-top, top, (beats, pes))
    weight[0], activation[0] = -top, -top
    weight[1], activation[1] = top - 1, -top
    weight[2] = 0                       # padding lanes
    # Row ends at random, at every group, and at none (the counts saturate at C + 1).
    last = rng.random((beats, pes)) < rng.random((beats, 1))
    last[3], last[4] = True, False
    products, runs, closes = run_products(cfg, weight, activation, last, pause=pause,
                                          seed=pes)
    np.testing.assert_array_equal(products, weight * activation)
    expected_runs, expected_closes = run_counts(last, cfg.row_granularity, ports + 1)
    np.testing.assert_array_equal(runs, expected_runs)
    np.testing.assert_array_equal(closes, expected_closes)


def test_latency():
    cfg = AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=8)
    dut = PEArray(cfg)
    beat = operand_beats(cfg, [[1] * 4], [[2] * 4], [[1] * 4])[0]
    assert stream_latency(dut, beat) == dut.latency == 2
