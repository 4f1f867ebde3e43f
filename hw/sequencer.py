"""The beat source: the weight memory and the sequencer that reads a layer out of it."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import source_layout
from .memory import BlockMemory, registered_read, write_copy
from .replicas import replicas, replicate


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


#: Bus words of the weight memory in one group of block RAMs with its own copies of the
#: write request and of the read address.
WORDS_PER_GROUP = 8


def _word_written_memory(m, name, depth, words, write, address, enable):
    """A memory of ``depth`` entries of ``words`` bus words, written a word at a time from
    ``write`` (a :class:`WordWriteSignature` interface) a cycle late, and read at
    ``address(group)`` while ``enable``; returns the entry read, a cycle after its address.

    The words are split in groups of :data:`WORDS_PER_GROUP`, each a memory of its own with
    its own copy of the write request (:func:`~hw.memory.write_copy`). ``address`` gives each
    group its read address (a copy of its own, or one shared).
    """
    data = []
    for group, first in enumerate(range(0, words, WORDS_PER_GROUP)):
        count = min(WORDS_PER_GROUP, words - first)
        memory = m.submodules[f"{name}_{group}"] = BlockMemory(shape=count * BUS_WIDTH,
                                                                 depth=depth)
        hit = write.en & (write.word >= first) & (write.word < first + count)
        en, copy = write_copy(m, hit, {"beat": write.beat, "word": write.word,
                                       "data": write.data}, name=f"{name}_{group}_write")
        port = memory.write_port(granularity=BUS_WIDTH)
        m.d.comb += [
            port.addr.eq(copy["beat"]),
            port.data.eq(copy["data"].replicate(count)),
            port.en.eq(Cat(en & (copy["word"] == first + word) for word in range(count))),
        ]
        read = registered_read(m, memory, name=f"{name}_{group}")
        m.d.comb += [read.addr.eq(address(group)), read.en.eq(enable)]
        data.append(read.data)
    return Cat(data)


class BeatSource(wiring.Component):
    """Holds the encoded layer and streams beats ``0 .. n_beats - 1`` in a run that starts
    the cycle after each ``request``.

    A beat leaves as the raw memory word, with entry ``b mod pattern_beats`` of the pattern
    table beside beat ``b``; :class:`~hw.decode.BeatDecoder` reads its format.

    One beat leaves per cycle unless the consumer holds ``o.ready`` low; under back-pressure
    the source holds its output and its reads. The run reads beat ``b`` of the weight memory
    ``b + 1`` cycles after it starts, and the beat leaves :attr:`latency` (3) cycles after its
    read: the read is synchronous and its output registered twice. With no stalls, the first
    beat is valid on ``o`` four cycles after the run starts, five after ``request``.

    Members
    -------
    o : ``Out(stream.Signature(source_layout(cfg)))``
        Encoded beats, each with its entry of the pattern table.
    write : ``In(WordWriteSignature(weight_depth, words_per_beat))``
        Loads the weight memory one bus word at a time; a write lands a cycle later.
    pattern_write : ``In(WordWriteSignature(pattern_depth, words_per_pattern))``
        Loads the pattern table one bus word at a time; a write lands a cycle later.
    request : ``In(1)``
        Start streaming ``n_beats`` beats from beat 0 in the next cycle. The start is
        registered here, a copy for each group of the weight memory (hw.replicas).
    n_beats : ``In(ceil_log2(weight_depth + 1))``
    pattern_beats : ``In(ceil_log2(pattern_depth + 1))``
        Entries of the pattern table in the layer's cycle; with 0 (a format that has no
        pattern table) the entries beside the beats are unspecified.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "o":             Out(stream.Signature(source_layout(cfg))),
            "write":         In(WordWriteSignature(cfg.weight_depth, cfg.words_per_beat)),
            "pattern_write": In(WordWriteSignature(cfg.pattern_depth, cfg.words_per_pattern)),
            "request":       In(1),
            "n_beats":       In(ceil_log2(cfg.weight_depth + 1)),
            "pattern_beats": In(ceil_log2(cfg.pattern_depth + 1)),
        })

    @property
    def latency(self):
        """Cycles from a beat's read of the weight memory to its leaving on ``o``: the read
        and two registers."""
        return 3

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        phase = Signal(range(cfg.pattern_depth))
        remaining = Signal.like(self.n_beats)
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # Each group of the weight memory has its own copy of the start and of whether beats
        # remain (``remaining != 0``, registered with the count); the last copies are the
        # sequencer's.
        groups = -(-cfg.words_per_beat // WORDS_PER_GROUP)
        *group_starts, start = replicate(m, self.request, groups + 1, name="start")
        *group_requests, request = replicas(1, groups + 1, name="pending")
        with m.If(start):
            m.d.sync += [pending.eq(self.n_beats != 0) for pending in (*group_requests, request)]
        with m.Elif(advance & request):
            m.d.sync += [pending.eq(remaining != 1) for pending in (*group_requests, request)]

        def beat_address(group):
            # Each group of the weight memory counts the beats itself, from its own start:
            # the counters' own values feed them, so synthesis does not merge them into one.
            address = Signal.like(self.n_beats, name=f"address_{group}", reset_less=True)
            with m.If(group_starts[group]):
                m.d.sync += address.eq(0)
            with m.Elif(advance & group_requests[group]):
                m.d.sync += address.eq(address + 1)
            return address

        beat_data = _word_written_memory(m, "weights", cfg.weight_depth, cfg.words_per_beat,
                                         self.write, beat_address, advance)
        pattern_data = _word_written_memory(m, "patterns", cfg.pattern_depth,
                                            cfg.words_per_pattern, self.pattern_write,
                                            lambda group: phase, advance)
        # The memories' outputs are registered twice before they leave: block RAM outputs are
        # slow, and the first register can sit by the block RAMs, the second by the decoder.
        # Data registers have no reset (nor their wide reset net): only valid bits do.
        fetched = Signal()
        landed = Signal()
        landed_beat = Signal(cfg.beat_width, reset_less=True)
        landed_pattern = Signal(len(pattern_data), reset_less=True)
        payload = Signal(source_layout(cfg), reset_less=True)
        m.d.comb += self.o.payload.eq(payload)
        with m.If(advance):
            m.d.sync += [fetched.eq(request), landed.eq(fetched), self.o.valid.eq(landed),
                         landed_beat.eq(beat_data), landed_pattern.eq(pattern_data),
                         payload.beat.eq(landed_beat),
                         payload.pattern.eq(landed_pattern)]
            with m.If(request):
                m.d.sync += [remaining.eq(remaining - 1),
                             phase.eq(Mux(phase + 1 == self.pattern_beats, 0, phase + 1))]
        with m.If(start):
            m.d.sync += [phase.eq(0), remaining.eq(self.n_beats)]
        return m
