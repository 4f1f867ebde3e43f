"""The beat source: the weight memory and the sequencer that reads a layer out of it."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import source_layout
from .memory import BlockMemory, registered_read


__all__ = ["WordWriteSignature", "BeatSource"]


class WordWriteSignature(wiring.Signature):
    """Writes bus word ``word`` of entry ``beat`` of a memory ``depth`` entries deep whose
    entries are ``words`` bus words wide (the weight memory, the pattern table)."""
    def __init__(self, depth, words):
        super().__init__({
            "beat": Out(ceil_log2(depth)),
            "word": Out(max(1, ceil_log2(words))),
            "data": Out(BUS_WIDTH),
            "en":   Out(1),
        })


def _word_written_memory(m, name, depth, words, write):
    """A memory of ``depth`` entries of ``words`` bus words, written a word at a time from
    ``write`` (a :class:`WordWriteSignature` interface); returns its read port."""
    memory = m.submodules[name] = BlockMemory(shape=words * BUS_WIDTH, depth=depth)
    port = memory.write_port(granularity=BUS_WIDTH)
    m.d.comb += [
        port.addr.eq(write.beat),
        port.data.eq(write.data.replicate(words)),
        port.en.eq(Cat(write.en & (write.word == word) for word in range(words))),
    ]
    return registered_read(m, memory, name=name)


class BeatSource(wiring.Component):
    """Holds the encoded layer and streams beats ``0 .. n_beats - 1`` after each ``start``.

    A beat leaves as the raw memory word, with entry ``b mod pattern_beats`` of the pattern
    table beside beat ``b``; :class:`~hw.decode.BeatDecoder` reads its format.

    One beat leaves per cycle unless the consumer holds ``o.ready`` low. The weight memory's
    read port is synchronous and its output registered twice, so the first beat is valid
    four cycles after ``start``.

    Members
    -------
    o : ``Out(stream.Signature(cfg.beat_width))``
        Encoded beats.
    write : ``In(WordWriteSignature(weight_depth, words_per_beat))``
        Loads the weight memory one bus word at a time.
    pattern_write : ``In(WordWriteSignature(pattern_depth, words_per_pattern))``
        Loads the pattern table one bus word at a time.
    start : ``In(1)``
        Begin streaming ``n_beats`` beats from beat 0.
    n_beats : ``In(ceil_log2(weight_depth + 1))``
    pattern_beats : ``In(ceil_log2(pattern_depth + 1))``
        Entries of the pattern table in the layer's cycle.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "o":             Out(stream.Signature(source_layout(cfg))),
            "write":         In(WordWriteSignature(cfg.weight_depth, cfg.words_per_beat)),
            "pattern_write": In(WordWriteSignature(cfg.pattern_depth, cfg.words_per_pattern)),
            "start":         In(1),
            "n_beats":       In(ceil_log2(cfg.weight_depth + 1)),
            "pattern_beats": In(ceil_log2(cfg.pattern_depth + 1)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        read = _word_written_memory(m, "weights", cfg.weight_depth, cfg.words_per_beat,
                                    self.write)
        pattern_read = _word_written_memory(m, "patterns", cfg.pattern_depth,
                                            cfg.words_per_pattern, self.pattern_write)

        address = Signal.like(self.n_beats)
        phase = Signal(range(cfg.pattern_depth))
        remaining = Signal.like(self.n_beats)
        advance = Signal()
        request = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            request.eq(remaining != 0),
            read.addr.eq(address),
            read.en.eq(advance),
            pattern_read.addr.eq(phase),
            pattern_read.en.eq(advance),
        ]
        # The memories' outputs are registered twice before they leave: block RAM outputs are
        # slow, and the first register can sit by the block RAMs, the second by the decoder.
        # Data registers have no reset (nor their wide reset net): only valid bits do.
        fetched = Signal()
        landed = Signal()
        landed_beat = Signal(cfg.beat_width, reset_less=True)
        landed_pattern = Signal.like(pattern_read.data)
        payload = Signal(source_layout(cfg), reset_less=True)
        m.d.comb += self.o.payload.eq(payload)
        with m.If(advance):
            m.d.sync += [fetched.eq(request), landed.eq(fetched), self.o.valid.eq(landed),
                         landed_beat.eq(read.data), landed_pattern.eq(pattern_read.data),
                         payload.beat.eq(landed_beat),
                         payload.pattern.eq(landed_pattern)]
            with m.If(request):
                m.d.sync += [address.eq(address + 1), remaining.eq(remaining - 1),
                             phase.eq(Mux(phase + 1 == self.pattern_beats, 0, phase + 1))]
        with m.If(self.start):
            m.d.sync += [address.eq(0), phase.eq(0), remaining.eq(self.n_beats)]
        return m
