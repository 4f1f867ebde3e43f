"""The reduction tree: prefix sums of a beat's products, from which every row's run is summed."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import product_layout, sum_layout


__all__ = ["ReductionTree"]


class ReductionTree(wiring.Component):
    """A prefix sum over the P products of a beat, with the row ends carried beside it.

    Output lane ``i`` holds the sum of the products of lanes ``0 .. i``, whatever rows they
    belong to; the sum of a run of lanes ``a + 1 .. b`` is the difference of lanes ``b`` and
    ``a``, which the output stage takes between consecutive row ends. Beside it, each lane
    counts the ``last`` flags of the lanes before it, which places its row among the rows
    the beat closes. Runs of any length from 1 to P, and any mix of them, take one pass.

    The network is Sklansky's prefix tree: log2(P) levels of P/2 adders each, with a register
    after every level; the adders of level ``l`` are as wide as a sum of ``2**(l + 1)``
    products. Latency is log2(P) cycles (none for P = 1); under back-pressure every level
    holds its contents.

    Members
    -------
    i : ``In(stream.Signature(product_layout(cfg)))``
        Products with row ends.
    o : ``Out(stream.Signature(sum_layout(cfg)))``
        Prefix sums, row ends and closed-row counts.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i": In(stream.Signature(product_layout(cfg))),
            "o": Out(stream.Signature(sum_layout(cfg))),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        lanes, levels = cfg.pes, cfg.lane_levels
        m = Module()

        # Per lane: the running sum, the count of row ends it covers, and its own row end.
        sums    = [self.i.payload[i].product for i in range(lanes)]
        closed  = [self.i.payload[i].last for i in range(lanes)]
        ends    = list(closed)
        valid   = self.i.valid

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        m.d.comb += self.i.ready.eq(advance)

        for level in range(levels):
            span = 1 << level
            width = cfg.product_width + level + 1
            # Only the valid bit is reset: the data registers need no reset net.
            next_sums   = [Signal(signed(width), name=f"l{level}_sum{i}", reset_less=True)
                           for i in range(lanes)]
            next_closed = [Signal(unsigned(level + 2), name=f"l{level}_closed{i}",
                                  reset_less=True) for i in range(lanes)]
            next_ends   = [Signal(name=f"l{level}_end{i}", reset_less=True)
                           for i in range(lanes)]
            next_valid  = Signal(name=f"l{level}_valid")
            with m.If(advance):
                m.d.sync += next_valid.eq(valid)
                for i in range(lanes):
                    m.d.sync += next_ends[i].eq(ends[i])
                    if i & span:
                        left = (i & ~(span - 1)) - 1  # last lane of the block to the left
                        m.d.sync += [
                            next_sums[i].eq(sums[i] + sums[left]),
                            next_closed[i].eq(closed[i] + closed[left]),
                        ]
                    else:
                        m.d.sync += [
                            next_sums[i].eq(sums[i]),
                            next_closed[i].eq(closed[i]),
                        ]
            sums, closed, ends, valid = next_sums, next_closed, next_ends, next_valid

        m.d.comb += self.o.valid.eq(valid)
        for i in range(lanes):
            lane = self.o.payload[i]
            m.d.comb += [
                lane.sum.eq(sums[i]),
                lane.last.eq(ends[i]),
                lane.closed_before.eq(closed[i] - ends[i]),
            ]
        return m
