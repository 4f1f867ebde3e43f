"""The ``sync`` domain every board target makes: a clock, and a reset held while asked."""

from amaranth.hdl import ClockDomain, ClockSignal, ResetSignal, Signal


__all__ = ["add_sync_domain"]


def add_sync_domain(m, clock, hold):
    """Add ``sync`` on ``clock`` to ``m``, in reset while ``hold`` is high (a button, a PLL
    not yet locked) and for four cycles after it falls, and after configuration."""
    m.domains.sync = ClockDomain("sync")
    m.domains.por = ClockDomain("por", reset_less=True)
    m.d.comb += [ClockSignal("sync").eq(clock), ClockSignal("por").eq(clock)]
    reset = Signal(4, init=0b1111)
    with m.If(hold):
        m.d.por += reset.eq(0b1111)
    with m.Else():
        m.d.por += reset.eq(reset >> 1)
    m.d.comb += ResetSignal("sync").eq(reset[0])
