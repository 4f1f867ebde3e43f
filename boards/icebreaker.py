"""iCEBreaker with an iCE40UP5K (SG48): the 12 MHz oscillator drives the core directly."""

from amaranth.hdl import ClockDomain, ClockSignal, Module, ResetSignal, Signal
from amaranth_boards.icebreaker import ICEBreakerPlatform as _ICEBreakerPlatform


__all__ = ["ICEBreakerPlatform"]


class ICEBreakerPlatform(_ICEBreakerPlatform):
    """The iCEBreaker: UART through the on-board FTDI chip, the user button as reset.

    ``sync`` runs from the 12 MHz oscillator, with no PLL: the UP5K's logic does not reach
    much further at these sizes, and 12 MHz divides into 115200 baud with 0.2 % error.
    """
    name = "icebreaker"
    clock_hz = 12e6
    dsp_blocks = 8
    ram_blocks = 30

    def create_missing_domain(self, name):
        if name != "sync":
            return super().create_missing_domain(name)
        m = Module()
        clock = self.request(self.default_clk, dir="i").i
        button = self.request("button", 0).i
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True)
        m.d.comb += [ClockSignal("sync").eq(clock), ClockSignal("por").eq(clock)]
        # Held in reset for a few cycles after configuration and while the button is pressed.
        reset = Signal(4, init=0b1111)
        with m.If(button):
            m.d.por += reset.eq(0b1111)
        with m.Else():
            m.d.por += reset.eq(reset >> 1)
        m.d.comb += ResetSignal("sync").eq(reset[0])
        return m
