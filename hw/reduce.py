"""The reduction tree: a beat's products summed by the row they belong to."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import product_layout, sum_layout
from .streams import pipeline_stage


__all__ = ["ReductionTree", "count_row_ends"]


def count_row_ends(ends, runs, levels):
    """Levels ``levels`` (a range) of an inclusive prefix count of ``ends`` (Amaranth
    values, one per group of lanes) saturating at ``runs``: Sklansky's network, one LUT
    level per level of the count for C <= 2. With every level (``range(ceil_log2(len(ends)))``)
    each count is the row ends up to and including its group."""
    def saturated(a, b):
        total = a + b
        return Mux(total > runs, runs, total)

    counts = list(ends)
    for level in levels:
        span = 1 << level
        counts = [saturated(counts[i], counts[(i & ~(span - 1)) - 1]) if i & span
                  else counts[i] for i in range(len(counts))]
    return counts


class ReductionTree(wiring.Component):
    """Sums the P products of a beat by row, whatever the rows' lengths.

    A beat closes at most C = ``cfg.output_ports`` rows (the host lays the stream out so,
    :func:`host.encode.encode`), so its lanes belong to at most C + 1 runs: the rows it
    closes, numbered 0 .. C - 1 in lane order, and after the last row end the run it leaves
    open. Rows take whole groups of ``cfg.row_granularity`` lanes (two), so a group's
    products are added first. The PE array counts the row ends before each group (its run,
    ``runs``) as the products are made (:class:`hw.pe.PEArray`). The tree is then C + 1
    adder trees of ``cfg.run_leaves`` leaves, one per run: each sees the sums of its own
    run's groups and zeros elsewhere. Out come the C + 1 sums (``sums[r]``, run ``r``; runs
    past the beat's last are zero) and the count of row ends (``closes``, saturated at
    C + 1, which marks a beat the stream should not have held).

    Stages: the groups' sums, into each tree's leaf registers, which clear the leaves of
    other runs (no logic in front of a flip-flop with a synchronous reset); then a level of
    adders a stage, each as wide as its sums. Latency (:attr:`latency`) is
    ``1 + log2(run_leaves)`` cycles; under back-pressure every stage holds.

    Members
    -------
    i : ``In(stream.Signature(product_layout(cfg)))``
        Products with their groups' runs and the beat's row ends.
    o : ``Out(stream.Signature(sum_layout(cfg)))``
        The sums of the beat's runs and its count of row ends.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i": In(stream.Signature(product_layout(cfg))),
            "o": Out(stream.Signature(sum_layout(cfg))),
        })

    @property
    def latency(self):
        """Cycles from a beat's products on ``i`` to its sums on ``o``."""
        return 1 + ceil_log2(self.cfg.run_leaves)

    def elaborate(self, platform):
        cfg = self.cfg
        group, leaves, runs = cfg.row_granularity, cfg.run_leaves, cfg.output_ports + 1
        levels = ceil_log2(leaves)
        leaf_width = cfg.product_width + ceil_log2(group)
        count_shape = self.i.payload.closes.shape()
        m = Module()

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        def stage(values, name, shape):
            return pipeline_stage(m, advance, values, name, shape)

        valid = self.i.valid
        for index in range(self.latency):
            registered = Signal(name=f"valid{index}")
            with m.If(advance):
                m.d.sync += registered.eq(valid)
            valid = registered

        # Leaves: a group of lanes that no row end splits (the host lays rows out so). Tree r
        # keeps the sums of the leaves of run r.
        lanes = self.i.payload.lanes
        products = [sum(lanes[lane].product for lane in range(group * i, group * i + group))
                    for i in range(leaves)]
        trees = []
        for run in range(runs):
            masked = [Signal(signed(leaf_width), name=f"run{run}_leaf{i}", reset_less=True)
                      for i in range(leaves)]
            for leaf, value in enumerate(masked):
                with m.If(advance):
                    with m.If(self.i.payload.runs[leaf] == run):
                        m.d.sync += value.eq(products[leaf])
                    with m.Else():
                        m.d.sync += value.eq(0)
            trees.append(masked)
        closes = stage([self.i.payload.closes], "closes", count_shape)[0]

        # A level of adders a stage: Yosys maps two chained adders as one of LUTs, not two
        # carry chains (four times the LUTs at P = 64).
        for level in range(levels):
            trees = [stage([sums[2 * i] + sums[2 * i + 1] for i in range(len(sums) // 2)],
                           f"run{run}_level{level}_", signed(leaf_width + level + 1))
                     for run, sums in enumerate(trees)]
            closes = stage([closes], f"closes_level{level}_", count_shape)[0]

        m.d.comb += self.o.valid.eq(valid)
        m.d.comb += self.o.payload.closes.eq(closes)
        for run, sums in enumerate(trees):
            m.d.comb += self.o.payload.sums[run].eq(sums[0])
        return m
