"""The accelerator's performance counters (the ``counters`` group of
:data:`hw.bus.ACCELERATOR_REGISTERS`)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import popcount
from .bus import ACCELERATOR_REGISTERS, BUS_WIDTH
from .layouts import beat_layout, operand_layout
from .replicas import LANES_PER_COPY, lane_copies, replicate


__all__ = ["COUNTERS", "PerformanceCounters"]


#: The counter registers, in address order.
COUNTERS = ACCELERATOR_REGISTERS.members("counters")


class PerformanceCounters(wiring.Component):
    """Counts what a run does, from a ``start`` pulse (which clears them) while ``busy``.

    ``CYCLES`` counts the cycles of the run; ``BEATS`` the beats fed to the PE array
    (``fed``), ``STALLS`` the cycles without one; ``BUSY_LANES`` the decoded lanes (``lanes``
    while ``decoded``) whose weight is non-zero; ``NONZERO_PRODUCTS`` the fed lanes
    (``operands``) whose weight and activation are both non-zero; ``ACT_READS`` the
    activations read: the decoder's ``reads``, or for an ``unstructured`` layer the kept
    lanes (the lanes a row skips and the final beat's padding read nothing).

    Each lane's flag is registered beside its lane, then masked by a copy of the beat's
    valid bit per group of lanes (:mod:`hw.replicas`), counted by a pipelined adder tree,
    and the counts are added: a beat's counts land a few cycles after it, long before the
    run's final write, so the counters are final when the run is done.

    Members
    -------
    start, busy : ``In(1)``
    lanes : ``In(beat_layout(cfg))``
    decoded : ``In(1)``
    reads : ``In(range(P + 1))``
    unstructured : ``In(1)``
    operands : ``In(operand_layout(cfg))``
    fed : ``In(1)``
    cycles, beats, busy_lanes, nonzero_products, stalls, act_reads : ``Out(32)``
        One per register of :data:`COUNTERS`.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "start":        In(1),
            "busy":         In(1),
            "lanes":        In(beat_layout(cfg)),
            "decoded":      In(1),
            "reads":        In(range(cfg.pes + 1)),
            "unstructured": In(1),
            "operands":     In(operand_layout(cfg)),
            "fed":          In(1),
            **{register.port_name: Out(BUS_WIDTH) for register in COUNTERS},
        })

    def _lane_flags(self, m, flags, valid, name):
        pes = self.cfg.pes
        raw = Signal(pes, name=f"{name}_raw", reset_less=True)
        valids = replicate(m, valid, lane_copies(pes), name=f"{name}_valid")
        masked = Signal(pes, name=f"{name}_flags")
        m.d.sync += [raw.eq(Cat(flags)),
                     masked.eq(Cat(raw[i] & valids[i // LANES_PER_COPY] for i in range(pes)))]
        return popcount(m, masked, name=name)

    def elaborate(self, platform):
        pes = self.cfg.pes
        m = Module()
        lanes, operands = self.lanes, self.operands
        kept = self._lane_flags(m, (lanes[i].weight != 0 for i in range(pes)),
                                self.decoded, "kept")
        # A product is non-zero when both its operands are: flagged from the operand
        # registers beside the multipliers, not from the multipliers' outputs.
        nonzero = self._lane_flags(m, ((operands[i].weight != 0) &
                                       (operands[i].activation != 0) for i in range(pes)),
                                   self.fed, "nonzero")
        decode_reads = Signal.like(self.reads)
        m.d.sync += decode_reads.eq(Mux(self.decoded, self.reads, 0))
        reads = Signal(range(pes + 1))
        m.d.sync += reads.eq(Mux(self.unstructured, kept, decode_reads))
        increments = {"CYCLES": 1, "BEATS": self.fed, "STALLS": ~self.fed, "BUSY_LANES": kept,
                      "NONZERO_PRODUCTS": nonzero, "ACT_READS": reads}
        with m.If(self.start):
            m.d.sync += [getattr(self, register.port_name).eq(0) for register in COUNTERS]
        with m.Elif(self.busy):
            for register in COUNTERS:
                counter = getattr(self, register.port_name)
                m.d.sync += counter.eq(counter + increments[register.name])
        return m
