"""A UART, 8 data bits, no parity, one stop bit, at ``divisor`` clock cycles per bit."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["LINK_BAUD_RATE", "MAX_BAUD_ERROR", "UARTRx", "UARTTx", "baud_divisor", "baud_error"]


#: The host link's rate on the boards, and on the simulated board run at its real divisor:
#: the most the boards' FTDI chips take (an FT231X on the ULX3S, an FT2232H on the iCEBreaker).
LINK_BAUD_RATE = 3_000_000

#: The largest error of a bit rate against the rate asked for that a link tolerates: the
#: receiver samples each bit in its middle, so the two ends may drift apart by half a bit over
#: the ten bits of a byte, 5 %, of which each end takes half.
MAX_BAUD_ERROR = 0.025


def baud_error(clock_hz, divisor, baud_rate):
    """Relative error of the rate ``clock_hz / divisor`` against ``baud_rate``."""
    return clock_hz / divisor / baud_rate - 1


def baud_divisor(clock_hz, baud_rate, *, max_error=MAX_BAUD_ERROR):
    """Clock cycles per bit for ``baud_rate`` from a clock of ``clock_hz``: the nearest.

    Raises ``ValueError`` if the rate it makes is further than ``max_error`` from
    ``baud_rate``, or if the rate is faster than the clock.
    """
    for name, value in (("Clock", clock_hz), ("Baud rate", baud_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, not {value!r}")
        if not value > 0:
            raise ValueError(f"{name} must be positive, not {value!r}")
    divisor = round(clock_hz / baud_rate)
    if divisor < 1:
        raise ValueError(f"A UART at {baud_rate:.0f} baud needs a clock of at least that rate, "
                         f"not {clock_hz / 1e6:g} MHz")
    error = baud_error(clock_hz, divisor, baud_rate)
    if abs(error) > max_error:
        raise ValueError(f"{baud_rate:.0f} baud from {clock_hz / 1e6:g} MHz: the divisor "
                         f"{divisor} makes {clock_hz / divisor:.0f} baud, {error:+.1%} off, "
                         f"more than the {max_error:.1%} a UART tolerates")
    return divisor


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"UART divisor must be a positive integer, not {divisor!r}")
    return divisor


class UARTRx(wiring.Component):
    """Receives bytes from ``rx``.

    The line low while the receiver is idle starts a byte (so does a line still low after a
    byte with a low stop bit); each bit is sampled in its middle, which for ``divisor == 1``
    is the cycle it is on the line. A byte is offered on ``o`` for the one cycle after its
    stop bit's middle, and lost if ``o.ready`` is low then (``overrun`` pulses): unlike a
    stream source, the receiver does not wait. A byte whose stop bit is low is dropped and
    ``framing_error`` pulses.

    Members
    -------
    rx : ``In(1)``
        The line, high while idle.
    o : ``Out(stream.Signature(8))``
        The bytes received.
    framing_error, overrun : ``Out(1)``
        Pulse for a byte dropped for its stop bit, and for a byte ``o`` was not ready for.
    """
    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(2 * self.divisor))
        bits = Signal(range(9))
        shift = Signal(8)
        m.d.comb += self.o.payload.eq(shift)
        m.d.sync += [self.o.valid.eq(0), self.framing_error.eq(0)]
        m.d.comb += self.overrun.eq(self.o.valid & ~self.o.ready)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~self.rx):
                    # The first data bit's middle is one bit and a half after the edge.
                    m.d.sync += [timer.eq(self.divisor - 1 + (self.divisor - 1) // 2),
                                 bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(bits + 1)]
                    with m.If(bits == 8):
                        with m.If(self.rx):
                            m.d.sync += self.o.valid.eq(1)
                        with m.Else():
                            m.d.sync += self.framing_error.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += shift.eq(Cat(shift[1:], self.rx))
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        return m


class UARTTx(wiring.Component):
    """Sends the bytes offered on ``i`` on ``tx``, each as a start bit, 8 data bits (least
    significant first) and a stop bit, ``divisor`` cycles a bit. ``i.ready`` is high while the
    transmitter is idle; a byte's start bit is on the line from the cycle after it is taken,
    and the transmitter is idle again a cycle after its stop bit, so bytes offered back to back
    take ``10 * divisor + 1`` cycles each.

    Members
    -------
    i : ``In(stream.Signature(8))``
        The bytes to send.
    tx : ``Out(1)``
        The line, high while idle.
    """
    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shift = Signal(10, init=1)
        bits = Signal(range(11))
        m.d.comb += [self.tx.eq(shift[0]), self.i.ready.eq(bits == 0)]
        with m.If(bits == 0):
            with m.If(self.i.valid):
                m.d.sync += [shift.eq(Cat(0, self.i.payload, 1)), bits.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m
