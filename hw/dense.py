"""A plain dense MAC array: the baseline the sparse accelerator's cost is measured against."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import registered_product
from .config import BUS_WIDTH, ConfigError
from .bus import REG_BITS, answer_reads, decode_address
from .layouts import ACCEL_ID, BusSignature, Reg, Region, Status
from .memory import BlockMemory, registered_read


__all__ = ["DenseArray"]


class DenseArray(wiring.Component):
    """A dense matrix-vector engine of P INT8 MAC lanes with the accelerator's bus.

    It is what one would build with no sparsity support: P multipliers fed from a weight
    memory of P plain weights per beat and an activation memory P activations wide, an adder
    tree with a register per level, and one accumulator. Row ``r`` of a layer of K columns is
    ``ROW_GROUPS = ceil(K / P)`` consecutive beats, its zeros included; its sum is written to
    output ``r``. Memories have the sizes of the sparse accelerator of the same configuration.

    Bus map: ``Reg.CONTROL`` (1 starts), ``Reg.STATUS`` (busy, done), ``Reg.N_BEATS``,
    ``Reg.ROW_GROUPS``, ``Reg.WEIGHT_POINTER`` and the ``ID`` registers; weights are streamed
    into :attr:`Region.WEIGHTS` (P/4 words a beat), activations written to
    :attr:`Region.ACTIVATIONS` (4 a word), sums read from :attr:`Region.OUTPUTS`.

    Members
    -------
    bus : ``In(BusSignature(cfg))``
    busy : ``Out(1)``
    """
    def __init__(self, cfg):
        if cfg.pes * cfg.data_width < BUS_WIDTH:
            raise ConfigError("pes", f"The dense baseline needs at least "
                              f"{BUS_WIDTH // cfg.data_width} PEs, not {cfg.pes}")
        self.cfg = cfg
        super().__init__({"bus": In(BusSignature(cfg)), "busy": Out(1)})

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        lanes, width = cfg.pes, cfg.data_width
        beat_width = lanes * width
        words_per_beat = beat_width // BUS_WIDTH
        act_depth = -(-cfg.max_k // lanes)

        weights = m.submodules.weights = BlockMemory(shape=beat_width, depth=cfg.weight_depth)
        activations = m.submodules.activations = BlockMemory(shape=beat_width, depth=act_depth)
        outputs = m.submodules.outputs = BlockMemory(shape=BUS_WIDTH, depth=cfg.max_m)
        weight_write = weights.write_port(granularity=BUS_WIDTH)
        act_write = activations.write_port(granularity=BUS_WIDTH)
        out_write = outputs.write_port()
        weight_read = registered_read(m, weights, name="weight_read")
        act_read = registered_read(m, activations, name="act_read")
        out_read = registered_read(m, outputs, name="out_read")

        bus = self.bus
        region, index = decode_address(m, bus)

        busy, done, start = self.busy, Signal(), Signal()
        n_beats = Signal(range(cfg.weight_depth + 1))
        row_groups = Signal(range(act_depth + 1))
        weight_beat = Signal(range(cfg.weight_depth))
        weight_word = Signal(range(max(2, words_per_beat)))
        writable = bus.w_en & ~busy
        with m.If(writable & (region == Region.WEIGHTS)):
            m.d.sync += weight_word.eq(weight_word + 1)
            with m.If(weight_word == words_per_beat - 1):
                m.d.sync += [weight_word.eq(0), weight_beat.eq(weight_beat + 1)]
        with m.If(writable & (region == Region.REGS)):
            with m.Switch(index[:REG_BITS]):
                with m.Case(Reg.CONTROL):
                    m.d.comb += start.eq(bus.w_data[0])
                with m.Case(Reg.N_BEATS):
                    m.d.sync += n_beats.eq(bus.w_data)
                with m.Case(Reg.ROW_GROUPS):
                    m.d.sync += row_groups.eq(bus.w_data)
                with m.Case(Reg.WEIGHT_POINTER):
                    m.d.sync += [weight_beat.eq(bus.w_data), weight_word.eq(0)]
        m.d.comb += [
            weight_write.addr.eq(weight_beat),
            weight_write.data.eq(bus.w_data.replicate(words_per_beat)),
            weight_write.en.eq(Mux(writable & (region == Region.WEIGHTS),
                                   1 << weight_word, 0)),
            act_write.addr.eq(index // words_per_beat),
            act_write.data.eq(bus.w_data.replicate(words_per_beat)),
            act_write.en.eq(Mux(writable & (region == Region.ACTIVATIONS),
                                1 << (index % words_per_beat), 0)),
        ]

        # Sequencer: beat b of the run reads weight beat b and activation group b mod G.
        beat = Signal.like(n_beats)
        group = Signal.like(row_groups)
        issuing = busy & (beat != n_beats)
        m.d.comb += [weight_read.addr.eq(beat), act_read.addr.eq(group)]
        with m.If(start):
            m.d.sync += [beat.eq(0), group.eq(0)]
        with m.Elif(issuing):
            m.d.sync += [beat.eq(beat + 1), group.eq(Mux(group + 1 == row_groups, 0, group + 1))]

        # Pipeline: memory read, its output register, operand register, multiply, tree
        # levels, accumulate.
        levels = cfg.lane_levels
        depth = 4 + levels
        valid = Signal(depth)
        last = Signal(depth)
        m.d.sync += [valid.eq(Cat(issuing & ~start, valid)),
                     last.eq(Cat(group + 1 == row_groups, last))]

        # The memories' outputs are registered before the multipliers, as in the
        # accelerator's fetch unit.
        read = [[Signal(signed(width), reset_less=True) for _ in range(2)]
                for _ in range(lanes)]
        for lane, (weight, activation) in enumerate(read):
            m.d.sync += [weight.eq(weight_read.data.word_select(lane, width)),
                         activation.eq(act_read.data.word_select(lane, width))]
        sums = [registered_product(m, platform, weight, activation, 1)
                for weight, activation in read]
        for level in range(levels):
            pairs = [Signal(signed(2 * width + level + 1)) for _ in range(len(sums) // 2)]
            m.d.sync += [pair.eq(sums[2 * i] + sums[2 * i + 1]) for i, pair in enumerate(pairs)]
            sums = pairs

        total = sums[0]
        accumulator = Signal(signed(cfg.acc_width))
        first = Signal(init=1)
        row = Signal(range(cfg.max_m))
        arriving = valid[depth - 1]
        row_sum = Signal(signed(cfg.acc_width))
        m.d.comb += [row_sum.eq(Mux(first, 0, accumulator) + total),
                     out_write.addr.eq(row), out_write.data.eq(row_sum),
                     out_write.en.eq(arriving & last[depth - 1])]
        with m.If(start):
            m.d.sync += [first.eq(1), row.eq(0)]
        with m.Elif(arriving):
            m.d.sync += [accumulator.eq(row_sum), first.eq(last[depth - 1])]
            with m.If(last[depth - 1]):
                m.d.sync += row.eq(row + 1)

        with m.If(start):
            m.d.sync += [busy.eq(1), done.eq(0)]
        with m.Elif(busy & ~issuing & ~valid.any()):
            m.d.sync += [busy.eq(0), done.eq(1)]

        m.d.comb += [out_read.addr.eq(index), out_read.en.eq(bus.r_en)]
        output_word = Signal.like(out_read.data)
        m.d.sync += output_word.eq(out_read.data)
        answer_reads(m, bus, region, index, {
            Reg.ID: ACCEL_ID,
            Reg.STATUS: (Mux(busy, Status.BUSY.value, 0) |
                         Mux(done, Status.DONE.value, 0)),
            Reg.N_BEATS: n_beats,
            Reg.ROW_GROUPS: row_groups,
        }, output_word)
        return m
