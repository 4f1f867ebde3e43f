"""The Wishbone B4 pipelined slave on the Amaranth simulator: the host's run protocol through
it against the golden model, partial writes refused, the answers' latency and a cycle ended
before its answers."""

import numpy as np
import pytest

from hw.bus import ACCEL_ID, Reg, Status
from hw.config import AccelConfig
from hw.wishbone import WishboneAccelerator
from host.bus import register_address
from host.cycles import predict_run
from host.encode import encode
from host.golden import golden_matvec
from host.protocol import check_identity, load_layer, run_input
from tests.sim_streams import BusError, WishboneSimulatorPort, simulate


CFG = AccelConfig(pes=4, max_k=40, max_m=24, weight_depth=64, max_group_width=8)


@pytest.mark.parametrize("pattern, pause", [("unstructured", 0.0), ("2:4", 0.5)])
def test_a_layer_runs_bit_exact_through_the_slave(pattern, pause):
    rng = np.random.default_rng(3)
    q = rng.integers(-127, 128, (9, 24)) * (rng.random((9, 24)) < 0.4)
    if pattern == "2:4":
        q = q.reshape(9, 6, 4)
        q[:, :, 2:] = 0
        q = q.reshape(9, 24)
    x = rng.integers(-127, 128, 24)
    layer = encode(q, CFG, pattern)
    with WishboneSimulatorPort(WishboneAccelerator(CFG), pause=pause, seed=1) as port:
        check_identity(port, CFG, CFG.config_hash)
        load_layer(port, CFG, layer)
        run = run_input(port, CFG, layer, x)
    assert run.status == Status.DONE.value
    assert np.array_equal(layer.scatter(run.sums), golden_matvec(q, x))
    assert run.counters == predict_run(CFG, layer, x)


def test_a_partial_write_is_refused_with_err_and_changes_nothing():
    address = register_address(CFG, Reg.N_ROWS)
    dut = WishboneAccelerator(CFG)
    with WishboneSimulatorPort(dut, pause=0.0) as port:
        port.write([address], [5])
        port.sel = 0b0011
        with pytest.raises(BusError, match=r"^Wishbone err on 1 requests$"):
            port.write([address], [7])
        port.sel = 0b1111
        assert port.read(address, 1).tolist() == [5]


def test_answers_come_at_the_latency_and_not_after_the_cycle_ends():
    dut = WishboneAccelerator(CFG)
    seen = {}

    async def testbench(ctx):
        ctx.set(dut.wb_cyc, 1)
        ctx.set(dut.wb_stb, 1)
        ctx.set(dut.wb_adr, register_address(CFG, Reg.ID) * 4)
        acks = []
        for cycle in range(dut.latency + 3):
            _, _, ack, data, stall = await ctx.tick().sample(dut.wb_ack, dut.wb_dat_r,
                                                            dut.wb_stall)
            assert not stall
            ctx.set(dut.wb_stb, 0)
            if ack:
                acks.append((cycle, data))
        seen["acks"] = acks
        # A read whose cycle ends before its answer: no answer in the next cycle.
        ctx.set(dut.wb_stb, 1)
        await ctx.tick()
        ctx.set(dut.wb_stb, 0)
        ctx.set(dut.wb_cyc, 0)
        await ctx.tick().repeat(2)
        ctx.set(dut.wb_cyc, 1)
        late = []
        for _ in range(dut.latency + 2):
            _, _, ack = await ctx.tick().sample(dut.wb_ack)
            late.append(ack)
        seen["late"] = late

    simulate(dut, testbench)
    assert seen["acks"] == [(dut.latency, ACCEL_ID)]
    assert not any(seen["late"])
