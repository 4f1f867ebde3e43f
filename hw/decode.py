"""The beat decoder: turns a beat of any format into lanes of weight, column and row end."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import ceil_log2
from .layouts import (Format, beat_layout, fetch_control_layout, fetch_layout, field_offsets,
                      gapped_layout, raw_beat_layout)
from .replicas import LANES_PER_COPY, lane_copies, replicas


__all__ = ["BeatDecoder"]


class BeatDecoder(wiring.Component):
    """Decodes raw weight beats into lanes of ``(weight, column, last)``.

    Every format keeps a lane's weight at the same place of the beat, so only the metadata
    is decoded. ``UNSTRUCTURED`` lanes come with their column and row end, decoded from
    their gaps by :class:`~hw.gaps.GapDecoder`. ``GROUPED`` lanes
    carry an ``index_bits``-bit index; a lane reads its own activation bank at
    ``base | index`` (in ``column``), and its row end is its bit of ``last``, both from the
    beat's entry of the pattern table (:func:`~hw.layouts.pattern_layout`), which the beat
    source reads beside the beat. The host writes ``base = phase << index_bits``. There is
    no per-lane arithmetic, whatever N and M are.

    ``TILE`` beats count through each tile: its first ``list_beats`` beats are list lanes,
    each naming a column with its weight and metadata bits (``gather``, ``slot`` the list
    beat's number; :func:`~hw.layouts.raw_beat_layout`), the rest
    dense weight beats (``compact``, ``slot`` the beat's number within its row, whose last
    lane ends the row when the row's last beat is reached).

    Lanes past the first ``n_lanes`` of each of a run's inputs are padding: they leave with
    no row end; after an input's last beat the next input starts over. Every lane's column
    is ORed with its beat's ``offset`` (the input's place in the activation memories).

    Latency (:attr:`latency`) is one cycle; under back-pressure the decoder holds its output
    and does not accept input.

    Members
    -------
    i : ``In(stream.Signature(gapped_layout(cfg)))``
        Raw beats from the weight memory, with their entries of the pattern table and their
        unstructured lanes' columns and row ends.
    o : ``Out(stream.Signature(fetch_layout(cfg)))``
        Decoded lanes and where their activations come from.
    format : ``In(Format)``
        The layer's format.
    index_bits : ``In(range(meta_bits + 1))``
        Width of a grouped lane's index.
    list_beats : ``In(max(1, ceil_log2(compact_buffer_depth + 1)))``
        List beats at the start of each tile.
    tile_beats : ``In(ceil_log2(weight_depth + 1))``
        Beats of a tile, list included.
    reads : ``Out(range(P + 1))``
        Lanes of the beat on ``o`` that read the activation memory.
    n_lanes : ``In(ceil_log2(weight_depth * P + 1))``
        Lanes of the layer; the rest of its final beat is padding.
    restart : ``In(1)``
        Start a run: ``n_lanes`` lanes to come, at the start of a tile. ``format`` and its
        constants are read as it is high and must hold until the run ends.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({
            "i":          In(stream.Signature(gapped_layout(cfg))),
            "o":          Out(stream.Signature(fetch_layout(cfg))),
            "format":     In(Format),
            "index_bits": In(range(cfg.meta_bits + 1)),
            "list_beats": In(max(1, ceil_log2(cfg.compact_buffer_depth + 1))),
            "tile_beats": In(ceil_log2(cfg.weight_depth + 1)),
            "reads":      Out(range(cfg.pes + 1)),
            "n_lanes":    In(ceil_log2(cfg.weight_depth * cfg.pes + 1)),
            "restart":    In(1),
        })

    @property
    def latency(self):
        """Cycles from a raw beat on ``i`` to its lanes on ``o``."""
        return 1

    def _layer_flags(self, m):
        """The layer's index masks and its grouped and unstructured flags, a copy per group
        of lanes, loaded as the run starts."""
        cfg = self.cfg
        # Registers that reach every lane have a copy per group of lanes (hw.replicas); the
        # layer's own are loaded as the run starts.
        copies = lane_copies(cfg.pes)
        index_masks = replicas(cfg.group_index_width, copies, name="index_mask")
        grouped = replicas(1, copies, name="grouped")
        gapped = replicas(1, copies, name="gapped")
        with m.If(self.restart):
            m.d.sync += [
                *(mask.eq(Cat(self.index_bits > bit for bit in range(cfg.group_index_width)))
                  for mask in index_masks),
                *(flag.eq(self.format == Format.GROUPED) for flag in grouped),
                *(flag.eq(self.format == Format.UNSTRUCTURED) for flag in gapped),
            ]
        return index_masks, grouped, gapped

    def _lanes_left(self, m, moving):
        """Whether the beat is the run's last (a copy per group of lanes), which of its lanes
        are live then, and how many lanes the beat has."""
        cfg = self.cfg
        copies = lane_copies(cfg.pes)
        # The lanes left to come. Every beat but the run's last has P live lanes; the last
        # has the lanes of ``n_lanes`` past a multiple of P, as one flag per lane set when the
        # run starts. Whether the next beat is the last is registered with the count.
        remaining = Signal.like(self.n_lanes)
        final = Signal()
        finals = replicas(1, copies, name="final")
        tail = Signal(range(cfg.pes + 1))
        tail_lanes = Signal(cfg.pes)
        with m.If(self.restart):
            partial = self.n_lanes[:cfg.lane_levels] if cfg.lane_levels else 0
            m.d.sync += [
                remaining.eq(self.n_lanes),
                *(flag.eq(self.n_lanes <= cfg.pes) for flag in (final, *finals)),
                tail.eq(Mux(partial == 0, cfg.pes, partial)),
                tail_lanes.eq(Cat((partial == 0) | (partial > lane)
                                  for lane in range(cfg.pes))),
            ]
        with m.Elif(moving & final):
            # The input's last beat: the run's next input, if any, starts over.
            m.d.sync += [remaining.eq(self.n_lanes),
                         *(flag.eq(self.n_lanes <= cfg.pes) for flag in (final, *finals))]
        with m.Elif(moving):
            m.d.sync += [remaining.eq(remaining - cfg.pes),
                         *(flag.eq(remaining <= 2 * cfg.pes) for flag in (final, *finals))]
        live = Mux(final, tail, cfg.pes)
        return finals, tail_lanes, live

    def _tile_place(self, m, moving, tile):
        """The tile format's place: whether the beat is of the tile's list, the beat within
        the tile, a weight beat's number within its row, whether it is its row's last, and
        whether lanes carry their own column and row end (a copy per group of lanes)."""
        cfg = self.cfg
        copies = lane_copies(cfg.pes)
        # The tile format's place: the beat within the tile, and a weight beat's number within
        # its row; with the flags they give the next beat, registered with them (the flags
        # reach every lane).
        tile_beat = Signal.like(self.tile_beats)
        row_beat = Signal.like(self.list_beats)
        listing = Signal()          # the beat is one of the tile's list
        list_end = Signal()         # ... its list's last
        tile_end = Signal()         # ... its tile's last
        row_done = Signal()         # ... the last of its row of the tile
        # Unstructured lanes and a tile's list lanes carry their column and row end.
        direct = replicas(1, copies, name="direct")
        # The flags of the next beat follow from the flags and from comparisons of the
        # counters with constants of the run (each count's last but one), all registers.
        tile_before_end = Signal(signed(len(self.tile_beats) + 1))
        list_before_end = Signal(signed(len(self.list_beats) + 1))
        with m.If(self.restart):
            m.d.sync += [tile_before_end.eq(self.tile_beats - 2),
                         list_before_end.eq(self.list_beats - 2)]
        next_listing = Signal()
        short_list = self.list_beats == 1
        with m.If(self.restart):
            m.d.comb += next_listing.eq(tile & (self.list_beats != 0))
            m.d.sync += [
                tile_beat.eq(0),
                row_beat.eq(0),
                tile_end.eq(self.tile_beats == 1),
                list_end.eq(short_list),
                row_done.eq(short_list),
            ]
        with m.Elif(moving & tile):
            with m.If(tile_end):
                m.d.comb += next_listing.eq(self.list_beats != 0)
                m.d.sync += [tile_beat.eq(0), tile_end.eq(self.tile_beats == 1),
                             list_end.eq(short_list)]
            with m.Else():
                m.d.comb += next_listing.eq(listing & ~list_end)
                m.d.sync += [tile_beat.eq(tile_beat + 1),
                             tile_end.eq(tile_beat == tile_before_end),
                             list_end.eq(tile_beat == list_before_end)]
            with m.If(~listing):
                with m.If(row_done):
                    m.d.sync += [row_beat.eq(0), row_done.eq(short_list)]
                with m.Else():
                    m.d.sync += [row_beat.eq(row_beat + 1),
                                 row_done.eq(row_beat == list_before_end)]
        with m.If(self.restart | (moving & tile)):
            m.d.sync += [
                listing.eq(next_listing),
                *(flag.eq((self.format == Format.UNSTRUCTURED) | next_listing)
                  for flag in direct),
            ]
        return listing, tile_beat, row_beat, row_done, direct

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        advance = Signal()
        m.d.comb += [
            advance.eq(~self.o.valid | self.o.ready),
            self.i.ready.eq(advance),
        ]
        with m.If(advance):
            m.d.sync += self.o.valid.eq(self.i.valid)
        moving = advance & self.i.valid

        # Views of the raw beat. Slicing signals of their own is cheap to elaborate; slicing a
        # slice of the wide payload for every lane field is not.
        source = self.i.payload.source
        raw = Signal(raw_beat_layout(cfg, cfg.meta_bits))
        pattern = Signal.like(source.pattern)
        word = Signal(cfg.beat_width)              # the whole beat, for the index planes
        gap_column = Signal.like(self.i.payload.column)
        gap_last = Signal.like(self.i.payload.last)
        m.d.comb += [raw.as_value().eq(source.beat[:len(raw.as_value())]),
                     word.eq(source.beat), pattern.eq(source.pattern),
                     gap_column.eq(self.i.payload.column), gap_last.eq(self.i.payload.last)]
        offsets = Signal.like(source.offsets)
        m.d.comb += offsets.eq(source.offsets)
        planes = field_offsets(raw_beat_layout(cfg, cfg.meta_bits))
        copies = lane_copies(cfg.pes)
        index_masks, grouped, gapped = self._layer_flags(m)

        finals, tail_lanes, live = self._lanes_left(m, moving)

        tile = Signal()
        m.d.comb += tile.eq(self.format == Format.TILE)
        listing, tile_beat, row_beat, row_done, direct = self._tile_place(m, moving, tile)

        # The decoded beat's registers have no reset (only the valid bit does). Where its
        # lanes' activations come from is registered once for each group of lanes.
        payload = Signal(beat_layout(cfg), reset_less=True)
        controls = replicas(fetch_control_layout(cfg), copies, name="control", reset_less=True)
        m.d.comb += [self.o.payload.lanes.eq(payload),
                     *(self.o.payload.controls[copy].eq(control)
                       for copy, control in enumerate(controls))]
        with m.If(advance):
            m.d.sync += self.reads.eq(Mux(~tile | listing, live, 0))
            for control in controls:
                m.d.sync += [
                    control.gather.eq(listing),
                    control.compact.eq(tile & ~listing),
                    control.slot.eq(Mux(listing, tile_beat, row_beat)),
                ]

        # Grouped lanes carry their group's address and their pattern's row end. A tile's
        # weight beats read the compact buffers, so their column is not used; only their
        # last lane may end a row.
        for lane in range(cfg.pes):
            copy = lane // LANES_PER_COPY
            # Bit j of the index is in plane j; planes past the beat's are not its own.
            index = Cat(word[planes[f"index_{bit}"][0] + lane] & index_masks[copy][bit]
                        for bit in range(cfg.group_index_width))
            # A tile's list lane: its weight's bits, then its metadata, name its column.
            listed = Cat(raw.weight[lane].as_unsigned(),
                         *(word[planes[f"index_{bit}"][0] + lane]
                           for bit in range(cfg.meta_bits)))[:cfg.column_width]
            lane_live = ~finals[copy] | tail_lanes[lane]
            other_last = pattern.last[lane] & lane_live & grouped[copy]
            if lane == cfg.pes - 1:
                other_last |= tile & row_done
            out = payload[lane]
            with m.If(advance):
                m.d.sync += [
                    # A tile's list lane does no work: its weight field names a column.
                    out.weight.eq(Mux(direct[copy] & ~gapped[copy], 0, raw.weight[lane])),
                    out.column.eq(Mux(direct[copy],
                                      Mux(gapped[copy], gap_column[lane], listed),
                                      pattern.base[lane] | index) | offsets[copy]),
                    out.last.eq(Mux(direct[copy], gapped[copy] & gap_last[lane], other_last)),
                ]
        return m
