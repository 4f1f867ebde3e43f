"""The gap decoder: the unstructured format's gap codes turned into columns and row ends."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import Format, field_offsets, gapped_layout, raw_beat_layout, source_layout
from .replicas import LANES_PER_COPY


__all__ = ["GapDecoder", "prefix_sums"]


def prefix_sums(values, width):
    """Inclusive prefix sums of ``values`` (Amaranth values), ``width`` bits each: a
    Sklansky tree, ``ceil(log2(len(values)))`` adders deep."""
    sums = [value for value in values]
    step = 1
    while step < len(sums):
        sums = [total if (place // step) % 2 == 0 else
                (total + sums[place // step * step - 1])[:width]
                for place, total in enumerate(sums)]
        step *= 2
    return sums


def _times(value, count):
    """``value * count`` for a constant ``count`` of at least 1, by shifts and adds: Yosys
    maps a product by a constant to a DSP block."""
    # (A shift by 0 makes a zero-width constant, on which Yosys's opt_expr asserts.)
    terms = [value << bit if bit else value
             for bit in range(count.bit_length()) if count >> bit & 1]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


class GapDecoder(wiring.Component):
    """Decodes the places of an unstructured beat's lanes: each lane's column and row end.

    The rows a layer sends are laid end to end, ``columns`` (K) places each. Each input's
    stream starts at place 0 (its first beat has ``first`` set), and lane ``i`` of a beat
    moves the place on by its gap ``g = v + (weight != 0)``, ``v`` being its ``index_bits``
    bits of metadata. A lane's column is its place within its row; it ends its row when the
    place after it is in a later row. No beat may cross more than C = ``output_ports`` row
    ends (the host's encoder never makes one that does); an unstructured beat that does
    sets ``overrun`` until the next run, and the run's columns are unspecified.

    Beats of every format pass through (``source``); ``column`` and ``last`` are only
    meaningful for the unstructured format.

    The places are a prefix sum over the beat, in four registered stages: each lane's gap
    and the sums within its group of :data:`~hw.replicas.LANES_PER_COPY` lanes; the
    groups' offsets within the beat; the offsets of each group from the starts of the rows
    the beat may reach (the beat's place carried from the beat before, the only loop, one
    adder deep); each lane's place from those starts, whose signs give the rows it crossed.
    ``o`` chooses each lane's column among its neighbour's places by those signs.

    Latency (:attr:`latency`) is four cycles; under back-pressure every stage holds and no
    beat is accepted.

    Members
    -------
    i : ``In(stream.Signature(source_layout(cfg)))``
        Raw beats.
    o : ``Out(stream.Signature(gapped_layout(cfg)))``
        The same beats, with their unstructured lanes' columns and row ends.
    index_bits : ``In(range(meta_bits + 1))``
        Bits of a lane's gap code.
    columns : ``In(range(max_k + 1))``
        Places in a row: the layer's K.
    format : ``In(Format)``
        The layer's format.
    restart : ``In(1)``
        A run starts: ``format``, ``index_bits`` and ``columns`` are read and must hold
        until it ends.
    overrun : ``Out(1)``
        An unstructured beat of the run crossed more than C row ends.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":          In(stream.Signature(source_layout(cfg))),
            "o":          Out(stream.Signature(gapped_layout(cfg))),
            "index_bits": In(range(cfg.meta_bits + 1)),
            "columns":    In(range(cfg.max_k + 1)),
            "format":     In(Format),
            "restart":    In(1),
            "overrun":    Out(1),
        })

    @property
    def latency(self):
        """Cycles from a beat on ``i`` to the same beat on ``o``."""
        return 4

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        pes, ports = cfg.pes, cfg.output_ports
        group = min(LANES_PER_COPY, pes)
        groups = pes // group

        gap_width = cfg.meta_bits + 1
        inner_width = gap_width + ceil_log2(group)              # sums within a group
        offset_width = gap_width + ceil_log2(pes) + 1           # sums within a beat
        row_width = ceil_log2(cfg.max_k + 1)
        # Places relative to a row's start: from minus C + 1 rows to a row and a beat's sum.
        place_width = max(offset_width, row_width + ceil_log2(ports + 2)) + 2

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        valid = [Signal(name=f"valid_{stage}") for stage in range(3)]
        with m.If(advance):
            m.d.sync += [valid[0].eq(self.i.valid), valid[1].eq(valid[0]),
                         valid[2].eq(valid[1]), self.o.valid.eq(valid[2])]
        sources = [Signal(source_layout(cfg), name=f"source_{stage}", reset_less=True)
                   for stage in range(4)]
        with m.If(advance):
            m.d.sync += [sources[0].eq(self.i.payload),
                         *(later.eq(earlier) for earlier, later in zip(sources, sources[1:]))]
        m.d.comb += self.o.payload.source.eq(sources[3])

        # The run's constants: the code's mask and multiples of the row's places.
        mask = Signal(cfg.meta_bits)
        rows = [Const(0, place_width), *(Signal(place_width, name=f"rows_{count}")
                                         for count in range(1, ports + 2))]   # count * K
        gapped = Signal()
        with m.If(self.restart):
            m.d.sync += [mask.eq(Cat(self.index_bits > bit for bit in range(cfg.meta_bits))),
                         *(multiple.eq(_times(self.columns, count))
                           for count, multiple in enumerate(rows) if count),
                         gapped.eq(self.format == Format.UNSTRUCTURED),
                         self.overrun.eq(0)]

        # Stage 1: each lane's gap, and the sums within its group.
        beat = Signal(raw_beat_layout(cfg, cfg.meta_bits))
        m.d.comb += beat.as_value().eq(self.i.payload.beat[:len(beat.as_value())])
        planes = field_offsets(raw_beat_layout(cfg, cfg.meta_bits))
        raw = self.i.payload.beat
        gaps = [(Cat(raw[planes[f"index_{bit}"][0] + lane] for bit in range(cfg.meta_bits))
                 & mask) + (beat.weight[lane] != 0) for lane in range(pes)]
        inner = [Signal(inner_width, name=f"inner_{lane}", reset_less=True)
                 for lane in range(pes)]
        with m.If(advance):
            for first in range(0, pes, group):
                sums = prefix_sums(gaps[first:first + group], inner_width)
                m.d.sync += [signal.eq(total)
                             for signal, total in zip(inner[first:first + group], sums)]

        # Stage 2: each group's offset within the beat, and the beat's sum.
        totals = [inner[first + group - 1] for first in range(0, pes, group)]
        ends = prefix_sums([total.as_unsigned() for total in totals], offset_width)
        offsets = [Signal(offset_width, name=f"offset_{index}", reset_less=True)
                   for index in range(groups)]
        beat_sum = Signal(offset_width, reset_less=True)
        inner_2 = [Signal.like(signal, name=f"inner_2_{lane}") for lane, signal in
                   enumerate(inner)]
        with m.If(advance):
            m.d.sync += [offsets[0].eq(0),
                         *(offset.eq(end) for offset, end in zip(offsets[1:], ends)),
                         beat_sum.eq(ends[-1]),
                         *(later.eq(earlier) for earlier, later in zip(inner, inner_2))]

        # Stage 3: the loop. The beat starts at place ``start`` within the current row (0 for
        # an input's first beat); ``current[j]`` is that place less j rows, and each group's
        # offset is moved by it, for each row the beat may reach.
        start = Signal(signed(place_width))
        first = sources[1].first
        current = [(Mux(first, 0, start) - multiple)[:place_width].as_signed()
                   for multiple in rows]
        after = [(place + beat_sum)[:place_width].as_signed() for place in current]
        with m.If(advance & valid[1] & gapped & (after[ports + 1] >= 0)):
            m.d.sync += self.overrun.eq(1)
        # Rows the beat's sum crosses: the signs of the place after it, less 1 to C rows.
        choice = after[0]
        for count in range(1, ports + 1):
            choice = Mux(after[count] >= 0, after[count], choice)
        with m.If(advance & valid[1]):
            m.d.sync += start.eq(choice)
        moved = [[Signal(signed(place_width), name=f"moved_{index}_{count}", reset_less=True)
                  for count in range(ports + 1)] for index in range(groups)]
        inner_3 = [Signal.like(signal, name=f"inner_3_{lane}") for lane, signal in
                   enumerate(inner)]
        with m.If(advance):
            m.d.sync += [moved[index][count].eq(current[count] + offsets[index])
                         for index in range(groups) for count in range(ports + 1)]
            m.d.sync += [later.eq(earlier) for earlier, later in zip(inner_2, inner_3)]

        # Stage 4: the place after each lane, from the start of each row it may reach.
        places = [[Signal(signed(place_width), name=f"place_{lane}_{count}",
                          reset_less=True) for count in range(ports + 1)]
                  for lane in range(pes)]
        beat_start = Signal(cfg.column_width, reset_less=True)
        with m.If(advance):
            m.d.sync += beat_start.eq(moved[0][0])
            for lane in range(pes):
                for count in range(ports + 1):
                    m.d.sync += places[lane][count].eq(
                        inner_3[lane] + moved[lane // group][count])

        # Out: a lane's column is the place after the lane before it, from the start of
        # the last row that place reached; a lane ends its row when its own place after
        # reached a row the lane before's did not.
        reached = [Cat(places[lane][count] >= 0 for count in range(1, ports + 1))
                   for lane in range(pes)]
        for lane in range(pes):
            out_column = self.o.payload.column[lane]
            if lane == 0:
                m.d.comb += [out_column.eq(beat_start),
                             self.o.payload.last[lane].eq(reached[lane] != 0)]
                continue
            before = places[lane - 1]
            choice = before[0]
            for count in range(1, ports + 1):
                choice = Mux(reached[lane - 1][count - 1], before[count], choice)
            m.d.comb += [out_column.eq(choice[:cfg.column_width]),
                         self.o.payload.last[lane].eq(reached[lane] != reached[lane - 1])]
        return m
