"""The beat decoder: turns a beat of any format into lanes of weight, column and row end."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import Format, LaneField, beat_layout, fetch_layout, grouped_beat_layout


__all__ = ["grouped_settings_layout", "LaneTableSignature", "BeatDecoder"]


def grouped_settings_layout(cfg):
    """The grouped decoder's constants (see :class:`~hw.layouts.Reg`), held in registers."""
    count = unsigned(cfg.column_width + 1)
    return data.StructLayout({
        "kept":         unsigned(cfg.group_index_width + 1),
        "width":        unsigned(cfg.group_index_width + 1),
        "row_groups":   count,
        "row_columns":  count,
        "step_slot":    unsigned(cfg.group_index_width + 1),
        "step_groups":  count,
        "step_columns": count,
        "index_bits":   unsigned(ceil_log2(cfg.group_index_width + 1)),
        "list_beats":   unsigned(max(1, ceil_log2(cfg.compact_depth + 1))),
        "tile_beats":   unsigned(ceil_log2(cfg.weight_depth + 1)),
    })



class LaneTableSignature(wiring.Signature):
    """Writes one lane's start value: ``field`` is a :class:`~hw.layouts.LaneField`."""
    def __init__(self, cfg):
        super().__init__({
            "lane":  Out(max(1, cfg.lane_levels)),
            "field": Out(LaneField),
            "data":  Out(cfg.column_width + 1),
            "en":    Out(1),
        })


