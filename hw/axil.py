"""The accelerator as an AXI4-Lite slave."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .accel import Accelerator
from .bus import BUS_READ_LATENCY, BUS_WIDTH, BYTES_PER_WORD, byte_addr_width
from .config import ceil_log2


__all__ = ["Response", "AxiLiteAccelerator"]


class Response(enum.Enum, shape=2):
    """``BRESP`` and ``RRESP`` values (AMBA AXI)."""
    OKAY   = 0
    SLVERR = 2


class AxiLiteAccelerator(wiring.Component):
    """The accelerator (:class:`~hw.accel.Accelerator`) behind an AXI4-Lite slave port of
    32-bit words and byte addresses, its signals named as AMBA names them with the prefix
    ``s_axil_``.

    An address is a byte address: word ``addr >> 2`` of the accelerator's bus (the low two
    bits are ignored); ``awprot`` and ``arprot`` are ignored. Each channel has a one-entry
    buffer: ``awready``, ``wready`` and ``arready`` are high while it is empty. A write goes to
    the accelerator once its address and data are both in and the previous write's response
    has been taken, and is answered in the next cycle: ``OKAY``, or ``SLVERR`` for a write
    whose ``wstrb`` is not ``0b1111``, which is refused and changes nothing. A read is sent
    once the previous read's data has been taken; ``rvalid`` rises with its data (the whole
    word) and ``OKAY`` :data:`~hw.bus.BUS_READ_LATENCY` + 2 cycles after it is sent. When
    both a write and a read are ready in one cycle the write goes first. Reads and writes may
    overtake each other, as AXI allows: a master that needs a write to land before a read
    waits for its response, and then the read sees it.

    Every input is registered before it reaches the accelerator and every output comes from a
    register.

    Members
    -------
    s_axil_awaddr, s_axil_araddr : ``In(byte_addr_width(cfg))``
    s_axil_awprot, s_axil_arprot : ``In(3)``
    s_axil_awvalid, s_axil_wvalid, s_axil_bready, s_axil_arvalid, s_axil_rready : ``In(1)``
    s_axil_awready, s_axil_wready, s_axil_bvalid, s_axil_arready, s_axil_rvalid : ``Out(1)``
    s_axil_wdata : ``In(32)``
    s_axil_wstrb : ``In(4)``
    s_axil_rdata : ``Out(32)``
    s_axil_bresp, s_axil_rresp : ``Out(Response)``
    irq, busy : ``Out(1)``
        The accelerator's (:class:`~hw.accel.Accelerator`).
    """
    def __init__(self, cfg):
        self.cfg = cfg
        addr_width = byte_addr_width(cfg)
        super().__init__({
            "s_axil_awaddr":  In(addr_width),
            "s_axil_awprot":  In(3),
            "s_axil_awvalid": In(1),
            "s_axil_awready": Out(1),
            "s_axil_wdata":   In(BUS_WIDTH),
            "s_axil_wstrb":   In(BYTES_PER_WORD),
            "s_axil_wvalid":  In(1),
            "s_axil_wready":  Out(1),
            "s_axil_bresp":   Out(Response),
            "s_axil_bvalid":  Out(1),
            "s_axil_bready":  In(1),
            "s_axil_araddr":  In(addr_width),
            "s_axil_arprot":  In(3),
            "s_axil_arvalid": In(1),
            "s_axil_arready": Out(1),
            "s_axil_rdata":   Out(BUS_WIDTH),
            "s_axil_rresp":   Out(Response),
            "s_axil_rvalid":  Out(1),
            "s_axil_rready":  In(1),
            "irq":            Out(1),
            "busy":           Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        core = m.submodules.core = Accelerator(self.cfg)
        bus = core.bus
        m.d.comb += [self.irq.eq(core.irq), self.busy.eq(core.busy)]
        low = ceil_log2(BYTES_PER_WORD)

        # The channels' buffers.
        aw_full, w_full, ar_full = Signal(), Signal(), Signal()
        aw_addr, ar_addr = Signal(len(bus.addr)), Signal(len(bus.addr))
        w_data, w_whole = Signal(BUS_WIDTH), Signal()
        m.d.comb += [self.s_axil_awready.eq(~aw_full), self.s_axil_wready.eq(~w_full),
                     self.s_axil_arready.eq(~ar_full)]
        with m.If(self.s_axil_awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(self.s_axil_awaddr[low:])]
        with m.If(self.s_axil_wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), w_data.eq(self.s_axil_wdata),
                         w_whole.eq(self.s_axil_wstrb == (1 << BYTES_PER_WORD) - 1)]
        with m.If(self.s_axil_arvalid & ~ar_full):
            m.d.sync += [ar_full.eq(1), ar_addr.eq(self.s_axil_araddr[low:])]

        # One access to the accelerator a cycle, from the buffers.
        reading = Signal()
        write = Signal()
        read = Signal()
        m.d.comb += [write.eq(aw_full & w_full & ~self.s_axil_bvalid),
                     read.eq(ar_full & ~reading & ~write)]
        m.d.sync += [bus.addr.eq(Mux(write, aw_addr, ar_addr)), bus.w_data.eq(w_data),
                     bus.w_en.eq(write & w_whole), bus.r_en.eq(read)]
        with m.If(write):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), self.s_axil_bvalid.eq(1),
                         self.s_axil_bresp.eq(Mux(w_whole, Response.OKAY, Response.SLVERR))]
        with m.Elif(self.s_axil_bready):
            m.d.sync += self.s_axil_bvalid.eq(0)
        with m.If(read):
            m.d.sync += [ar_full.eq(0), reading.eq(1)]

        # The read's data, BUS_READ_LATENCY cycles after the accelerator's request.
        on_way = Signal(BUS_READ_LATENCY + 1)
        m.d.sync += on_way.eq(on_way << 1 | read)
        with m.If(on_way[-1]):
            m.d.sync += [self.s_axil_rdata.eq(bus.r_data), self.s_axil_rvalid.eq(1),
                         self.s_axil_rresp.eq(Response.OKAY)]
        with m.Elif(self.s_axil_rvalid & self.s_axil_rready):
            m.d.sync += [self.s_axil_rvalid.eq(0), reading.eq(0)]
        return m
