from hw.config import AccelConfig
from hw.fetch import FetchUnit
from hw.layouts import fetch_layout
from hw.replicas import lane_copies
from tests.sim_streams import stream_latency


def test_latency():
    cfg = AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=8)
    dut = FetchUnit(cfg)
    beat = fetch_layout(cfg).const({
        "lanes": [{"weight": 1, "column": lane, "last": 0} for lane in range(cfg.pes)],
        "controls": [{"gather": 0, "compact": 0, "slot": 0}] * lane_copies(cfg.pes),
    })
    assert stream_latency(dut, beat) == dut.latency == 2
