"""The engine's side of the host bus (:class:`~hw.layouts.BusSignature`), shared by the
accelerator and the dense baseline."""

from amaranth.hdl import Mux, Signal

from .config import BUS_WIDTH
from .layouts import Reg, Region


__all__ = ["REG_BITS", "decode_address", "answer_reads"]


#: Bits of a register's index in :attr:`Region.REGS` (the width of :class:`Reg`).
REG_BITS = Reg.as_shape().width


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
    in :attr:`Region.OUTPUTS`, from ``outputs``: the output memory's word for the request,
    which must come two cycles after it (the block RAM's read, then a register). The
    request is latched; in the next cycle each group of four registers (by address) chooses
    its member, registered; then the group, or ``outputs``, is chosen and registered: the
    answer comes :data:`~hw.layouts.BUS_READ_LATENCY` cycles after the request. A
    register's value is the one it has the cycle after the request."""
    read_region = Signal(Region)
    read_index = Signal(REG_BITS)
    with m.If(bus.r_en):
        m.d.sync += [read_region.eq(region), read_index.eq(index[:REG_BITS])]
    answer_region = Signal(Region)
    answer_group = Signal(REG_BITS - 2)
    m.d.sync += [answer_region.eq(read_region), answer_group.eq(read_index[2:])]
    groups = {}
    for reg, value in registers.items():
        groups.setdefault(reg.value >> 2, {})[reg.value & 3] = value
    chosen = {}
    for group, members in groups.items():
        chosen[group] = Signal(BUS_WIDTH, name=f"registers_{group}")
        with m.Switch(read_index[:2]):
            for low, value in members.items():
                with m.Case(low):
                    m.d.sync += chosen[group].eq(value)
            with m.Default():
                m.d.sync += chosen[group].eq(0)
    register = Signal(BUS_WIDTH)
    with m.Switch(answer_group):
        for group, word in chosen.items():
            with m.Case(group):
                m.d.comb += register.eq(word)
    m.d.sync += bus.r_data.eq(Mux(answer_region == Region.OUTPUTS, outputs, register))
