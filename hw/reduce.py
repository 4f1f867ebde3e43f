"""The reduction tree: a beat's products summed by the row they belong to."""

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import product_layout, sum_layout
from .streams import pipeline_stage


__all__ = ["ReductionTree"]


class ReductionTree(wiring.Component):
    """Sums the P products of a beat by row, whatever the rows' lengths.

    A beat closes at most C = ``cfg.output_ports`` rows (the host lays the stream out so,
    :func:`host.encode.encode`), so its lanes belong to at most C + 1 runs: the rows it
    closes, numbered 0 .. C - 1 in lane order, and after the last row end the run it leaves
    open. Lane ``i`` is in run ``r`` when ``r`` row ends (``last``) come before it. Rows take
    whole groups of ``cfg.row_granularity`` lanes (two), so a group's products are added
    first, and only a group's last lane may end a row. The tree is then C + 1 adder trees of
    ``cfg.run_leaves`` leaves, one per run: each sees the sums of its own run's groups and
    zeros elsewhere. Out come the C + 1 sums (``sums[r]``, run ``r``; runs past the beat's
    last are zero) and the count of row ends (``closes``, saturated at C + 1, which marks a
    beat the stream should not have held).

    Stages: the groups' sums and a prefix count of the row ends (``cfg.run_count_stages``
    cycles, two levels of the count each); the masks (each tree's leaf registers clear the
    leaves of other runs, which needs no logic in front of a flip-flop with a synchronous
    reset); log2(leaves) levels of adders, each as wide as its sums. Latency (:attr:`latency`)
    is ``run_count_stages + 1 + log2(run_leaves)`` cycles; under back-pressure every stage
    holds.

    Members
    -------
    i : ``In(stream.Signature(product_layout(cfg)))``
        Products with row ends.
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
        return self.cfg.run_count_stages + 1 + ceil_log2(self.cfg.run_leaves)

    def elaborate(self, platform):
        cfg = self.cfg
        group, leaves, runs = cfg.row_granularity, cfg.run_leaves, cfg.output_ports + 1
        levels = ceil_log2(leaves)
        leaf_width = cfg.product_width + ceil_log2(group)
        count_width = ceil_log2(runs + 1)
        m = Module()

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        def stage(values, name, shape):
            return pipeline_stage(m, advance, values, name, shape)

        valid = self.i.valid
        for index in range(cfg.run_count_stages + 1 + levels):
            registered = Signal(name=f"valid{index}")
            with m.If(advance):
                m.d.sync += registered.eq(valid)
            valid = registered

        # Runs: an inclusive prefix count of the row ends (Sklansky's network, saturating at
        # C + 1), two levels a cycle; leaf i's run is the count at leaf i - 1.
        def saturated(a, b):
            total = a + b
            return Mux(total > runs, runs, total)

        # A leaf is a group of lanes that no row end splits (the host lays rows out so): its
        # products are added in the first cycle, beside the count, and its row end is its
        # last lane's.
        lanes = [self.i.payload[i] for i in range(cfg.pes)]
        counts = [lanes[group * i + group - 1].last for i in range(leaves)]
        products = [sum(lane.product for lane in lanes[group * i:group * i + group])
                    for i in range(leaves)]
        for step in range(cfg.run_count_stages):
            for level in range(2 * step, min(2 * step + 2, levels)):
                span = 1 << level
                counts = [saturated(counts[i], counts[(i & ~(span - 1)) - 1]) if i & span
                          else counts[i] for i in range(leaves)]
            counts = stage(counts, f"count{step}_", count_width)
            products = stage(products, f"product{step}_", signed(leaf_width))
        run_of = [Const(0, count_width)] + counts[:-1]

        # Masks: tree r keeps the leaves of run r.
        trees = []
        for run in range(runs):
            masked = [Signal(signed(leaf_width), name=f"run{run}_leaf{i}", reset_less=True)
                      for i in range(leaves)]
            for leaf, value in enumerate(masked):
                with m.If(advance):
                    with m.If(run_of[leaf] == run):
                        m.d.sync += value.eq(products[leaf])
                    with m.Else():
                        m.d.sync += value.eq(0)
            trees.append(masked)
        closes = stage([counts[-1]], "closes", count_width)[0]

        for level in range(levels):
            width = leaf_width + level + 1
            trees = [stage([sums[2 * i] + sums[2 * i + 1] for i in range(len(sums) // 2)],
                           f"run{run}_level{level}_", signed(width))
                     for run, sums in enumerate(trees)]
            closes = stage([closes], f"closes_level{level}_", count_width)[0]

        m.d.comb += self.o.valid.eq(valid)
        m.d.comb += self.o.payload.closes.eq(closes)
        for run, sums in enumerate(trees):
            m.d.comb += self.o.payload.sums[run].eq(sums[0])
        return m
