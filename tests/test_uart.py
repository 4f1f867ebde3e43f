# amaranth: UnusedElaboratable=no
"""The UART in Amaranth's simulator: a transmitter looped back into a receiver, with random
gaps between the bytes offered and a receiver sink that drops ``ready`` at random."""

import random

import pytest
from amaranth.hdl import Module

from hw.uart import UARTRx, UARTTx, baud_divisor, baud_error
from tests.sim_streams import drain, pause_cycles, put, simulate


@pytest.mark.parametrize("source_pause, sink_pause", [(0.0, 0.0), (0.9, 0.0), (0.6, 0.5)])
@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 5, 8, 33])
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


@pytest.mark.parametrize("clock_hz, baud_rate, divisor, error", [
    (100e6, 3_000_000, 33, 0.0101), (12e6, 3_000_000, 4, 0.0), (100e6, 115200, 868, 0.0001),
    (12e6, 115200, 104, 0.0016),
])
def test_baud_divisor_and_its_error(clock_hz, baud_rate, divisor, error):
    assert baud_divisor(clock_hz, baud_rate) == divisor
    assert baud_error(clock_hz, divisor, baud_rate) == pytest.approx(error, abs=1e-4)


@pytest.mark.parametrize("clock_hz, baud_rate, error, message", [
    (12e6, 5_000_000, ValueError, r"^5000000 baud from 12 MHz: the divisor 2 makes 6000000 "
                                  r"baud, \+20\.0% off, more than the 2\.5% a UART tolerates$"),
    (50e6, 3_000_000, ValueError, r"^3000000 baud from 50 MHz: the divisor 17 makes 2941176 "
                                  r"baud, -2\.0% off, more than the 1\.5% a UART tolerates$"),
    (12e6, 30_000_000, ValueError, r"^A UART at 30000000 baud needs a clock of at least that "
                                   r"rate, not 12 MHz$"),
    (0, 115200, ValueError, r"^Clock must be positive, not 0$"),
    (12e6, "fast", TypeError, r"^Baud rate must be a number, not 'fast'$"),
])
def test_baud_divisor_refuses_rates_a_uart_cannot_keep(clock_hz, baud_rate, error, message):
    with pytest.raises(error, match=message):
        baud_divisor(clock_hz, baud_rate, **({"max_error": 0.015} if clock_hz == 50e6 else {}))
