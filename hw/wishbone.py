"""The accelerator as a Wishbone B4 pipelined slave."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .accel import Accelerator
from .bus import BUS_READ_LATENCY, BUS_WIDTH, BYTES_PER_WORD, byte_addr_width
from .config import ceil_log2


__all__ = ["WishboneAccelerator"]


class WishboneAccelerator(wiring.Component):
    """The accelerator (:class:`~hw.accel.Accelerator`) behind a Wishbone B4 pipelined slave
    port of 32-bit words and byte addresses.

    ``wb_adr`` is a byte address: word ``wb_adr >> 2`` of the accelerator's bus (the low two
    bits are ignored). The slave never stalls (``wb_stall`` is 0) and takes a request in every
    cycle in which ``wb_cyc`` and ``wb_stb`` are high; it answers each, in order, exactly
    :attr:`latency` cycles later, with ``wb_ack`` (and a read's ``wb_dat_r``), or with ``wb_err``
    for a write whose ``wb_sel`` is not ``0b1111``: such a partial write is refused and changes
    nothing. A read returns the whole word whatever ``wb_sel`` is. Answers still on their way
    when ``wb_cyc`` falls are dropped (their writes are done).

    Every input is registered before it reaches the accelerator, and every output but the
    ``wb_cyc`` gate of ``wb_ack`` and ``wb_err`` comes from a register.

    Members
    -------
    wb_adr : ``In(byte_addr_width(cfg))``
    wb_dat_w : ``In(32)``
    wb_dat_r : ``Out(32)``
    wb_sel : ``In(4)``
    wb_cyc, wb_stb, wb_we : ``In(1)``
    wb_ack, wb_err, wb_stall : ``Out(1)``
    irq, busy : ``Out(1)``
        The accelerator's (:class:`~hw.accel.Accelerator`).
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "wb_adr":   In(byte_addr_width(cfg)),
            "wb_dat_w": In(BUS_WIDTH),
            "wb_dat_r": Out(BUS_WIDTH),
            "wb_sel":   In(BYTES_PER_WORD),
            "wb_cyc":   In(1),
            "wb_stb":   In(1),
            "wb_we":    In(1),
            "wb_ack":   Out(1),
            "wb_err":   Out(1),
            "wb_stall": Out(1),
            "irq":      Out(1),
            "busy":     Out(1),
        })

    @property
    def latency(self):
        """Cycles from a request's acceptance to its answer: the input register, the
        accelerator's :data:`~hw.bus.BUS_READ_LATENCY`, the output register."""
        return BUS_READ_LATENCY + 2

    def elaborate(self, platform):
        m = Module()
        core = m.submodules.core = Accelerator(self.cfg)
        bus = core.bus
        m.d.comb += [self.irq.eq(core.irq), self.busy.eq(core.busy), self.wb_stall.eq(0)]

        request = self.wb_cyc & self.wb_stb
        whole = self.wb_sel == (1 << BYTES_PER_WORD) - 1
        m.d.sync += [
            bus.addr.eq(self.wb_adr[ceil_log2(BYTES_PER_WORD):]),
            bus.w_data.eq(self.wb_dat_w),
            bus.w_en.eq(request & self.wb_we & whole),
            bus.r_en.eq(request & ~self.wb_we),
        ]
        # One bit per request on its way to its answer, in the order they came.
        acks = Signal(self.latency - 1)
        errors = Signal(self.latency - 1)
        m.d.sync += [acks.eq(acks << 1 | (request & (~self.wb_we | whole))),
                     errors.eq(errors << 1 | (request & self.wb_we & ~whole))]
        with m.If(~self.wb_cyc):
            m.d.sync += [acks.eq(0), errors.eq(0)]
        ack, err = Signal(), Signal()
        m.d.sync += [ack.eq(acks[-1] & self.wb_cyc), err.eq(errors[-1] & self.wb_cyc),
                     self.wb_dat_r.eq(bus.r_data)]
        m.d.comb += [self.wb_ack.eq(ack & self.wb_cyc), self.wb_err.eq(err & self.wb_cyc)]
        return m
