"""ULX3S with an ECP5-85F (CABGA381, speed 6): 25 MHz crystal, a PLL to the core clock."""

from amaranth.hdl import Const, Instance, Module, Signal
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from .reset import add_sync_domain


__all__ = ["ULX3SPlatform", "ecp5_pll_dividers"]


def ecp5_pll_dividers(input_hz, output_hz):
    """Dividers of an EHXPLLL giving exactly ``output_hz`` from ``input_hz``, with the VCO
    (400-800 MHz) nearest the middle of its range.

    Returns ``(clki_div, clkfb_div, clkop_div)``; raises ``ValueError`` if none exists.
    """
    for clki_div in range(1, 129):
        for clkfb_div in range(1, 81):
            if input_hz * clkfb_div != output_hz * clki_div:
                continue
            dividers = [div for div in range(1, 129) if 400e6 <= output_hz * div <= 800e6]
            if dividers:
                clkop_div = min(dividers, key=lambda div: abs(output_hz * div - 600e6))
                return clki_div, clkfb_div, clkop_div
    raise ValueError(f"ECP5 PLL cannot make {output_hz / 1e6:g} MHz from "
                     f"{input_hz / 1e6:g} MHz exactly")


class ULX3SPlatform(ULX3S_85F_Platform):
    """The ULX3S-85F: UART through the on-board FTDI chip, the PWR button as reset.

    ``sync`` runs at ``clock_hz`` from the 25 MHz crystal through the PLL, held in reset
    until the PLL locks and while the PWR button is pressed.
    """
    name = "ulx3s"
    clock_hz = 100e6
    # Multipliers of the device: no board configuration may need more.
    dsp_blocks = 156

    def create_missing_domain(self, name):
        if name != "sync":
            return super().create_missing_domain(name)
        m = Module()
        crystal = self.request(self.default_clk, dir="i").i
        button = self.request("button_pwr", 0).i
        clki_div, clkfb_div, clkop_div = ecp5_pll_dividers(
            self.default_clk_frequency, self.clock_hz)
        clock, locked = Signal(), Signal()
        m.submodules.pll = Instance("EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{self.default_clk_frequency / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{self.clock_hz / 1e6:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8",
            a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA",
            p_CLKI_DIV=clki_div, p_CLKFB_DIV=clkfb_div, p_FEEDBK_PATH="CLKOP",
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=clkop_div,
            p_CLKOP_CPHASE=(clkop_div - 1) // 2, p_CLKOP_FPHASE=0,
            i_CLKI=crystal, i_CLKFB=clock, o_CLKOP=clock, o_LOCK=locked,
            i_RST=Const(0), i_STDBY=Const(0), i_PHASESEL0=Const(0), i_PHASESEL1=Const(0),
            i_PHASEDIR=Const(1), i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1),
            i_PLLWAKESYNC=Const(0), i_ENCLKOP=Const(0))
        add_sync_domain(m, clock, ~locked | button)
        self.add_clock_constraint(clock, self.clock_hz)
        return m
