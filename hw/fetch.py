"""The fetch unit: expands weight beats into lanes and gathers their activations."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import beat_layout, fetch_layout, operand_layout


__all__ = ["ActivationWriteSignature", "FetchUnit"]


class ActivationWriteSignature(wiring.Signature):
    """Writes one bus word of ``acts_per_word`` activations at word address ``addr`` of
    every lane's memory (``broadcast``), or of lane ``lane``'s only."""
    def __init__(self, cfg):
        super().__init__({
            "addr":      Out(ceil_log2(cfg.act_words)),
            "lane":      Out(max(1, cfg.lane_levels)),
            "broadcast": Out(1),
            "data":      Out(BUS_WIDTH),
            "en":        Out(1),
        })


class FetchUnit(wiring.Component):
    """Gathers the activation of every lane of a decoded beat.

    Each lane reads its own activation memory, so the P reads of a beat never conflict.
    Written by broadcast (unstructured and tile-wise layers), the memories are replicas of
    ``x`` and a lane reads ``x[column]``; written one lane at a time (grouped layers), they
    are banks, each holding just the groups its lane reads, and ``column`` is the address
    within the bank.

    Each lane also has a compact buffer for tile-wise layers. A ``gather`` beat (a tile's
    list) reads ``x[column]`` in every lane and stores it in the lane's compact buffer at
    ``slot``, as it leaves; a ``compact`` beat (the tile's weights) reads every lane's compact
    buffer at ``slot`` instead of ``x``. The buffers' reads see a store made in the same
    cycle, so a tile's weights may follow its list directly.

    Latency is two cycles: the memories' read, and a register before the multipliers.
    Under back-pressure the unit holds its output and does not accept input.

    Members
    -------
    i : ``In(stream.Signature(fetch_layout(cfg)))``
        Decoded beats.
    o : ``Out(stream.Signature(operand_layout(cfg)))``
        Weights with their activations and row ends.
    act_write : ``In(ActivationWriteSignature(cfg))``
        Loads the activation vector.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":         In(stream.Signature(fetch_layout(cfg))),
            "o":         Out(stream.Signature(operand_layout(cfg))),
            "act_write": In(ActivationWriteSignature(cfg)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        # Lane fields are sliced from signals of the lane array alone: slicing them out of
        # the whole beat's payload for every lane is slow to elaborate.
        incoming = Signal(beat_layout(cfg))
        beat = Signal(fetch_layout(cfg), reset_less=True)
        lanes = Signal(beat_layout(cfg))
        m.d.comb += [incoming.eq(self.i.payload.lanes), lanes.eq(beat.lanes)]

        # Two stages: the memories are read as a beat is latched into ``beat``; what they
        # give is registered once more before the multipliers (block RAM outputs are slow).
        m.d.comb += self.i.ready.eq(advance)
        read_valid = Signal()
        with m.If(advance):
            m.d.sync += [read_valid.eq(self.i.valid), beat.eq(self.i.payload),
                         self.o.valid.eq(read_valid)]
        leaving = read_valid & advance
        operands = Signal(operand_layout(cfg), reset_less=True)
        m.d.comb += self.o.payload.eq(operands)

        select_width = ceil_log2(cfg.acts_per_word)
        for index in range(cfg.pes):
            replica = m.submodules[f"activations_{index}"] = \
                Memory(shape=BUS_WIDTH, depth=cfg.act_words, init=[])
            write = replica.write_port()
            read = replica.read_port()
            column = incoming[index].column
            m.d.comb += [
                write.addr.eq(self.act_write.addr),
                write.data.eq(self.act_write.data),
                write.en.eq(self.act_write.en &
                            (self.act_write.broadcast | (self.act_write.lane == index))),
                read.addr.eq(column[select_width:]),
                read.en.eq(advance),
            ]
            lane, out = lanes[index], operands[index]
            gathered = read.data.word_select(lane.column[:select_width], cfg.data_width)

            compact = m.submodules[f"compact_{index}"] = \
                Memory(shape=cfg.data_width, depth=cfg.compact_depth, init=[])
            store = compact.write_port()
            load = compact.read_port(transparent_for=(store,))
            m.d.comb += [
                store.addr.eq(beat.slot),
                store.data.eq(gathered),
                store.en.eq(leaving & beat.gather),
                load.addr.eq(self.i.payload.slot),
                load.en.eq(advance),
            ]
            with m.If(advance):
                m.d.sync += [
                    out.weight.eq(lane.weight),
                    out.activation.eq(Mux(beat.compact, load.data, gathered)),
                    out.last.eq(lane.last),
                ]
        return m
