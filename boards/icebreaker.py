"""iCEBreaker with an iCE40UP5K (SG48): the 12 MHz oscillator drives the core directly."""

from amaranth.hdl import Module
from amaranth_boards.icebreaker import ICEBreakerPlatform as _ICEBreakerPlatform

from .reset import add_sync_domain


__all__ = ["ICEBreakerPlatform"]


class ICEBreakerPlatform(_ICEBreakerPlatform):
    """The iCEBreaker: UART through the on-board FTDI chip, the user button as reset.

    ``sync`` runs from the 12 MHz oscillator, with no PLL: the UP5K's logic does not reach
    much further at these sizes, and 12 MHz divides into 3 Mbaud exactly (4 cycles a bit).
    """
    name = "icebreaker"
    clock_hz = 12e6
    dsp_blocks = 8

    def create_missing_domain(self, name):
        if name != "sync":
            return super().create_missing_domain(name)
        m = Module()
        clock = self.request(self.default_clk, dir="i").i
        button = self.request("button", 0).i
        add_sync_domain(m, clock, button)
        return m
