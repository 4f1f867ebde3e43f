"""iCEBreaker with an iCE40UP5K (SG48): 12 MHz oscillator, a PLL to the core clock."""

from amaranth.hdl import Instance, Module, Signal
from amaranth_boards.icebreaker import ICEBreakerPlatform as _ICEBreakerPlatform

from .reset import add_sync_domain


__all__ = ["ICEBreakerPlatform", "ice40_pll_dividers"]


def ice40_pll_dividers(input_hz, output_hz):
    """Dividers of an iCE40 PLL (SB_PLL40, simple feedback) giving exactly ``output_hz`` from
    ``input_hz``, as ``icepll`` computes them: ``output = input * (DIVF + 1) / (DIVR + 1) /
    2**DIVQ``, the phase detector's input (10-133 MHz) and the VCO (533-1066 MHz) in range.

    Returns ``(divr, divf, divq, filter_range)``, ``filter_range`` the loop filter's setting
    for the phase detector's frequency; raises ``ValueError`` if no dividers make
    ``output_hz`` exactly.
    """
    for divr in range(16):
        pfd_hz = input_hz / (divr + 1)
        if not 10e6 <= pfd_hz <= 133e6:
            continue
        for divf in range(128):
            vco_hz = pfd_hz * (divf + 1)
            if not 533e6 <= vco_hz <= 1066e6:
                continue
            for divq in range(1, 7):
                if input_hz * (divf + 1) == output_hz * (divr + 1) * (1 << divq):
                    filter_range = 1 + sum(pfd_hz >= limit for limit in
                                           (17e6, 26e6, 44e6, 66e6, 101e6))
                    return divr, divf, divq, filter_range
    raise ValueError(f"iCE40 PLL cannot make {output_hz / 1e6:g} MHz from "
                     f"{input_hz / 1e6:g} MHz exactly")


class ICEBreakerPlatform(_ICEBreakerPlatform):
    """The iCEBreaker: UART through the on-board FTDI chip, the user button as reset.

    ``sync`` runs at ``clock_hz`` from the 12 MHz oscillator through the PLL (SB_PLL40_PAD,
    fed by the oscillator's pin), held in reset until the PLL locks and while the button is
    pressed. 30 MHz divides into 3 Mbaud exactly (10 cycles a bit).
    """
    name = "icebreaker"
    clock_hz = 30e6
    dsp_blocks = 8

    def create_missing_domain(self, name):
        if name != "sync":
            return super().create_missing_domain(name)
        m = Module()
        pad = self.request(self.default_clk, dir="-")
        button = self.request("button", 0).i
        divr, divf, divq, filter_range = ice40_pll_dividers(
            self.default_clk_frequency, self.clock_hz)
        clock, locked = Signal(), Signal()
        m.submodules.pll = Instance("SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf, p_DIVQ=divq,
            p_FILTER_RANGE=filter_range,
            i_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
            o_PLLOUTGLOBAL=clock, o_LOCK=locked)
        add_sync_domain(m, clock, ~locked | button)
        self.add_clock_constraint(clock, self.clock_hz)
        return m