class BeatDecoder(wiring.Component):
    """Decodes raw weight beats into lanes of ``(weight, column, last)``.

    ``UNSTRUCTURED`` beats already hold those lanes. ``GROUPED`` beats hold ``(weight,
    index)``; lane ``i`` keeps its own place in the stream, ``(slot, group, column)``: its slot
    among the N kept weights of its group, its group within the row, and that group's first
    column. The host writes each lane's place for the first beat into the lane table; every
    accepted beat moves every lane on by P places (``STEP_*``), wrapping at the row's end. A
    lane's column is the group's first column plus its index; it ends a row in the last slot
    of the last group. ``restart`` (between runs) puts every lane back at its start.

    ``TILE`` beats count through each tile: its first ``list_beats`` beats are unstructured
    lanes whose weights are ignored (``gather``, ``slot`` the list beat's number), the rest
    grouped weight beats (``compact``, ``slot`` the beat's number within its row). Only
    weight beats move the lanes' places.

    Lanes past the first ``n_lanes`` of a run are padding: they leave with weight 0 and no
    row end, whatever their place says.

    Latency is one cycle; under back-pressure the decoder holds its output and its places.
    ``settings`` must hold still from the cycle before ``restart`` to the end of the run,
    and the first beat must come at least three cycles after ``restart`` (the constants the
    lanes step by are derived from them in three register stages).

    Members
    -------
    i : ``In(stream.Signature(cfg.beat_width))``
        Raw beats from the weight memory.
    o : ``Out(stream.Signature(fetch_layout(cfg)))``
        Decoded lanes and where their activations come from.
    format : ``In(Format)``
    settings : ``In(grouped_settings_layout(cfg))``
    lane_table : ``In(LaneTableSignature(cfg))``
    reads : ``Out(range(P + 1))``
        Lanes of the beat on ``o`` that read the activation memory.
    n_lanes : ``In(ceil_log2(weight_depth * P + 1))``
    restart : ``In(1)``
        Start a run: every lane back at its start place, ``n_lanes`` lanes to come.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":          In(stream.Signature(cfg.beat_width)),
            "o":          Out(stream.Signature(fetch_layout(cfg))),
            "format":     In(Format),
            "settings":   In(grouped_settings_layout(cfg)),
            "lane_table": In(LaneTableSignature(cfg)),
            "reads":      Out(range(cfg.pes + 1)),
            "n_lanes":    In(ceil_log2(cfg.weight_depth * cfg.pes + 1)),
            "restart":    In(1),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        settings = self.settings

        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
        ]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(self.i.valid)

        # One signal per view of the raw beat: slicing a signal is cheap to elaborate,
        # slicing a slice of a wide port for every lane field is not.
        unstructured = Signal(beat_layout(cfg))
        grouped = [Signal(grouped_beat_layout(cfg, bits), name=f"grouped{bits}")
                   for bits in range(cfg.group_index_width + 1)]
        for view in [unstructured, *grouped]:
            m.d.comb += view.eq(self.i.payload[:len(view.as_value())])
        moving = advance & self.i.valid
        tile = self.format == Format.TILE

        remaining = Signal.like(self.n_lanes)
        live = Mux(remaining > cfg.pes, cfg.pes, remaining)
        with m.If(self.restart):
            m.d.sync += remaining.eq(self.n_lanes)
        with m.Elif(moving):
            m.d.sync += remaining.eq(remaining - live)

        tile_beat = Signal.like(settings.tile_beats)
        listing = tile & (tile_beat < settings.list_beats)
        with m.If(self.restart):
            m.d.sync += tile_beat.eq(0)
        with m.Elif(moving & tile):
            m.d.sync += tile_beat.eq(Mux(tile_beat + 1 == settings.tile_beats, 0, tile_beat + 1))
        stepping = moving & ~listing

        with m.If(advance):
            m.d.sync += [
                self.reads.eq(Mux(~tile | listing, live, 0)),
                self.o.payload.gather.eq(listing),
                self.o.payload.compact.eq(tile & ~listing),
            ]

        # The lanes are built in a signal of their own; see the views above.
        decoded = Signal(beat_layout(cfg))
        m.d.comb += self.o.payload.lanes.eq(decoded)

        # Per-layer constants of the lanes' step, registered (settings change between runs
        # only). A lane's slot carries into the next group (c) if slot >= kept - step_slot;
        # its group wraps past the row's end (w) if group >= row_groups - step_groups - c.
        # Each lane keeps c and w of its place in registers, and a step computes the next
        # place's c and w beside the place itself, from thresholds moved by the step's
        # offsets: a step is a choice of constants and one addition or comparison. Offsets
        # are modulo 2**width (the places they lead to are in range); thresholds are signed.
        group_width, column_width = len(settings.row_groups), len(settings.row_columns)
        slot_width = len(settings.kept)
        kept, step_slot = settings.kept, settings.step_slot
        row_groups, step_groups = settings.row_groups, settings.step_groups
        slot_threshold = Signal(slot_width)
        group_thresholds = [Signal(group_width, name=f"group_threshold{c}") for c in range(2)]
        slot_offsets = [Signal(slot_width, name=f"slot_offset{c}") for c in range(2)]
        group_offsets = [[Signal(signed(group_width + 1), name=f"group_offset{c}{w}")
                          for w in range(2)] for c in range(2)]
        first_offsets = [[Signal(column_width, name=f"first_offset{c}{w}") for w in range(2)]
                         for c in range(2)]
        carry_thresholds = [Signal(signed(slot_width + 2), name=f"carry_threshold{c}")
                            for c in range(2)]
        wrap_thresholds = [[[Signal(signed(group_width + 3), name=f"wrap_threshold{c}{w}{n}")
                             for n in range(2)] for w in range(2)] for c in range(2)]
        last_group = Signal(group_width)
        last_slot = Signal(slot_width)
        # The constants are derived in three register stages, one addition each: a run's
        # first step comes three cycles after its restart, and the settings are written
        # before the run is started.
        spare_groups = Signal(group_width)            # row_groups - step_groups
        group_steps = [Signal(group_width, name=f"group_step{c}") for c in range(2)]
        column_steps = [Signal(column_width, name=f"column_step{c}") for c in range(2)]
        m.d.sync += [
            slot_threshold.eq(kept - step_slot),
            slot_offsets[0].eq(step_slot),
            slot_offsets[1].eq(step_slot - kept),
            carry_thresholds[0].eq(kept - 2 * step_slot),
            carry_thresholds[1].eq(2 * kept - 2 * step_slot),
            last_group.eq(row_groups - 1),
            last_slot.eq(kept - 1),
            spare_groups.eq(row_groups - step_groups),
            group_steps[0].eq(step_groups),
            group_steps[1].eq(step_groups + 1),
            column_steps[0].eq(settings.step_columns),
            column_steps[1].eq(settings.step_columns + settings.width),
        ]
        for c in range(2):
            m.d.sync += group_thresholds[c].eq(spare_groups - c)
            for w in range(2):
                m.d.sync += [
                    group_offsets[c][w].eq(group_steps[c] - (row_groups if w else 0)),
                    first_offsets[c][w].eq(column_steps[c] - (settings.row_columns if w else 0)),
                ]
                for n in range(2):
                    m.d.sync += wrap_thresholds[c][w][n].eq(
                        group_thresholds[n] - group_offsets[c][w])

        for lane in range(cfg.pes):
            start = {field: Signal(unsigned(width), name=f"start_{field.name.lower()}{lane}")
                     for field, width in ((LaneField.SLOT, slot_width),
                                          (LaneField.GROUP, group_width),
                                          (LaneField.COLUMN, column_width))}
            table = self.lane_table
            with m.If(table.en & (table.lane == lane)):
                with m.Switch(table.field):
                    for field, register in start.items():
                        with m.Case(field):
                            m.d.sync += register.eq(table.data)

            slot = Signal.like(start[LaneField.SLOT], name=f"slot{lane}")
            group = Signal.like(start[LaneField.GROUP], name=f"group{lane}")
            first = Signal.like(start[LaneField.COLUMN], name=f"first{lane}")
            carry = Signal(name=f"carry{lane}")
            wrap = Signal(name=f"wrap{lane}")

            with m.If(self.restart):
                m.d.sync += [slot.eq(start[LaneField.SLOT]), group.eq(start[LaneField.GROUP]),
                             first.eq(start[LaneField.COLUMN])]
            with m.Elif(stepping):
                next_carry = Signal(name=f"next_carry{lane}")
                wrap_if = [Signal(name=f"wrap_if{n}_{lane}") for n in range(2)]
                choice = Cat(wrap, carry)
                m.d.comb += [
                    next_carry.eq(slot >= Array(carry_thresholds)[carry]),
                    wrap_if[0].eq(group >= Array(t[0] for row in wrap_thresholds
                                                 for t in row)[choice]),
                    wrap_if[1].eq(group >= Array(t[1] for row in wrap_thresholds
                                                 for t in row)[choice]),
                ]
                m.d.sync += [
                    slot.eq(slot + Array(slot_offsets)[carry]),
                    group.eq(group + Array(o for row in group_offsets for o in row)[choice]),
                    first.eq(first + Array(o for row in first_offsets for o in row)[choice]),
                    carry.eq(next_carry),
                    wrap.eq(Mux(next_carry, wrap_if[1], wrap_if[0])),
                ]
            with m.Else():
                # Between steps (after a restart, during a tile's list) the flags settle on
                # the place as it is: the first step comes three cycles after a restart.
                m.d.sync += [
                    carry.eq(slot >= slot_threshold),
                    wrap.eq(group >= Array(group_thresholds)[carry]),
                ]

            weight = Signal.like(unstructured[lane].weight, name=f"grouped_weight{lane}")
            index = Signal(unsigned(cfg.group_index_width), name=f"grouped_index{lane}")
            with m.Switch(settings.index_bits):
                for bits, view in enumerate(grouped):
                    with m.Case(bits):
                        m.d.comb += [weight.eq(view[lane].weight), index.eq(view[lane].index)]

            if lane == 0:
                with m.If(advance):
                    m.d.sync += self.o.payload.slot.eq(
                        Mux(listing, tile_beat, group[cfg.lane_levels:]))

            out = decoded[lane]
            with m.If(advance):
                with m.If(remaining <= lane):
                    m.d.sync += out.eq(0)
                with m.Elif(listing):
                    m.d.sync += [out.weight.eq(0), out.column.eq(unstructured[lane].column),
                                 out.last.eq(0)]
                with m.Elif(self.format == Format.UNSTRUCTURED):
                    m.d.sync += out.eq(unstructured[lane])
                with m.Else():
                    m.d.sync += [
                        out.weight.eq(weight),
                        out.column.eq(first + index),
                        out.last.eq((group == last_group) & (slot == last_slot)),
                    ]
        return m
