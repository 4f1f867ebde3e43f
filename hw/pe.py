"""The PE array: one signed multiply per lane per cycle."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import registered_products
from .config import ceil_log2
from .layouts import operand_layout, product_layout
from .reduce import count_row_ends
from .streams import pipeline_stage


__all__ = ["PEArray"]


class PEArray(wiring.Component):
    """Multiplies the weight and activation of every lane, and counts the row ends for the
    reduction tree.

    A padding lane carries a zero weight and yields a zero product. Beside the products,
    the array counts the beat's row ends (the ``last`` of each group of
    ``cfg.row_granularity`` lanes' last lane): the row ends before each group (its run)
    and in the whole beat, saturated at C + 1 (:func:`~hw.reduce.count_row_ends`, half of
    its levels in each stage), which the reduction tree would otherwise spend cycles on.
    Latency (:attr:`latency`) is two cycles, the multipliers' operand and product
    registers; under back-pressure the array holds its output and does not accept input.

    Members
    -------
    i : ``In(stream.Signature(operand_layout(cfg)))``
        Weights with their activations and row ends.
    o : ``Out(stream.Signature(product_layout(cfg)))``
        Products, with each group's run and the beat's row ends.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i": In(stream.Signature(operand_layout(cfg))),
            "o": Out(stream.Signature(product_layout(cfg))),
        })

    @property
    def latency(self):
        """Cycles from operands on ``i`` to their products on ``o``."""
        return 2

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
        ]
        # Operands are registered before the multipliers, and products after them (in the
        # DSP block itself on an ECP5 or an iCE40, two lanes a block on an iCE40): the
        # multiplier has a whole cycle.
        operands_valid = Signal()
        with m.If(advance):
            m.d.sync += [operands_valid.eq(self.i.valid), self.o.valid.eq(operands_valid)]
        products = registered_products(
            m, platform, [(lane.weight, lane.activation) for lane in self.i.payload], advance)
        for lane_out, product in zip(self.o.payload.lanes, products):
            m.d.comb += lane_out.product.eq(product)

        group, runs = cfg.row_granularity, cfg.output_ports + 1
        levels = ceil_log2(cfg.run_leaves)
        count_shape = self.o.payload.closes.shape()
        ends = [self.i.payload[group * leaf + group - 1].last
                for leaf in range(cfg.run_leaves)]
        half = (levels + 1) // 2
        counts = pipeline_stage(m, advance, count_row_ends(ends, runs, range(half)),
                                "count_", count_shape)
        counts = pipeline_stage(m, advance, count_row_ends(counts, runs, range(half, levels)),
                                "counted_", count_shape)
        m.d.comb += [*(self.o.payload.runs[leaf].eq(count)
                       for leaf, count in enumerate(counts[:-1], start=1)),
                     self.o.payload.runs[0].eq(0),
                     self.o.payload.closes.eq(counts[-1])]
        return m
