"""A UART, 8 data bits, no parity, one stop bit, at ``divisor`` clock cycles per bit."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["UARTRx", "UARTTx"]


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
