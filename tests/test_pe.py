import numpy as np
import pytest

from hw.config import AccelConfig
from hw.layouts import operand_layout
from hw.pe import PEArray
from tests.sim_streams import run_stream, stream_latency


def operand_beats(cfg, weight, activation, last):
    layout = operand_layout(cfg)
    return [layout.const([{"weight": int(w), "activation": int(a), "last": int(e)}
                          for w, a, e in zip(*lanes)])
            for lanes in zip(weight, activation, last)]


def run_products(cfg, weight, activation, last, *, pause, seed):
    """The products and row ends the array gives for beats of lanes (n_beats, P)."""
    received = run_stream(PEArray(cfg), operand_beats(cfg, weight, activation, last),
                          pause=pause, seed=seed)
    products = np.array([[int(lane.product) for lane in beat] for beat in received])
    ends = np.array([[int(lane.last) for lane in beat] for beat in received])
    return products.reshape(weight.shape), ends.reshape(last.shape)


@pytest.mark.parametrize("pes, data_width, pause", [
    (1, 16, 0.3), (4, 4, 0.5), (8, 8, 0.3), (8, 8, 0.0), (16, 8, 0.2),
])
def test_products_with_stalls(pes, data_width, pause):
    cfg = AccelConfig(pes=pes, data_width=data_width, max_k=8, max_m=8, weight_depth=8)
    rng = np.random.default_rng(pes * data_width)
    top = 1 << (data_width - 1)
    beats = 24
    # The full range of both operands, the most negative code included.
    weight = rng.integers(-top, top, (beats, pes))
    activation = rng.integers(-top, top, (beats, pes))
    weight[0], activation[0] = -top, -top
    weight[1], activation[1] = top - 1, -top
    weight[2] = 0                       # padding lanes
    last = rng.random((beats, pes)) < 0.3
    products, ends = run_products(cfg, weight, activation, last, pause=pause, seed=pes)
    np.testing.assert_array_equal(products, weight * activation)
    np.testing.assert_array_equal(ends, last)


def test_latency():
    cfg = AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=8)
    dut = PEArray(cfg)
    beat = operand_beats(cfg, [[1] * 4], [[2] * 4], [[1] * 4])[0]
    assert stream_latency(dut, beat) == dut.latency == 2
