# amaranth: UnusedElaboratable=no
import pytest
from amaranth.sim import Simulator

from hw.uart import UARTRx, UARTTx


@pytest.mark.parametrize("divisor", [1, 2, 5, 8])
def test_loopback(divisor):
    tx, rx = UARTTx(divisor), UARTRx(divisor)
    from amaranth.hdl import Module
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    sent = [0x00, 0xFF, 0x55, 0xA5, 0x01, 0x80, 0x5A]
    received = []

    async def source(ctx):
        for byte in sent:
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)

    async def sink(ctx):
        ctx.set(rx.o.ready, 1)
        while len(received) < len(sent):
            _, _, valid, payload, error = await ctx.tick().sample(
                rx.o.valid, rx.o.payload, rx.framing_error)
            assert not error
            if valid:
                received.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert received == sent


def test_bad_divisor():
    with pytest.raises(ValueError, match=r"^UART divisor must be a positive integer, not 0$"):
        UARTRx(0)
