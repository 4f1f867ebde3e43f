"""The fetch unit: expands weight beats into lanes and gathers their activations."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import beat_layout, operand_layout


__all__ = ["ActivationWriteSignature", "FetchUnit"]


class ActivationWriteSignature(wiring.Signature):
    """Writes one bus word of ``acts_per_word`` activations at word address ``addr``."""
    def __init__(self, cfg):
        super().__init__({
            "addr": Out(ceil_log2(cfg.act_words)),
            "data": Out(BUS_WIDTH),
            "en":   Out(1),
        })


class FetchUnit(wiring.Component):
    """Decodes weight beats into P lanes and gathers ``x[column]`` for every lane.

    The activation memory is replicated once per lane, so the P reads of a beat never
    conflict, whatever columns the beat holds; a write goes to every replica.

    Latency is one cycle. Under back-pressure the unit holds its output and does not accept
    input; ``i.ready`` is high whenever the output is empty or being taken.

    Members
    -------
    i : ``In(stream.Signature(beat_layout(cfg)))``
        Encoded weight beats.
    o : ``Out(stream.Signature(operand_layout(cfg)))``
        Weights with their activations and row ends.
    act_write : ``In(ActivationWriteSignature(cfg))``
        Loads the activation vector.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":         In(stream.Signature(beat_layout(cfg))),
            "o":         Out(stream.Signature(operand_layout(cfg))),
            "act_write": In(ActivationWriteSignature(cfg)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
        ]
        lanes = Signal(beat_layout(cfg))
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(self.i.valid),
                lanes.eq(self.i.payload),
            ]

        select_width = ceil_log2(cfg.acts_per_word)
        for index in range(cfg.pes):
            replica = m.submodules[f"activations_{index}"] = \
                Memory(shape=BUS_WIDTH, depth=cfg.act_words, init=[])
            write = replica.write_port()
            read = replica.read_port()
            column = self.i.payload[index].column
            m.d.comb += [
                write.addr.eq(self.act_write.addr),
                write.data.eq(self.act_write.data),
                write.en.eq(self.act_write.en),
                read.addr.eq(column[select_width:]),
                read.en.eq(advance),
            ]
            lane, out = lanes[index], self.o.payload[index]
            m.d.comb += [
                out.weight.eq(lane.weight),
                out.activation.eq(
                    read.data.word_select(lane.column[:select_width], cfg.data_width)),
                out.last.eq(lane.last),
            ]
        return m
