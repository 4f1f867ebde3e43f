"""The board-level top: a UART, the link decoder and the engine behind it."""

from amaranth.hdl import Cat, DomainRenamer, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .accel import Accelerator
from .bus import BUS_READ_LATENCY, BUS_WRITE_LATENCY
from .link import LinkDecoder
from .streams import StreamRegister
from .uart import UARTRx, UARTTx


__all__ = ["Board"]


class Board(wiring.Component):
    """What a board carries: the host talks to the accelerator over ``rx`` and ``tx``.

    The UART runs at ``cfg.baud_divisor`` cycles per bit, so bytes reach the link decoder at
    least ten bit times apart, and the decoder, always ready, takes every one; a frame that
    stalls for ``cfg.link_timeout`` cycles is abandoned. ``busy`` is high during a run (for an
    LED).

    With ``core_domain``, the engine runs in that clock domain instead of ``sync``, and
    ``core_active`` says in which cycles it must be clocked: during a run, and from a bus
    request of the link until a read's answer is registered or a write has landed. Between
    those it holds still, so a simulation may skip its clock and spend its time on the link
    alone. On an FPGA both domains are the same clock.

    ``engine`` is the component behind the link: :class:`~hw.accel.Accelerator`, or
    :class:`~hw.dense.DenseArray` for the dense baseline of the implementation report.

    Members
    -------
    rx : ``In(1)``
        The UART line from the host.
    tx : ``Out(1)``
        The UART line to the host.
    busy : ``Out(1)``
    core_active : ``Out(1)``
    """
    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy: Out(1)
    core_active: Out(1)

    def __init__(self, cfg, *, core_domain="sync", engine=Accelerator):
        self.cfg = cfg
        self.core_domain = core_domain
        self.engine = engine
        super().__init__()

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        receiver = m.submodules.receiver = UARTRx(cfg.baud_divisor)
        transmitter = m.submodules.transmitter = UARTTx(cfg.baud_divisor)
        link = m.submodules.link = LinkDecoder(cfg, cfg.link_timeout)
        accel = self.engine(cfg)
        m.submodules.accel = DomainRenamer({"sync": self.core_domain})(accel)
        # A read needs the core's clock until its answer is registered, a write until it has
        # landed.
        reading = Signal(BUS_READ_LATENCY)
        writing = Signal(BUS_WRITE_LATENCY)
        m.d.sync += [reading.eq(Cat(link.bus.r_en, reading)),
                     writing.eq(Cat(link.bus.w_en, writing))]
        m.d.comb += [receiver.rx.eq(self.rx), self.tx.eq(transmitter.tx),
                     self.busy.eq(accel.busy),
                     self.core_active.eq(accel.busy | link.bus.w_en | link.bus.r_en |
                                         reading[:BUS_READ_LATENCY - 1].any() |
                                         writing.any())]
        wiring.connect(m, receiver.o, link.rx)
        # The answer's bytes pass a register on their way to the UART, which sits by its pin.
        answer = m.submodules.answer = StreamRegister(8)
        wiring.connect(m, link.tx, answer.i)
        wiring.connect(m, answer.o, transmitter.i)
        wiring.connect(m, link.bus, accel.bus)
        return m
