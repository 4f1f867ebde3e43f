"""The output stage: carries runs across beats and writes finished rows to the output memory."""

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import sum_layout
from .memory import BlockMemory, registered_read


__all__ = ["OutputAccumulator"]


class OutputAccumulator(wiring.Component):
    """Finishes the rows a beat closes and stores them.

    Each beat from the reduction tree brings the sums of its runs
    (:func:`~hw.layouts.sum_layout`): the ``closes`` rows it ends, which are written as the
    beat arrives (a registered write, landing a cycle later), C = ``cfg.output_ports`` write
    ports for as many rows, and the run it leaves open, kept in a carry register and added
    to the first row of a later beat. Rows are written in order, so row ``r`` lives in bank
    ``r % C`` at ``r // C``, and a cycle's rows never share a bank.

    Latency (:attr:`latency`) is one cycle: a beat's rows are counted in ``rows``, and
    written, in the cycle after it arrives; a read may ask for them from the cycle after that.
    The input is always ready. A beat that closes more than C rows (which the host never
    sends, :func:`host.encode.encode`) writes nothing and sets ``overrun``; ``retired`` pulses
    as each beat arrives, a cycle before its rows land. ``clear`` (only while no beat is in
    flight) forgets the carry and starts a new layer at row 0.

    Members
    -------
    i : ``In(stream.Signature(sum_layout(cfg)))``
        Sums of the beats' runs.
    clear : ``In(1)``
        Forget the carry and restart at row 0.
    rows : ``Out(row_width + 1)``
        Rows closed since the last ``clear``.
    retired : ``Out(1)``
        A beat arrives in this cycle; its rows land in the next.
    overrun : ``Out(1)``
        A beat closed more than C rows, since ``clear``.
    read_row : ``In(row_width)``
    read_en : ``In(1)``
        Read row ``read_row``'s sum; it appears on ``read_data`` two cycles later.
    read_data : ``Out(signed(acc_width))``
    read_words : ``Out(ArrayLayout(signed(acc_width), C))``
        Every bank's word at ``read_row // C``, beside ``read_data``: rows ``C * (read_row //
        C) + c``.

    Each bank is a power of two deep (``out_depth`` rounded up), and rows past its end wrap
    around: a resident network's layer streams more rows than the banks hold, read by the
    output stage (:class:`hw.chain.OutputDrain`) soon after they land.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":         In(stream.Signature(sum_layout(cfg))),
            "clear":     In(1),
            "rows":      Out(cfg.row_width + 1),
            "retired":   Out(1),
            "overrun":   Out(1),
            "read_row":  In(cfg.row_width),
            "read_en":   In(1),
            "read_data": Out(signed(cfg.acc_width)),
            "read_words": Out(data.ArrayLayout(signed(cfg.acc_width), cfg.output_ports)),
        })

    @property
    def latency(self):
        """Cycles from a beat's sums on ``i`` to its rows counted in ``rows``."""
        return 1

    def elaborate(self, platform):
        cfg = self.cfg
        ports = cfg.output_ports
        port_bits = ceil_log2(ports)
        m = Module()

        m.d.comb += self.i.ready.eq(1)
        sums, closes = self.i.payload.sums, self.i.payload.closes
        arriving = self.i.valid & ~self.clear
        fits = closes <= ports
        carry = Signal(signed(cfg.acc_width))
        base = self.rows
        m.d.comb += self.retired.eq(arriving)
        with m.If(arriving):
            with m.If(~fits):
                m.d.sync += self.overrun.eq(1)
            with m.Elif(closes == 0):
                m.d.sync += carry.eq(carry + sums[0])
            with m.Else():
                m.d.sync += [carry.eq(sums[closes]),
                             base.eq(base + closes)]
        with m.If(self.clear):
            m.d.sync += [carry.eq(0), base.eq(0), self.overrun.eq(0)]

        # Row base + c, the beat's run c (the first with the carry added), goes to bank
        # (base + c) % C at (base + c) // C.
        rows = [Signal(signed(cfg.acc_width), name=f"row{c}") for c in range(ports)]
        for c, row in enumerate(rows):
            m.d.comb += row.eq(sums[c] + carry if c == 0 else sums[c])
        # Reads: each bank's word is registered after the block RAM, then chosen.
        read_bank = Signal(range(ports))
        answer_bank = Signal(range(ports))
        with m.If(self.read_en):
            m.d.sync += read_bank.eq(self.read_row[:port_bits])
        m.d.sync += answer_bank.eq(read_bank)
        read_data = []
        for bank in range(ports):
            memory = m.submodules[f"bank_{bank}"] = BlockMemory(
                shape=signed(cfg.acc_width), depth=1 << ceil_log2(cfg.out_depth))
            write = memory.write_port()
            read = registered_read(m, memory, name=f"bank_{bank}_read")
            port = Signal(range(ports), name=f"port{bank}")
            m.d.comb += port.eq(bank - base[:port_bits])
            # The write is registered: the bank is chosen in one cycle, and its block RAM,
            # across the chip maybe, is reached in the next.
            m.d.sync += [
                write.addr.eq((base + port)[port_bits:]),
                write.data.eq(Array(rows)[port] if ports > 1 else rows[0]),
                write.en.eq(arriving & fits & (port < closes)),
            ]
            m.d.comb += [
                read.addr.eq(self.read_row[port_bits:]),
                read.en.eq(self.read_en),
            ]
            word = Signal.like(read.data, name=f"bank_{bank}_word")
            m.d.sync += word.eq(read.data)
            read_data.append(word)
            m.d.comb += self.read_words[bank].eq(word)
        m.d.comb += self.read_data.eq(Array(read_data)[answer_bank] if ports > 1
                                      else read_data[0])
        return m
