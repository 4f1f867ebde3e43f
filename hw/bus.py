"""The engine's side of the host bus (:class:`~hw.layouts.BusSignature`), shared by the
accelerator and the dense baseline."""

from amaranth.hdl import Mux, Signal

from .config import BUS_WIDTH
from .layouts import Region


__all__ = ["decode_address", "answer_reads"]


def decode_address(m, bus):
    """``(region, index)`` of the bus address: the :class:`Region` in its top bits, the
    index within the region below them."""
    region_bits = Region.as_shape().width
    region = Signal(Region)
    index = Signal(len(bus.addr) - region_bits)
    m.d.comb += [region.eq(bus.addr[-region_bits:]), index.eq(bus.addr[:-region_bits])]
    return region, index


def answer_reads(m, bus, region, index, registers, outputs):
    """Answer reads from a register of ``registers`` (``{Reg: value}``; others read 0) or,
    in :attr:`Region.OUTPUTS`, from ``outputs``: the read data of a memory port enabled by
    the request. The block RAM's output is registered once more before the answer's
    multiplexer (it is slow to come out of the block), so the answer comes
    :data:`~hw.layouts.BUS_READ_LATENCY` cycles after the request."""
    read_region = Signal(Region)
    register = Signal(BUS_WIDTH)
    with m.If(bus.r_en):
        m.d.sync += read_region.eq(region)
        with m.Switch(index[:8]):
            for reg, value in registers.items():
                with m.Case(reg):
                    m.d.sync += register.eq(value)
            with m.Default():
                m.d.sync += register.eq(0)
    # One more stage for all: the output memory's word, the region and the register.
    output_word = Signal(BUS_WIDTH, reset_less=True)
    answer_region = Signal(Region)
    answer_register = Signal(BUS_WIDTH)
    m.d.sync += [output_word.eq(outputs), answer_region.eq(read_region),
                 answer_register.eq(register)]
    m.d.sync += bus.r_data.eq(Mux(answer_region == Region.OUTPUTS, output_word,
                                  answer_register))
