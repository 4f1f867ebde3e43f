"""The beat source: the weight memory and the sequencer that reads a layer out of it."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import source_layout
from .memory import SPRAM_WIDTH, BlockMemory, SinglePortMemory, registered_read, write_copy
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


def _single_port_memory(m, name, depth, words, write, address, enable):
    """As :func:`_word_written_memory`, in one :class:`~hw.memory.SinglePortMemory`: a write
    takes the port (the host writes between runs), and the reads use it otherwise."""
    memory = m.submodules[name] = SinglePortMemory(width=words * BUS_WIDTH, depth=depth)
    en, copy = write_copy(m, write.en, {"beat": write.beat, "word": write.word,
                                        "data": write.data}, name=f"{name}_write")
    halves = BUS_WIDTH // SPRAM_WIDTH
    m.d.comb += [
        memory.addr.eq(Mux(en, copy["beat"], address(0))),
        memory.write_data.eq(copy["data"].replicate(words)),
        memory.write_en.eq(Cat((en & (copy["word"] == word)).replicate(halves)
                               for word in range(words))),
        memory.read_en.eq(enable),
    ]
    return memory.read_data


class BeatSource(wiring.Component):
    """Holds the encoded layers and streams a layer's beats for each of a run's inputs, in a
    run that starts the cycle after each ``request``.

    A run streams beats ``beat_start .. beat_start + n_beats - 1`` once for each of its
    ``inputs``, back to back: input ``b``'s beats carry the activation ``offset``
    ``offset_base + b * offset_stride`` (one copy per group of lanes), where the decoder
    finds that input in the activation memories. Each beat leaves as the raw memory word,
    with entry ``pattern_start + (j mod pattern_beats)`` of the pattern table beside the
    input's beat ``j``, and ``first`` set on each input's beat 0;
    :class:`~hw.decode.BeatDecoder` reads its format.

    One beat leaves per cycle unless the consumer holds ``o.ready`` low; under back-pressure
    the source holds its output and its reads. The run reads its ``j``-th beat ``j + 1``
    cycles after it starts, and the beat leaves :attr:`latency` (3) cycles after its read: the
    read is synchronous and its output registered twice. With no stalls, the first beat is
    valid on ``o`` four cycles after the run starts, five after ``request``.

    Members
    -------
    o : ``Out(stream.Signature(source_layout(cfg)))``
        Encoded beats, each with its entry of the pattern table and its input's offset.
    write : ``In(WordWriteSignature(weight_depth, words_per_beat))``
        Loads the weight memory one bus word at a time; a write lands a cycle later. With
        ``weight_ports`` 1 the memory has one port (:class:`~hw.memory.SinglePortMemory`):
        writes must not meet a run.
    pattern_write : ``In(WordWriteSignature(pattern_depth, words_per_pattern))``
        Loads the pattern table one bus word at a time; a write lands a cycle later.
    request : ``In(1)``
        Start a run in the next cycle. The start is registered here, a copy for each group
        of the weight memory (hw.replicas). The other inputs are read as the run starts and
        must hold until it ends.
    beat_start, n_beats : ``In(ceil_log2(weight_depth + 1))``
        The layer's first beat and its beats per input.
    pattern_start, pattern_beats : ``In(ceil_log2(pattern_depth + 1))``
        The layer's first entry of the pattern table and its entries in the layer's cycle;
        with 0 (a format that has no pattern table) the entries beside the beats are
        unspecified.
    inputs : ``In(ceil_log2(max_inputs + 1), init=1)``
        Inputs of the run.
    offset_base, offset_stride : ``In(act_address_width)``
        Where the run's first input is in the activation memories, and how far apart its
        inputs are.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        beats = ceil_log2(cfg.weight_depth + 1)
        entries = ceil_log2(cfg.pattern_depth + 1)
        super().__init__({
            "o":             Out(stream.Signature(source_layout(cfg))),
            "write":         In(WordWriteSignature(cfg.weight_depth, cfg.words_per_beat)),
            "pattern_write": In(WordWriteSignature(cfg.pattern_depth, cfg.words_per_pattern)),
            "request":       In(1),
            "beat_start":    In(beats),
            "n_beats":       In(beats),
            "pattern_start": In(entries),
            "pattern_beats": In(entries),
            "inputs":        In(cfg.input_count_width, init=1),
            "offset_base":   In(cfg.act_address_width),
            "offset_stride": In(cfg.act_address_width),
        })

    @property
    def latency(self):
        """Cycles from a beat's read of the weight memory to its leaving on ``o``: the read
        and two registers."""
        return 3

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        phase = Signal(range(max(2, cfg.pattern_depth)))
        pattern_end = Signal(len(self.pattern_start) + 1)
        remaining = Signal.like(self.n_beats)
        inputs_left = Signal.like(self.inputs)
        offset = Signal.like(self.offset_base)
        starting = Signal()     # the next beat read is its input's first
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # Each group of the weight memory has its own copy of the start, of whether beats
        # remain, and of whether the next beat is its input's last with inputs after it (the
        # flags registered with the counts); the last copies are the sequencer's.
        groups = -(-cfg.words_per_beat // WORDS_PER_GROUP)
        *group_starts, start = replicate(m, self.request, groups + 1, name="start")
        *group_requests, request = replicas(1, groups + 1, name="pending")
        *group_wraps, wrap = replicas(1, groups + 1, name="wrap")
        ending = Signal()       # the next beat is its input's last
        more = Signal()         # inputs follow the current one
        with m.If(start):
            m.d.sync += [
                *(pending.eq((self.n_beats != 0) & (self.inputs != 0))
                  for pending in (*group_requests, request)),
                *(flag.eq((self.n_beats == 1) & (self.inputs > 1))
                  for flag in (*group_wraps, wrap)),
                ending.eq(self.n_beats == 1), more.eq(self.inputs > 1),
                remaining.eq(self.n_beats), inputs_left.eq(self.inputs),
                phase.eq(self.pattern_start),
                pattern_end.eq(self.pattern_start + self.pattern_beats),
                offset.eq(self.offset_base), starting.eq(1),
            ]
        with m.Elif(advance & request):
            with m.If(ending):
                # The input's last beat: the next input starts over, or the run ends.
                next_more = inputs_left > 2
                m.d.sync += [
                    *(pending.eq(more) for pending in (*group_requests, request)),
                    *(flag.eq((self.n_beats == 1) & next_more)
                      for flag in (*group_wraps, wrap)),
                    ending.eq(self.n_beats == 1), more.eq(next_more),
                    remaining.eq(self.n_beats), inputs_left.eq(inputs_left - 1),
                    phase.eq(self.pattern_start),
                    offset.eq(offset + self.offset_stride), starting.eq(1),
                ]
            with m.Else():
                m.d.sync += [
                    *(flag.eq((remaining == 2) & more) for flag in (*group_wraps, wrap)),
                    ending.eq(remaining == 2), remaining.eq(remaining - 1), starting.eq(0),
                    phase.eq(Mux(phase + 1 == pattern_end, self.pattern_start, phase + 1)),
                ]

        def beat_address(group):
            # Each group of the weight memory counts the beats itself, from its own start:
            # the counters' own values feed them, so synthesis does not merge them into one.
            address = Signal.like(self.n_beats, name=f"address_{group}", reset_less=True)
            with m.If(group_starts[group]):
                m.d.sync += address.eq(self.beat_start)
            with m.Elif(advance & group_requests[group]):
                m.d.sync += address.eq(Mux(group_wraps[group], self.beat_start, address + 1))
            return address

        weight_memory = _single_port_memory if cfg.weight_ports == 1 else _word_written_memory
        beat_data = weight_memory(m, "weights", cfg.weight_depth, cfg.words_per_beat,
                                  self.write, beat_address, advance)
        pattern_data = _word_written_memory(m, "patterns", cfg.pattern_depth,
                                            cfg.words_per_pattern, self.pattern_write,
                                            lambda group: phase, advance)
        # The memories' outputs are registered twice before they leave: block RAM outputs are
        # slow, and the first register can sit by the block RAMs, the second by the decoder.
        # Data registers have no reset (nor their wide reset net): only valid bits do. The
        # beat's offset goes beside it, a copy for each group of lanes at the last register.
        fetched = Signal()
        landed = Signal()
        landed_beat = Signal(cfg.beat_width, reset_less=True)
        landed_pattern = Signal(len(pattern_data), reset_less=True)
        fetched_offset = Signal.like(offset, reset_less=True)
        landed_offset = Signal.like(offset, reset_less=True)
        fetched_first = Signal(reset_less=True)
        landed_first = Signal(reset_less=True)
        payload = Signal(source_layout(cfg), reset_less=True)
        m.d.comb += self.o.payload.eq(payload)
        with m.If(advance):
            m.d.sync += [fetched.eq(request), landed.eq(fetched), self.o.valid.eq(landed),
                         landed_beat.eq(beat_data), landed_pattern.eq(pattern_data),
                         fetched_offset.eq(offset), landed_offset.eq(fetched_offset),
                         fetched_first.eq(starting), landed_first.eq(fetched_first),
                         payload.beat.eq(landed_beat), payload.first.eq(landed_first),
                         payload.pattern.eq(landed_pattern),
                         *(copy.eq(landed_offset) for copy in payload.offsets)]
        return m
