"""The output stage: carry runs across beats and write finished rows to the output memory."""

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import sum_layout
from .memory import BlockMemory, registered_read


__all__ = ["OutputAccumulator"]


class OutputAccumulator(wiring.Component):
    """Finishes the rows the reduction tree's runs belong to and stores them.

    Rows close in order; the ``closed_before`` count of the tree numbers them within the
    beat. The run that ends a beat without a row end is kept in a carry register and added
    to the first row the next beat closes.

    A beat is latched as it arrives; over the next ``max(1, ceil(n / C))`` cycles, for a beat
    that closes ``n`` rows and C = ``cfg.output_ports``, the stage writes C rows a cycle:
    port ``c`` takes the row numbered ``k + c`` in the beat, picked out of the P lanes by
    that number, and the row's part in the beat is the tree's prefix sum there less the one
    at the row before. The next beat must not arrive before the last of those cycles: the
    host spaces such beats with empty ones (:func:`host.encode.encode`), so that nothing
    upstream needs a stall path, and the input is always ready. An empty beat that arrives
    earlier is passed over (``skipped``); any other sets ``overrun``. Rows written in one
    cycle are consecutive, so row ``r`` lives in bank ``r % C`` at ``r // C`` without
    conflict.

    Each cycle's rows pass a selection register, then are written; ``retired`` pulses as
    the selection of a beat's last rows is made, a cycle before they are written.
    ``clear`` (only while no beat is in flight) starts a new layer at row 0.

    Members
    -------
    i : ``In(stream.Signature(sum_layout(cfg)))``
        Prefix sums from the reduction tree.
    clear : ``In(1)``
        Forget the carry and restart at row 0.
    rows : ``Out(row_width + 1)``
        Rows closed since the last ``clear``.
    retired : ``Out(1)``
        A beat's last rows are written in this cycle.
    skipped : ``Out(1)``
        An empty beat that came while the rows of the one before were written is retired
        in this cycle.
    overrun : ``Out(1)``
        A beat that was not empty came before the rows of the one before were written,
        since ``clear``.
    read_row, read_en : ``In``
        Read a row's sum; it appears on ``read_data`` in the next cycle.
    read_data : ``Out(signed(acc_width))``
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":         In(stream.Signature(sum_layout(cfg))),
            "clear":     In(1),
            "rows":      Out(cfg.row_width + 1),
            "retired":   Out(1),
            "skipped":   Out(1),
            "overrun":   Out(1),
            "read_row":  In(cfg.row_width),
            "read_en":   In(1),
            "read_data": Out(signed(cfg.acc_width)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        lanes, ports = cfg.pes, cfg.output_ports
        port_bits = ceil_log2(ports)
        m = Module()

        # The arriving beat is latched and its rows written over the next cycles; the host's
        # empty beats fill those cycles, so the next real beat arrives as the last rows are
        # written.
        m.d.comb += self.i.ready.eq(1)
        beat = Signal(sum_layout(cfg), reset_less=True)     # data: no reset net
        closes = Signal(range(lanes + 1))
        active = Signal()
        taken = Signal(range(lanes + ports))      # rows of the beat already written
        final = Signal()
        carry = Signal(signed(cfg.acc_width))
        row = self.rows
        m.d.comb += final.eq(taken + ports >= closes)
        with m.If(active):
            m.d.sync += taken.eq(taken + ports)
            with m.If(final):
                m.d.sync += [active.eq(0), row.eq(row + closes)]
        # A beat that comes while the rows of the one before are still being written is one
        # of the empty beats the host spaces beats with: it changes nothing, and is counted
        # as retired. If it is not empty, the stream was not spaced: ``overrun``.
        incoming = self.i.payload
        incoming_closes = incoming[lanes - 1].closed_before + incoming[lanes - 1].last
        holding = active & ~final
        skipping = self.i.valid & holding
        m.d.sync += self.skipped.eq(skipping)
        with m.If(skipping & ((incoming_closes != 0) | (incoming[lanes - 1].sum != 0))):
            m.d.sync += self.overrun.eq(1)
        with m.If(self.i.valid & ~holding):
            m.d.sync += [
                beat.eq(incoming),
                closes.eq(incoming_closes),
                taken.eq(0),
                active.eq(1),
            ]
        with m.If(self.clear):
            m.d.sync += [carry.eq(0), row.eq(0), active.eq(0), self.overrun.eq(0)]

        # Selection: port c picks the lane that closes row k + c of the beat; its prefix sum
        # less that of the row before it is the row's part in the beat.
        values = [Signal(signed(cfg.sum_width), name=f"value{c}", reset_less=True)
                  for c in range(ports)]
        writes = [Signal(name=f"write{c}") for c in range(ports)]
        first = Signal()        # port 0 holds the beat's first row, which takes the carry
        base = Signal.like(row)
        retiring = Signal()
        tail = Signal(signed(cfg.sum_width), reset_less=True)
        closing_port = Signal(range(ports))
        m.d.sync += [
            base.eq(row + taken),
            first.eq(taken == 0),
            retiring.eq(active & final),
            tail.eq(beat[lanes - 1].sum),
            closing_port.eq(closes - 1 - taken),
        ]
        for c in range(ports):
            number = taken + c
            picked = [Mux(beat[i].last & (beat[i].closed_before == number), beat[i].sum, 0)
                      for i in range(lanes)]
            while len(picked) > 1:
                picked = [picked[i] | picked[i + 1] if i + 1 < len(picked) else picked[i]
                          for i in range(0, len(picked), 2)]
            m.d.sync += [
                values[c].eq(picked[0]),
                writes[c].eq(active & (number < closes)),
            ]

        # Rows: a port's prefix sum less the one before it (the previous port's, or for port
        # 0 the last port's of the cycle before); the beat's first row adds the carry instead.
        # The carry is what the beat leaves after its last row (or all of it, if it closes
        # none); a beat's first row is written after the carry of the beat before is.
        previous = Signal(signed(cfg.sum_width), reset_less=True)
        m.d.sync += previous.eq(values[-1])
        sums = [Signal(signed(cfg.acc_width), name=f"row{c}") for c in range(ports)]
        for c in range(ports):
            part = Signal(signed(cfg.sum_width), name=f"part{c}")
            m.d.comb += part.eq(values[c] - (values[c - 1] if c else previous))
            m.d.comb += sums[c].eq(part if c else Mux(first, values[0] + carry, part))
        leftover = Signal(signed(cfg.sum_width))
        m.d.comb += leftover.eq(tail - (Array(values)[closing_port] if ports > 1 else values[0]))
        with m.If(retiring & ~self.clear):
            m.d.sync += carry.eq(Mux(writes[0], leftover, carry + tail))

        # Writes: row base + c goes to bank (base + c) % C, at (base + c) // C.
        read_bank = Signal(range(ports))
        with m.If(self.read_en):
            m.d.sync += read_bank.eq(self.read_row[:port_bits])
        read_data = []
        for bank in range(ports):
            memory = m.submodules[f"bank_{bank}"] = BlockMemory(
                shape=signed(cfg.acc_width), depth=cfg.out_depth)
            write = memory.write_port()
            read = registered_read(m, memory, name=f"bank_{bank}_read")
            port = Signal(range(ports), name=f"port{bank}")
            m.d.comb += port.eq(bank - base[:port_bits])
            port_sum = Array(sums)[port] if ports > 1 else sums[0]
            port_write = Array(writes)[port] if ports > 1 else writes[0]
            m.d.comb += [
                write.addr.eq((base + port)[port_bits:]),
                write.data.eq(port_sum),
                write.en.eq(port_write),
                read.addr.eq(self.read_row[port_bits:]),
                read.en.eq(self.read_en),
            ]
            read_data.append(read.data)
        m.d.comb += [
            self.retired.eq(retiring),
            self.read_data.eq(Array(read_data)[read_bank] if ports > 1 else read_data[0]),
        ]
        return m
