import numpy as np
import pytest

from hw.config import AccelConfig
from hw.reduce import ReductionTree
from host.golden import reduction_model
from tests.sim_streams import run_stream


@pytest.mark.parametrize("pes", [2, 8])
def test_prefix_sums_with_stalls(pes):
    cfg = AccelConfig(pes=pes, max_k=8, max_m=8, weight_depth=8)
    rng = np.random.default_rng(pes)
    beats = 24
    products = rng.integers(-2**15, 2**15, (beats, pes))
    last = rng.random((beats, pes)) < rng.random((beats, 1))
    dut = ReductionTree(cfg)
    payloads = [[{"product": int(p), "last": int(e)} for p, e in zip(ps, es)]
                for ps, es in zip(products, last)]
    received = run_stream(dut, payloads)
    sums, closed = reduction_model(products, last)
    assert [[lane.sum for lane in beat] for beat in received] == sums.tolist()
    assert [[lane.closed_before for lane in beat] for beat in received] == closed.tolist()
