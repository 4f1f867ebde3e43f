"""The output accumulators: carry runs across beats and write finished rows to banked memory."""

from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layouts import sum_layout


__all__ = ["OutputAccumulator"]


class OutputAccumulator(wiring.Component):
    """Finishes the rows the reduction tree's runs belong to and stores them.

    Rows close in order. The run that ends a beat without a row end is kept in a carry
    register and added to the first run of the next beat. A beat closes up to P rows, which
    are consecutive, so they fall into distinct banks of the output memory (row ``r`` lives
    in bank ``r % P`` at ``r // P``); an inverse butterfly network, log2(P) levels of 2:1
    multiplexers routed on the destination bank bits from least to most significant, moves
    each finished row from its lane to its bank without conflict (compaction followed by a
    rotation is a monotone route, which this network carries conflict-free).

    The input is always ready: every beat is consumed in one cycle. A beat's rows are written
    ``2 + log2(P)`` cycles after it is accepted; ``retired`` pulses in that cycle.
    ``clear`` (only while no beat is in flight) starts a new layer at row 0.

    Members
    -------
    i : ``In(stream.Signature(sum_layout(cfg)))``
        Run sums from the reduction tree.
    clear : ``In(1)``
        Forget the carry and restart at row 0.
    rows : ``Out(row_width + 1)``
        Rows closed since the last ``clear``.
    retired : ``Out(1)``
        A beat's rows are written in this cycle.
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
            "read_row":  In(cfg.row_width),
            "read_en":   In(1),
            "read_data": Out(signed(cfg.acc_width)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        lanes, levels = cfg.pes, cfg.lane_levels
        m = Module()
        m.d.comb += self.i.ready.eq(1)

        carry = Signal(signed(cfg.acc_width))
        row = self.rows
        payload = self.i.payload

        # Carry stage: find each row's bank, and mark the beat's first run, which the carry
        # completes. The carry itself is added at the banks, so the router moves sums only
        # as wide as the reduction tree's.
        values = [Signal(signed(cfg.sum_width), name=f"value{i}") for i in range(lanes)]
        firsts = [Signal(name=f"first{i}") for i in range(lanes)]
        writes = [Signal(name=f"write{i}") for i in range(lanes)]
        banks  = [Signal(unsigned(levels), name=f"bank{i}") for i in range(lanes)]
        base   = Signal.like(row)
        carried = Signal.like(carry)
        valid  = Signal()

        closed_in_beat = payload[lanes - 1].closed_before + payload[lanes - 1].last
        trailing = Mux(payload[lanes - 1].last, 0, payload[lanes - 1].sum)
        m.d.sync += valid.eq(self.i.valid)
        with m.If(self.i.valid):
            m.d.sync += [
                carry.eq(Mux(closed_in_beat == 0, carry + trailing, trailing)),
                row.eq(row + closed_in_beat),
                base.eq(row),
                carried.eq(carry),
            ]
            for i in range(lanes):
                lane = payload[i]
                m.d.sync += [
                    values[i].eq(lane.sum),
                    firsts[i].eq(lane.closed_before == 0),
                    writes[i].eq(lane.last),
                    banks[i].eq(row + lane.closed_before),
                ]
        with m.If(self.clear):
            m.d.sync += [carry.eq(0), row.eq(0)]

        # Router: at level k, an element moves to the position whose bit k is its bank's.
        for level in range(levels):
            bit = 1 << level
            next_values = [Signal.like(values[0], name=f"r{level}_value{q}") for q in range(lanes)]
            next_writes = [Signal(name=f"r{level}_write{q}") for q in range(lanes)]
            next_firsts = [Signal(name=f"r{level}_first{q}") for q in range(lanes)]
            next_banks  = [Signal.like(banks[0], name=f"r{level}_bank{q}") for q in range(lanes)]
            next_valid  = Signal(name=f"r{level}_valid")
            next_base   = Signal.like(base, name=f"r{level}_base")
            next_carried = Signal.like(carried, name=f"r{level}_carried")
            m.d.sync += [next_valid.eq(valid), next_base.eq(base), next_carried.eq(carried)]
            for q in range(lanes):
                p = q ^ bit
                stay = writes[q] & (banks[q][level] == bool(q & bit))
                cross = writes[p] & (banks[p][level] == bool(q & bit))
                m.d.sync += [
                    next_writes[q].eq(stay | cross),
                    next_values[q].eq(Mux(stay, values[q], values[p])),
                    next_firsts[q].eq(Mux(stay, firsts[q], firsts[p])),
                    next_banks[q].eq(Mux(stay, banks[q], banks[p])),
                ]
            values, firsts, writes, banks, valid, base, carried = (
                next_values, next_firsts, next_writes, next_banks, next_valid, next_base,
                next_carried)

        # Banks: a beat's rows are base, base+1, ...; bank b holds the one congruent to b.
        base_slot = base[levels:]
        base_bank = base[:levels]
        read_bank = Signal(unsigned(levels))
        with m.If(self.read_en):
            m.d.sync += read_bank.eq(self.read_row[:levels])
        read_data = []
        for b in range(lanes):
            bank = m.submodules[f"bank_{b}"] = \
                Memory(shape=signed(cfg.acc_width), depth=cfg.out_depth, init=[])
            write = bank.write_port()
            read = bank.read_port()
            m.d.comb += [
                write.addr.eq(base_slot + (b < base_bank if levels else 0)),
                write.data.eq(values[b] + Mux(firsts[b], carried, 0)),
                write.en.eq(valid & writes[b]),
                read.addr.eq(self.read_row[levels:]),
                read.en.eq(self.read_en),
            ]
            read_data.append(read.data)
        m.d.comb += self.retired.eq(valid)
        if levels:
            m.d.comb += self.read_data.eq(Array(read_data)[read_bank])
        else:
            m.d.comb += self.read_data.eq(read_data[0])
        return m
