"""A plain dense MAC array: the baseline the sparse accelerator's cost is measured against."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import registered_products
from .bus import (ACCEL_ID, BUS_WIDTH, DENSE_REGISTERS, BusSignature, Region, RegisterBank,
                  Status, dense_row_beats)
from .config import ConfigError
from .control import WeightStream
from .memory import BlockMemory, registered_read


__all__ = ["DenseArray"]


class DenseArray(wiring.Component):
    """A dense matrix-vector engine of P MAC lanes (``data_width`` bits) with the accelerator's bus.

    It is what one would build with no sparsity support: P multipliers fed from a weight
    memory of P plain weights per beat and an activation memory P activations wide, an adder
    tree with a register per level, and one accumulator. Row ``r`` of a layer of K columns is
    ``ROW_GROUPS = ceil(K / P)`` consecutive beats, its zeros included; its sum is written to
    output ``r``. Memories have the sizes of the sparse accelerator of the same configuration.

    Registers: :data:`hw.bus.DENSE_REGISTERS`; weights are streamed into
    :attr:`Region.WEIGHTS` (``P * data_width / 32`` words a beat), activations written to
    :attr:`Region.ACTIVATIONS` (``32 / data_width`` a word), sums read from
    :attr:`Region.OUTPUTS`.

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
        act_depth = dense_row_beats(cfg)

        weights = m.submodules.weights = BlockMemory(shape=beat_width, depth=cfg.weight_depth)
        activations = m.submodules.activations = BlockMemory(shape=beat_width, depth=act_depth)
        outputs = m.submodules.outputs = BlockMemory(shape=BUS_WIDTH, depth=cfg.max_m)
        weight_write = weights.write_port(granularity=BUS_WIDTH)
        act_write = activations.write_port(granularity=BUS_WIDTH)
        out_write = outputs.write_port()
        weight_read = registered_read(m, weights, name="weight_read")
        act_read = registered_read(m, activations, name="act_read")
        out_read = registered_read(m, outputs, name="out_read")

        bank = m.submodules.registers = RegisterBank(cfg, DENSE_REGISTERS)
        wiring.connect(m, wiring.flipped(self.bus), bank.bus)
        reg = bank.port
        busy, done = self.busy, Signal()
        start = reg("CONTROL").w_stb & reg("CONTROL").w_data[0]
        n_beats, row_groups = reg("N_BEATS").value, reg("ROW_GROUPS").value
        m.d.comb += [reg("ID").r_data.eq(ACCEL_ID), bank.lock.eq(busy),
                     reg("STATUS").r_data.eq(Mux(busy, Status.BUSY.value, 0) |
                                             Mux(done, Status.DONE.value, 0))]

        stream = m.submodules.weight_stream = WeightStream(cfg.weight_depth, words_per_beat,
                                                           programmable=False)
        wiring.connect(m, bank.weight_pointer, stream.pointer)
        # Memory writes are registered on their way, as in the accelerator: the bus's
        # decoding is not in the same cycle as the nets to the memories.
        memory = bank.memory
        weight_written = memory.en & (memory.region == Region.WEIGHTS)
        m.d.comb += stream.write.eq(weight_written)
        m.d.sync += [
            weight_write.addr.eq(stream.beat),
            weight_write.data.eq(memory.data.replicate(words_per_beat)),
            weight_write.en.eq(Mux(weight_written, 1 << stream.word, 0)),
            act_write.addr.eq(memory.index // words_per_beat),
            act_write.data.eq(memory.data.replicate(words_per_beat)),
            act_write.en.eq(Mux(memory.en & (memory.region == Region.ACTIVATIONS),
                                1 << (memory.index % words_per_beat), 0)),
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
        sums = registered_products(m, platform, read, 1)
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

        m.d.comb += [out_read.addr.eq(bank.outputs.index), out_read.en.eq(bank.outputs.en)]
        m.d.sync += bank.outputs.data.eq(out_read.data)
        return m
