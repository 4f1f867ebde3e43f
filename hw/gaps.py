"""The gap decoder: the unstructured format's gap codes turned into columns and row ends."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .memory import has_lut_ram
from .layouts import Format, field_offsets, gapped_layout, raw_beat_layout, source_layout
from .replicas import LANES_PER_COPY, replicas
from .streams import pipeline_stage, pipeline_stages


__all__ = ["GapDecoder", "prefix_sums"]


def prefix_sums(values, width, levels=None):
    """Inclusive prefix sums of ``values`` (Amaranth values), ``width`` bits each: a
    Sklansky tree, ``ceil(log2(len(values)))`` adders deep. With ``levels`` (a range), only
    those levels of the tree, so that a pipeline can put registers between them: level
    ``j`` adds to each value whose place has bit ``j`` set the value ending the block of
    ``2**j`` places before it."""
    sums = list(values)
    depth = ceil_log2(len(sums))
    for level in range(depth) if levels is None else levels:
        step = 1 << level
        sums = [total if (place // step) % 2 == 0 else
                (total + sums[place // step * step - 1])[:width]
                for place, total in enumerate(sums)]
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


#: Bits of each ring of LUT RAM in the gap decoder's delay line (each with its own slot).
RING_BITS = 128


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

    The places are a prefix sum over the beat, in six registered stages of at most two
    adders each (the ECP5 at 100 MHz): each lane's gap and the sums of pairs of lanes; the
    sums within each group of :data:`~hw.replicas.LANES_PER_COPY` lanes; two stages of the
    groups' offsets within the beat and the beat's sum, less 0 to C + 1 rows; the loop (the
    beat's start, carried from the beat before, plus its sum, one adder) and each group's
    offset from the start of each row the beat may reach; each lane's place after it from
    those starts, whose signs give the rows it crossed. ``o`` chooses each lane's column
    among its neighbour's places by those signs.

    The beats wait for their places in a delay line: LUT RAM where the FPGA has it
    (``lut_ram``, by default all but the families of
    :data:`~hw.memory.FAMILIES_WITHOUT_LUT_RAM`), six stages of flip-flops elsewhere.

    Latency (:attr:`latency`) is six cycles; under back-pressure every stage holds and no
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
        until it ends; its first beat may come two cycles after ``restart`` at the
        earliest (the accelerator's source gives it four cycles after).
    overrun : ``Out(1)``
        An unstructured beat of the run crossed more than C row ends.
    """
    def __init__(self, cfg, *, lut_ram=None):
        self.cfg = cfg
        self.lut_ram = lut_ram
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
        return 6

    def _delayed(self, m, platform, advance, stages):
        """The input's payload ``stages`` advances later: from a delay line of LUT RAM, a
        write and a registered read a step apart in a ring of slots, or of flip-flops."""
        lut_ram = self.lut_ram
        if lut_ram is None:
            lut_ram = has_lut_ram(platform)
        if not lut_ram:
            return pipeline_stages(m, advance, self.i.payload, stages, "source_")[-1]
        # Rings of RING_BITS bits each, each with its own copy of the slot: one slot
        # register reaching every LUT RAM of the line would be a net across the chip.
        layout = source_layout(self.cfg)
        payload, delayed = self.i.payload.as_value(), Signal(layout.size)
        depth = 1 << ceil_log2(stages + 1)
        starts = range(0, layout.size, RING_BITS)
        slots = replicas(range(depth), len(starts), name="delay_slot")
        for index, (start, slot) in enumerate(zip(starts, slots)):
            bits = payload[start:start + RING_BITS]
            ring = m.submodules[f"delay_{index}"] = Memory(shape=len(bits), depth=depth,
                                                           init=[])
            write, read = ring.write_port(), ring.read_port()
            with m.If(advance):
                m.d.sync += slot.eq(slot + 1)
            m.d.comb += [write.addr.eq(slot), write.data.eq(bits), write.en.eq(advance),
                         read.addr.eq(slot - (stages - 1)), read.en.eq(advance),
                         delayed[start:start + len(bits)].eq(read.data)]
        return layout(delayed)

    def _constants(self, m, groups, place_width):
        """The run's constants, loaded as it starts: the gap code's mask (a copy per group
        of lanes), 0 to C + 1 times the row's places, and whether the format is
        unstructured."""
        cfg = self.cfg
        masks = replicas(cfg.meta_bits, groups, name="mask")
        rows = [Const(0, place_width), *(Signal(place_width, name=f"rows_{count}")
                                         for count in range(1, cfg.output_ports + 2))]
        gapped = Signal()
        # Loaded in two steps: the run's settings come from far across the chip (the P = 64
        # critical path ran from them to the masks, 11.8 ns of its 12.8 of wire); a beat
        # reaches the masks three cycles after the start at the earliest.
        bits, columns = Signal.like(self.index_bits), Signal.like(self.columns)
        loading = Signal()
        m.d.sync += loading.eq(self.restart)
        with m.If(self.restart):
            m.d.sync += [bits.eq(self.index_bits), columns.eq(self.columns),
                         gapped.eq(self.format == Format.UNSTRUCTURED),
                         self.overrun.eq(0)]
        with m.If(loading):
            m.d.sync += [*(mask.eq(Cat(bits > bit for bit in range(cfg.meta_bits)))
                           for mask in masks),
                         *(multiple.eq(_times(columns, count))
                           for count, multiple in enumerate(rows) if count)]
        return masks, rows, gapped

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        pes, ports = cfg.pes, cfg.output_ports
        group = min(LANES_PER_COPY, pes)
        groups = pes // group
        stages = self.latency

        gap_width = cfg.meta_bits + 1
        inner_width = gap_width + ceil_log2(group)              # sums within a group
        offset_width = gap_width + ceil_log2(pes) + 1           # sums within a beat
        row_width = ceil_log2(cfg.max_k + 1)
        # Places relative to a row's start: from minus C + 1 rows to a row and a beat's sum.
        place_width = max(offset_width, row_width + ceil_log2(ports + 2)) + 2

        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        valid = [Signal(name=f"valid_{stage}") for stage in range(stages - 1)]
        with m.If(advance):
            m.d.sync += [valid[0].eq(self.i.valid),
                         *(later.eq(earlier) for earlier, later in zip(valid, valid[1:])),
                         self.o.valid.eq(valid[-1])]
        firsts = pipeline_stages(m, advance, self.i.payload.first, stages, "first_")
        m.d.comb += self.o.payload.source.eq(self._delayed(m, platform, advance, stages))
        m.d.comb += self.o.payload.source.first.eq(firsts[-1])

        def stage(name, values, shape):
            return pipeline_stage(m, advance, values, f"{name}_", shape)

        masks, rows, gapped = self._constants(m, groups, place_width)

        # Stage 1: each lane's gap, and the sums of pairs of lanes (the first level of the
        # sums within each group of lanes).
        beat = Signal(raw_beat_layout(cfg, cfg.meta_bits))
        m.d.comb += beat.as_value().eq(self.i.payload.beat[:len(beat.as_value())])
        planes = field_offsets(raw_beat_layout(cfg, cfg.meta_bits))
        raw = self.i.payload.beat
        gaps = [(Cat(raw[planes[f"index_{bit}"][0] + lane] for bit in range(cfg.meta_bits))
                 & masks[lane // group]) + (beat.weight[lane] != 0) for lane in range(pes)]
        lane_groups = range(0, pes, group)
        paired = stage("paired", [total for first in lane_groups for total in prefix_sums(
            gaps[first:first + group], inner_width, range(min(1, ceil_log2(group))))],
            inner_width)

        # Stage 2: the rest of the sums within each group (``inner``: lane i's gap and the
        # gaps before it in its group).
        inner = stage("inner", [total for first in lane_groups for total in prefix_sums(
            paired[first:first + group], inner_width, range(1, ceil_log2(group)))],
            inner_width)

        # Stages 3 and 4: each group's offset within the beat, and the beat's sum; then
        # both less 0 to C + 1 rows.
        half = (ceil_log2(groups) + 1) // 2
        totals = [inner[first + group - 1].as_unsigned() for first in lane_groups]
        partial = stage("partial", prefix_sums(totals, offset_width, range(half)),
                        offset_width)
        inner = stage("inner_3", inner, inner_width)
        ends = prefix_sums(partial, offset_width, range(half, ceil_log2(groups)))
        offsets = [Const(0, offset_width), *ends[:-1]]
        sums_less = stage("sum_less", [(ends[-1] - multiple)[:place_width].as_signed()
                                       for multiple in rows], signed(place_width))
        offsets_less = [stage(f"offset_less_{index}",
                              [(offset - multiple)[:place_width].as_signed()
                               for multiple in rows[:ports + 1]], signed(place_width))
                        for index, offset in enumerate(offsets)]
        inner = stage("inner_4", inner, inner_width)

        # Stage 5: the loop, and each group's offset from the start of each row the beat may
        # reach. The beat starts at place ``start`` within the current row (0 for an input's
        # first beat); the place after it, less 0 to C + 1 rows, gives the rows the beat
        # crosses by its signs, and the next beat's start.
        start = Signal(signed(place_width))
        begin = Mux(firsts[3], 0, start)
        after = [(begin + total)[:place_width].as_signed() for total in sums_less]
        with m.If(advance & valid[3] & gapped & (after[ports + 1] >= 0)):
            m.d.sync += self.overrun.eq(1)
        choice = after[0]
        for count in range(1, ports + 1):
            choice = Mux(after[count] >= 0, after[count], choice)
        with m.If(advance & valid[3]):
            m.d.sync += start.eq(choice)
        moved = [stage(f"moved_{index}", [(begin + offset)[:place_width].as_signed()
                                          for offset in offset_less], signed(place_width))
                 for index, offset_less in enumerate(offsets_less)]
        inner = stage("inner_5", inner, inner_width)
        [beat_start] = stage("beat_start_5", [begin], cfg.column_width)

        # Stage 6: each lane's place after it, from the start of each row the beat may reach:
        # its sum within its group and its group's offset.
        places = [stage(f"place_{lane}", [(inner[lane] + moved[lane // group][count])
                                          [:place_width].as_signed()
                                          for count in range(ports + 1)], signed(place_width))
                  for lane in range(pes)]
        [beat_start] = stage("beat_start", [beat_start], cfg.column_width)

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
