"""The PE array: one signed multiply per lane per cycle."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import registered_products
from .layouts import operand_layout, product_layout


__all__ = ["PEArray"]


class PEArray(wiring.Component):
    """Multiplies the weight and activation of every lane.

    A padding lane carries a zero weight and yields a zero product. Latency
    (:attr:`latency`) is two cycles, the multipliers' operand and product registers; under
    back-pressure the array holds its output and does not accept input.

    Members
    -------
    i : ``In(stream.Signature(operand_layout(cfg)))``
        Weights with their activations.
    o : ``Out(stream.Signature(product_layout(cfg)))``
        Products with the row ends passed through.
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
        for lane_in, lane_out, product in zip(self.i.payload, self.o.payload, products):
            last = [Signal(reset_less=True) for _ in range(2)]
            with m.If(advance):
                m.d.sync += [last[0].eq(lane_in.last), last[1].eq(last[0])]
            m.d.comb += [lane_out.product.eq(product), lane_out.last.eq(last[1])]
        return m
