# amaranth: UnusedElaboratable=no
"""The UART in Amaranth's simulator: a transmitter looped back into a receiver, with random
gaps between the bytes offered and a receiver sink that drops ``ready`` at random."""

import random

import pytest
from amaranth.hdl import Module

from hw.uart import UARTRx, UARTTx
from tests.sim_streams import drain, pause_cycles, put, simulate


@pytest.mark.parametrize("source_pause, sink_pause", [(0.0, 0.0), (0.9, 0.0), (0.6, 0.5)])
@pytest.mark.parametrize("divisor", [1, 2, 3, 5, 8])
def test_loopback_with_random_gaps(divisor, source_pause, sink_pause):
    """Every byte sent arrives once, in order: taken where the sink was ready, reported by
    ``overrun`` where it was not, and never a framing error."""
    tx, rx = UARTTx(divisor), UARTRx(divisor)
    m = Module()
    m.submodules.tx, m.submodules.rx = tx, rx
    m.d.comb += rx.rx.eq(tx.tx)
    rng = random.Random(divisor)
    sent = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80, 0x5A] + [rng.randrange(256) for _ in range(25)]
    received, offers = [], []
    overruns = framing_errors = 0

    async def source(ctx):
        for byte in sent:
            await put(ctx, tx.i, byte, wait=pause_cycles(rng, source_pause, 30 * divisor))
        deadline = 20 * divisor + 10
        while len(offers) < len(sent) and deadline:
            await ctx.tick()
            deadline -= 1

    async def monitor(ctx):
        nonlocal overruns, framing_errors
        async for _, _, overrun, framing_error in ctx.tick().sample(rx.overrun,
                                                                    rx.framing_error):
            overruns += overrun
            framing_errors += framing_error

    async def sink(ctx):
        await drain(ctx, rx.o, received, pause=sink_pause, seed=divisor, offers=offers)

    simulate(m, source, background=[monitor, sink])
    assert [payload for payload, _ in offers] == sent
    assert received == [payload for payload, ready in offers if ready]
    assert overruns == sum(not ready for _, ready in offers)
    assert framing_errors == 0


def test_bad_divisor():
    with pytest.raises(ValueError, match=r"^UART divisor must be a positive integer, not 0$"):
        UARTRx(0)
