"""Weight streams: a quantized layer packed into P-lane beats in one of the hardware formats.

``UNSTRUCTURED``: every non-zero weight is a lane ``(weight, column, last)``, row after row,
columns ascending; ``last`` marks a row's final lane. Rows with no kept weight are not sent.

``GROUPED``: each row is split into groups of M consecutive columns (the row padded with zeros
to whole groups), and exactly N lanes ``(weight, index)`` are sent per group, indices
ascending; a group with fewer than N non-zero weights is filled with zero weights at its
lowest unused indices. Every row is sent, as the same number of lanes, so the lanes' places
repeat every few beats: the pattern table holds one cycle of their row ends, and each lane's
activation bank the groups it reads in that cycle (:func:`encode_grouped`).
N:M, bank-balanced and dense (1:1, no index) are grouped.

``TILE``: per tile of G rows, a list of the inputs the tile uses, then its rows dense on that
list (:func:`encode_tile`).

In all, lanes fill beats across row ends, and no beat closes more rows than the output stage
writes in a cycle (C = ``output_ports``): an unstructured row that would end a beat's
(C + 1)-th row starts at the next beat instead, the lanes it skips padding with no row end,
and grouped rows are at least P / C lanes. Every row takes a multiple of ``row_granularity``
(two) lanes, the last of them padding with weight 0 where its length is odd.
"""

import math
from dataclasses import dataclass, field

import numpy as np

from hw.config import BUS_WIDTH, ceil_log2
from hw.bus import Reg
from hw.layouts import Format, field_offsets, pattern_layout, raw_beat_layout

from .golden import padded_inputs


__all__ = ["LayerTooBig", "EncodedLayer", "GAP_BEATS_SLACK", "encode", "encode_unstructured",
           "decode_gaps", "row_lanes", "encode_grouped", "encode_tile", "pack_beats",
           "pattern_cycle"]


class LayerTooBig(ValueError):
    """A layer does not fit the accelerator's memories; the host can split it.

    ``resource`` is ``"beats"``, ``"rows"``, ``"inputs"``, ``"pattern"`` (a grouped row spans
    more beats than the pattern table holds) or ``"compact"`` (a tile uses more inputs than
    the compact buffers hold); ``needed`` and ``available`` count it.
    """
    def __init__(self, message, resource, needed, available):
        super().__init__(message)
        self.resource, self.needed, self.available = resource, needed, available


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    """A quantized layer in the form the weight memory holds.

    Attributes
    ----------
    shape : (int, int)
        ``(M, K)`` of the layer.
    format : Format
    rows : ndarray
        The rows the hardware computes, in order; its output ``j`` is row ``rows[j]`` of the
        layer, and every other row is zero.
    weight, column, last : ndarray (n_beats, P)
        The lanes as the decoder (:class:`hw.decode.BeatDecoder`) hands them to the fetch
        unit, beat ``b`` lane ``i`` at ``[b, i]``. ``weight`` and ``last`` are the decoder's
        own, bit for bit. ``column`` is the input the lane's activation comes from: the
        decoder's own ``column`` in unstructured lanes and a tile's list lanes; in a grouped
        lane, the input at the decoder's ``column`` in the activation memories
        (:meth:`address` of it is the decoder's; a row's padding lanes read address 0 and
        have column 0); in a tile's weight lanes, the input that the tile's list stored in
        lane ``i``'s compact buffer at the decoder's ``slot``. Padding lanes and tile list lanes have
        weight 0; lanes past ``n_lanes`` have weight 0, column 0 and no row end.
    packed : ndarray (n_beats, W), uint32
        The beats as bus words; beat ``b`` is carried by its first ``packed_words[b]`` words.
    packed_words : ndarray (n_beats,)
    act_reads : int
        Reads of the activation memory the run makes.
    n_lanes : int
        Lanes that carry the layer; the rest of the final beat is padding.
    activation_length : int
        Activations the run reads: K, rounded up to whole groups.
    settings : dict of Reg to int
        Registers that describe the format to the decoder (``FORMAT`` and its constants).
    pattern : ndarray (PATTERN_BEATS, W), uint32, or None
        The pattern table of a grouped layer as bus words, one entry per row.
    group_width, group_stride : int
        How the activation memories hold the input (:meth:`activations`): input ``g * width
        + j`` at address ``g * stride + j``; a grouped layer's groups of M inputs at a
        multiple of ``2**INDEX_BITS``, 1 and 1 (the inputs in order) for the other formats.
    """
    shape: tuple
    format: Format
    rows: np.ndarray
    weight: np.ndarray
    column: np.ndarray
    last: np.ndarray
    packed: np.ndarray
    packed_words: np.ndarray
    act_reads: int
    n_lanes: int
    activation_length: int
    settings: dict = field(default_factory=dict)
    pattern: np.ndarray = None
    group_width: int = 1
    group_stride: int = 1

    def activations(self, x):
        """The input vector ``x`` as the activation memories hold it: zero-padded to
        :attr:`activation_length`, and for a grouped layer each group of ``group_width``
        inputs at a multiple of ``group_stride``."""
        x = padded_inputs(x, self.activation_length)
        if self.group_stride == self.group_width:
            return x
        groups = x.reshape(-1, self.group_width)
        return np.pad(groups, ((0, 0), (0, self.group_stride - self.group_width))).reshape(-1)

    def address(self, column):
        """Where input ``column`` (an int or an array) is in the activation memories."""
        column = np.asarray(column)
        return column // self.group_width * self.group_stride + column % self.group_width

    @property
    def n_beats(self):
        return len(self.weight)

    @property
    def nnz(self):
        """Lanes with a non-zero weight."""
        return int(np.count_nonzero(self.weight))

    def stream_bits(self, cfg):
        """Bits sent to the weight memory for this layer."""
        return int(self.packed_words.sum()) * BUS_WIDTH

    def table_bits(self, cfg):
        """Bits of the pattern table sent once per layer beside the stream."""
        return 0 if self.pattern is None else self.pattern.size * BUS_WIDTH

    def bits_per_kept_weight(self, cfg):
        """Stream bits per kept (non-zero) weight, padding and filler lanes included (the
        pattern table, sent once per layer, is :meth:`table_bits`)."""
        return self.stream_bits(cfg) / max(self.nnz, 1)

    def metadata_share(self, cfg):
        """Share of the stream's bits that are not the values of kept weights."""
        return 1 - self.nnz * cfg.data_width / max(self.stream_bits(cfg), 1)

    def scatter(self, sums):
        """Place the hardware's outputs (one per computed row, last axis) into full rows;
        rows the hardware computed past the layer's end (tile padding) are dropped."""
        sums = np.asarray(sums)
        out = np.zeros(sums.shape[:-1] + (self.shape[0],), dtype=sums.dtype)
        inside = self.rows < self.shape[0]
        out[..., self.rows[inside]] = sums[..., inside]
        return out


def pack_beats(cfg, layout, fields):
    """Pack lane fields of shape (n_beats, P) into bus words of a struct-of-arrays beat
    layout (:func:`~hw.layouts.raw_beat_layout` and its kin), as few a beat as hold it."""
    n_beats = len(next(iter(fields.values())))
    words = -(-layout.size // BUS_WIDTH)
    bits = np.zeros((n_beats, words * BUS_WIDTH), dtype=np.uint8)
    for name, (offset, width, _, lanes) in field_offsets(layout).items():
        values = np.asarray(fields[name]).astype(np.int64) & ((1 << width) - 1)
        lane_base = offset + np.arange(cfg.pes) * width if lanes else offset
        for bit in range(width):
            bits[:, lane_base + bit] = (values >> bit) & 1
    packed = np.packbits(bits, axis=1, bitorder="little")
    return packed.view("<u4").reshape(n_beats, words).astype(np.uint32)


def _packed(cfg, layout, fields):
    words = pack_beats(cfg, layout, fields)
    return {"packed": words, "packed_words": np.full(len(words), words.shape[1])}


def _check_layer(q, cfg):
    q = np.asarray(q)
    if q.ndim != 2:
        raise ValueError(f"Weights must be a matrix, not shape {q.shape}")
    if q.dtype.kind not in "iu":
        raise TypeError(f"Weights must be quantized integers, not {q.dtype}")
    if q.size and np.abs(q).max() > cfg.quant_max:
        raise ValueError(f"Quantized weights must be within +-{cfg.quant_max}, "
                         f"not {int(np.abs(q).max())}")
    if q.shape[1] > cfg.max_k:
        raise LayerTooBig(f"Layer has {q.shape[1]} inputs; "
                          f"this accelerator holds at most {cfg.max_k}",
                          "inputs", q.shape[1], cfg.max_k)
    return q


def _beats(cfg, n_lanes, rows):
    n_beats = -(-n_lanes // cfg.pes)
    if n_beats > cfg.weight_depth:
        raise LayerTooBig(f"Layer needs {n_beats} beats; "
                          f"this accelerator holds at most {cfg.weight_depth}",
                          "beats", n_beats, cfg.weight_depth)
    if rows > cfg.max_m:
        raise LayerTooBig(f"Layer has {rows} rows to compute; "
                          f"this accelerator holds at most {cfg.max_m}",
                          "rows", rows, cfg.max_m)
    return n_beats


def _lanes(cfg, n_beats, values, dtype):
    padded = np.zeros(n_beats * cfg.pes, dtype=dtype)
    padded[:len(values)] = values
    return padded.reshape(n_beats, cfg.pes)


def _row_starts(cfg, lengths):
    """First lane of each row of ``lengths`` lanes (each at least one), the rows one after
    the other, except that a row whose end would make a beat close more than C rows (C being
    ``cfg.output_ports``, the rows the output stage writes in a cycle) starts at the next
    beat."""
    starts = np.empty(len(lengths), dtype=np.int64)
    position, end_beat, ends = 0, -1, 0
    for row, length in enumerate(lengths):
        if (position + length - 1) // cfg.pes == end_beat and ends == cfg.output_ports:
            position = (end_beat + 1) * cfg.pes
        starts[row] = position
        position += length
        beat = (position - 1) // cfg.pes
        end_beat, ends = beat, (ends + 1 if beat == end_beat else 1)
    return starts


#: The default gap code of an unstructured layer may take this share more beats than the
#: widest, fewest-filler code: a code bit costs every lane of the stream (7 to 12 % of its
#: bytes and of the weight memory it takes), a filler lane only itself.
GAP_BEATS_SLACK = 0.02


def _gap_lanes(targets, target_weights, end, gap_bits):
    """Places and weights of the lanes that visit every target place in order, from place
    0, with the gaps a ``gap_bits`` code carries: a lane with a weight moves on 1 to
    ``2**gap_bits`` places, a lane without (a filler) 0 to ``2**gap_bits - 1``. Filler
    lanes go where a gap is longer; the last lane's gap reaches ``end`` (past the last row,
    so that the last lane ends it)."""
    real_step, filler_step = 1 << gap_bits, (1 << gap_bits) - 1
    if len(targets) == 0 or targets[0] != 0:
        targets = np.concatenate([[0], targets])
        target_weights = np.concatenate([[0], target_weights])
    steps = np.where(target_weights != 0, real_step, filler_step)
    distance = np.diff(np.concatenate([targets, [end]]))
    fillers = np.where(distance > steps, -(-(distance - steps) // filler_step), 0)
    count = len(targets) + int(fillers.sum())
    first = np.arange(len(targets)) + np.concatenate([[0], np.cumsum(fillers)[:-1]])
    places = np.zeros(count, dtype=np.int64)
    weights = np.zeros(count, dtype=np.int64)
    places[first] = targets
    weights[first] = target_weights
    owner = np.repeat(np.arange(len(targets)), fillers)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(fillers) - fillers, fillers)
    filler_lanes = np.repeat(first + 1, fillers) + within
    places[filler_lanes] = targets[owner] + steps[owner] + within * filler_step
    return places, weights


def _gap_places(q, rows, gap_bits, *, alone=False):
    """The places and weights of the unstructured stream's lanes for ``q``'s ``rows`` (the
    rows laid end to end, K places each) with ``gap_bits``-bit gap codes, before padding,
    and the place past the last row; ``alone``: each row starts from its own first place,
    as if it began the stream."""
    k = q.shape[1]
    sent = q[rows]
    row_index, column = np.nonzero(sent)
    targets = row_index * k + column
    weights = sent[row_index, column]
    # A row with no kept weight (sent as an output of a chained layer) is visited at its
    # first place, so that a lane ends it; with ``alone``, every row is.
    counts = np.count_nonzero(sent, axis=1)
    firsts = np.full(len(rows), k)
    firsts[row_index[::-1]] = column[::-1]
    visits = np.flatnonzero((firsts != 0) if alone else (counts == 0))
    if len(visits):
        order = np.argsort(np.concatenate([visits * k, targets]), kind="stable")
        targets = np.concatenate([visits * k, targets])[order]
        weights = np.concatenate([np.zeros(len(visits), weights.dtype), weights])[order]
    end = len(rows) * k
    places, weights = _gap_lanes(targets, weights, end, gap_bits)
    return places, weights, end


def row_lanes(q, rows, gap_bits, *, alone=False):
    """Lanes each of ``q``'s ``rows`` takes in the unstructured stream with ``gap_bits``-bit
    gap codes, before padding to whole pairs: its kept weights and the filler lanes at its
    places (:func:`encode_unstructured`); ``alone``: each row as if it began the stream."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    places, _, _ = _gap_places(q, rows, gap_bits, alone=alone)
    return np.bincount(places // q.shape[1], minlength=len(rows))


def _unstructured_lanes(q, cfg, rows, gap_bits):
    """The unstructured stream of ``q``'s ``rows`` with gap codes of ``gap_bits`` bits:
    each lane's weight, place, row end and code (module docstring, and
    :class:`~hw.layouts.Format`)."""
    k = q.shape[1]
    if len(rows) == 0:
        nothing = np.zeros(0, dtype=np.int64)
        return {"weight": nothing, "column": nothing, "last": nothing.astype(bool),
                "code": nothing, "n_lanes": 0}
    places, weights, end = _gap_places(q, rows, gap_bits)
    row_of = places // k
    lengths = np.bincount(row_of, minlength=len(rows))
    spans = -(-lengths // cfg.row_granularity) * cfg.row_granularity
    starts = _row_starts(cfg, spans)
    ends = starts + spans
    n_lanes = int(ends[-1]) if len(rows) else 0
    # Each row's padding (to whole pairs, and to the next beat where a beat would close
    # too many rows) goes first, as lanes of no weight at the row's first place.
    begins = np.concatenate([[0], ends[:-1]])
    padding = starts - begins + spans - lengths
    lane_rows = np.repeat(np.arange(len(rows)), lengths)
    within = np.arange(len(places)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    slots = begins[lane_rows] + padding[lane_rows] + within
    first_places = np.full(len(rows), 0, dtype=np.int64)
    first_places[lane_rows[within == 0]] = places[within == 0]
    lane_places = np.repeat(first_places, np.diff(np.concatenate([begins, [n_lanes]])))
    lane_weights = np.zeros(n_lanes, dtype=np.int64)
    lane_places[slots] = places
    lane_weights[slots] = weights
    gaps = np.diff(np.concatenate([lane_places, [end]]))
    codes = gaps - (lane_weights != 0)
    last = np.zeros(n_lanes, dtype=bool)
    last[ends - 1] = True
    return {"weight": lane_weights, "column": lane_places % k,
            "last": last, "code": codes, "n_lanes": n_lanes}


def decode_gaps(weight, code, columns, n_lanes):
    """The model of :class:`hw.gaps.GapDecoder`: each lane's column and row end, from the
    lanes' weights and gap codes (arrays of ``(n_beats, P)``, one input's stream) and the
    places of a row (``columns``, K). Lanes past ``n_lanes`` get column 0 and no row end."""
    weight, code = np.asarray(weight), np.asarray(code)
    gaps = code.reshape(-1)[:n_lanes] + (weight.reshape(-1)[:n_lanes] != 0)
    places = np.cumsum(gaps) - gaps
    column = np.zeros(weight.size, dtype=np.int64)
    last = np.zeros(weight.size, dtype=bool)
    column[:n_lanes] = places % columns
    last[:n_lanes] = (places + gaps) // columns > places // columns
    return column.reshape(weight.shape), last.reshape(weight.shape)


def encode_unstructured(q, cfg, *, every_row=False, gap_bits=None):
    """Encode a quantized weight matrix in the unstructured format (module docstring). With
    ``every_row`` an empty row is sent too (a chained layer's every row is an output).
    ``gap_bits`` is the width of the gap code, 1 to ``cfg.gap_bits``; by default the
    narrowest whose beats (cycles) are at most :data:`GAP_BEATS_SLACK` more than the
    fewest any width takes, and fit the weight memory."""
    q = _check_layer(q, cfg)
    if gap_bits is not None and not 1 <= gap_bits <= cfg.gap_bits:
        raise ValueError(f"Gap codes must be 1 to {cfg.gap_bits} bits, not {gap_bits}")
    rows = np.arange(q.shape[0]) if every_row else np.flatnonzero(np.count_nonzero(q, axis=1))
    candidates = [(bits, _unstructured_lanes(q, cfg, rows, bits))
                  for bits in ([gap_bits] if gap_bits else range(1, cfg.gap_bits + 1))]
    beats = [-(-lanes["n_lanes"] // cfg.pes) for _, lanes in candidates]
    fewest = min(beats)
    bits, lanes = next((candidate for candidate, count in zip(candidates, beats)
                        if count <= min(fewest * (1 + GAP_BEATS_SLACK), cfg.weight_depth)),
                       candidates[beats.index(fewest)])
    n_lanes = lanes.pop("n_lanes")
    n_beats = _beats(cfg, n_lanes, len(rows))
    lanes = {name: _lanes(cfg, n_beats, values, values.dtype) for name, values in lanes.items()}
    code = lanes.pop("code")
    lanes["last"] = lanes["last"].astype(bool)
    return EncodedLayer(
        shape=q.shape, format=Format.UNSTRUCTURED, rows=rows,
        weight=lanes["weight"].astype(np.int32), column=lanes["column"].astype(np.int32),
        last=lanes["last"],
        **_packed(cfg, raw_beat_layout(cfg, bits),
                  {"weight": lanes["weight"],
                   **{f"index_{bit}": code >> bit & 1 for bit in range(bits)}}),
        act_reads=int(np.count_nonzero(q[rows])), n_lanes=n_lanes,
        activation_length=q.shape[1],
        settings={Reg.FORMAT: Format.UNSTRUCTURED.value, Reg.INDEX_BITS: bits,
                  Reg.N_COLUMNS: q.shape[1]})


def encode_grouped(q, cfg, kept, width):
    """Encode in the grouped format: ``kept`` lanes for every ``width`` columns of each row.

    Raises ``ValueError`` if a group holds more than ``kept`` non-zero weights.
    """
    q = _check_layer(q, cfg)
    m, k = q.shape
    if not 1 <= kept <= width <= cfg.max_group_width:
        raise ValueError(f"Groups must keep 1 to {width} of {width} columns, and be at most "
                         f"{cfg.max_group_width} wide; not {kept} of {width}")
    groups = -(-k // width)
    padded_k = groups * width
    index_bits = ceil_log2(width)
    stride = 1 << index_bits
    if groups * stride > cfg.act_capacity:
        raise LayerTooBig(f"Layer laid out in groups of {width} at every {stride} takes "
                          f"{groups * stride} activations; this accelerator holds at most "
                          f"{cfg.act_capacity}", "inputs", groups * stride, cfg.act_capacity)
    padded = np.zeros((m, padded_k), dtype=np.int64)
    padded[:, :k] = q
    grouped = padded.reshape(m, groups, width)
    counts = np.count_nonzero(grouped, axis=2)
    if (counts > kept).any():
        row, group = np.argwhere(counts > kept)[0]
        raise ValueError(f"Row {row} has {counts[row, group]} non-zero weights in columns "
                         f"{group * width} to {group * width + width - 1}; "
                         f"the format keeps {kept} of every {width}")
    # Non-zero weights first, then the lowest unused indices; each group's lanes ascending.
    order = np.argsort((grouped == 0) * width + np.arange(width), axis=2, kind="stable")
    index = np.sort(order[:, :, :kept], axis=2)
    weight = np.take_along_axis(grouped, index, axis=2)
    column = index + (np.arange(groups) * width)[None, :, None]

    # Each row is `row_lanes` lanes, the last `row_lanes - groups * kept` of them zero
    # padding where the places' cycle would not fit the pattern table.
    row_lanes, period = pattern_cycle(cfg, groups * kept)
    lanes = {"weight": weight, "column": column, "index": index}
    lanes = {name: np.pad(values.reshape(m, -1), ((0, 0), (0, row_lanes - groups * kept)))
             for name, values in lanes.items()}
    last = np.zeros((m, row_lanes), dtype=bool)
    last[:, -1] = True
    n_lanes = m * row_lanes
    n_beats = _beats(cfg, n_lanes, m)
    lanes = {name: _lanes(cfg, n_beats, values.reshape(-1), np.int32)
             for name, values in lanes.items()}

    # Phase f of the cycle: lane i holds place (f P + i) mod row_lanes of a row, and reads
    # the group of that place at its address, g << index_bits (a padding lane, group 0).
    place = (np.arange(period)[:, None] * cfg.pes + np.arange(cfg.pes)) % row_lanes
    group = np.where(place < groups * kept, place // kept, 0)
    pattern = pack_beats(cfg, pattern_layout(cfg), {"last": place == row_lanes - 1,
                                                    "base": group * stride})
    settings = {Reg.FORMAT: Format.GROUPED.value, Reg.INDEX_BITS: index_bits,
                Reg.PATTERN_BEATS: period}
    return EncodedLayer(
        shape=q.shape, format=Format.GROUPED, rows=np.arange(m),
        weight=lanes["weight"], column=lanes["column"],
        last=_lanes(cfg, n_beats, last.reshape(-1), bool),
        **_packed(cfg, raw_beat_layout(cfg, index_bits),
                  {"weight": lanes["weight"],
                   **{f"index_{bit}": lanes["index"] >> bit & 1
                      for bit in range(index_bits)}}),
        act_reads=n_lanes, n_lanes=n_lanes,
        activation_length=padded_k, settings=settings, pattern=pattern, group_width=width,
        group_stride=stride)


def pattern_cycle(cfg, row_lanes):
    """``(lanes, beats)``: the lanes a grouped row of ``row_lanes`` lanes takes, and the beats
    after which the lanes' places repeat.

    Rows of ``lanes`` lanes repeat every ``lanes / gcd(lanes, P)`` beats; where that is
    more than the pattern table holds, the row is padded with the fewest zero lanes that
    make it fit (a whole number of beats always does). Rows are also padded to at least
    P / C lanes (C = ``output_ports``), so that no beat closes more rows than the output
    stage writes in a cycle, and to a multiple of ``row_granularity`` lanes.
    """
    if row_lanes > cfg.pattern_depth * cfg.pes:
        raise LayerTooBig(f"Rows of {row_lanes} lanes span more beats than the "
                          f"{cfg.pattern_depth} of this accelerator's pattern table",
                          "pattern", -(-row_lanes // cfg.pes), cfg.pattern_depth)
    granularity = cfg.row_granularity
    lanes = max(row_lanes, -(-cfg.pes // cfg.output_ports))
    lanes = -(-lanes // granularity) * granularity
    while lanes // math.gcd(lanes, cfg.pes) > cfg.pattern_depth:
        lanes += granularity
    return lanes, lanes // math.gcd(lanes, cfg.pes)


def encode_tile(q, cfg, rows_per_tile):
    """Encode in the tile format: tiles of ``rows_per_tile`` rows, each with one list of the
    inputs any of its rows uses.

    A tile is sent as its list (``c`` columns rounded up to whole beats, filled with column 0
    and weight 0), then its rows, dense on the list, each exactly ``c / P`` beats. The layer
    is padded with zero rows to whole tiles; the hardware computes those rows too.
    """
    q = _check_layer(q, cfg)
    m, k = q.shape
    group = rows_per_tile
    tiles = -(-m // group)
    padded = np.zeros((tiles * group, k), dtype=np.int64)
    padded[:m] = q
    used = (padded.reshape(tiles, group, k) != 0).any(axis=1)
    listed = max(int(used.sum(axis=1).max(initial=0)), 1)
    # At least two beats: the fetch unit stores a list beat's activations as it leaves, a
    # cycle after the beat behind it has read the compact buffers, so the weights that read
    # a slot must come two beats after it.
    row_lanes = max(2, -(-listed // cfg.pes)) * cfg.pes
    if row_lanes > cfg.compact_buffer_depth * cfg.pes:
        raise LayerTooBig(f"Tiles use {listed} inputs; this accelerator keeps at most "
                          f"{cfg.compact_buffer_depth * cfg.pes} per tile",
                          "compact", row_lanes, cfg.compact_buffer_depth * cfg.pes)
    list_beats = row_lanes // cfg.pes
    columns = np.zeros((tiles, row_lanes), dtype=np.int64)
    in_list = np.zeros((tiles, row_lanes), dtype=bool)
    for tile in range(tiles):
        kept = np.flatnonzero(used[tile])
        columns[tile, :len(kept)] = kept
        in_list[tile, :len(kept)] = True
    weights = np.where(in_list[:, None, :],
                       np.take_along_axis(padded.reshape(tiles, group, k),
                                          columns[:, None, :].repeat(group, axis=1), axis=2), 0)
    zeros = np.zeros((tiles, list_beats, cfg.pes), dtype=np.int64)
    list_lanes = {"weight": zeros, "column": columns.reshape(tiles, list_beats, cfg.pes),
                  "last": zeros}
    row_last = np.zeros(row_lanes, dtype=bool)
    row_last[-1] = True
    weight_lanes = {
        "weight": weights.reshape(tiles, group * list_beats, cfg.pes),
        "column": np.broadcast_to(columns[:, None, :], weights.shape).reshape(
            tiles, group * list_beats, cfg.pes),
        "last": np.broadcast_to(row_last, weights.shape).reshape(
            tiles, group * list_beats, cfg.pes),
    }
    lanes = {name: np.concatenate([list_lanes[name], weight_lanes[name]], axis=1).reshape(
             -1, cfg.pes) for name in ("weight", "column", "last")}
    n_beats = _beats(cfg, len(lanes["weight"]) * cfg.pes, tiles * group)

    # A list lane names its column with its weight field's bits, then its metadata's.
    listed = columns.reshape(-1, cfg.pes)
    list_words = pack_beats(cfg, raw_beat_layout(cfg, cfg.meta_bits), {
        "weight": listed & ((1 << cfg.data_width) - 1),
        **{f"index_{bit}": listed >> (cfg.data_width + bit) & 1
           for bit in range(cfg.meta_bits)}})
    weight_words = pack_beats(cfg, raw_beat_layout(cfg, 0),
                              {"weight": weight_lanes["weight"].reshape(-1, cfg.pes)})
    packed = np.zeros((tiles, list_beats * (group + 1), list_words.shape[1]), dtype=np.uint32)
    packed[:, :list_beats] = list_words.reshape(tiles, list_beats, -1)
    packed[:, list_beats:, :weight_words.shape[1]] = weight_words.reshape(
        tiles, group * list_beats, -1)
    packed_words = np.tile(np.repeat([list_words.shape[1], weight_words.shape[1]],
                                     [list_beats, group * list_beats]), tiles)

    settings = {
        Reg.FORMAT: Format.TILE.value, Reg.INDEX_BITS: 0,
        Reg.TILE_LIST_BEATS: list_beats, Reg.TILE_BEATS: list_beats * (group + 1),
    }
    return EncodedLayer(
        shape=q.shape, format=Format.TILE, rows=np.arange(tiles * group),
        weight=lanes["weight"].astype(np.int32), column=lanes["column"].astype(np.int32),
        last=lanes["last"].astype(bool),
        packed=packed.reshape(n_beats, -1), packed_words=packed_words,
        act_reads=tiles * row_lanes, n_lanes=n_beats * cfg.pes, activation_length=k,
        settings=settings)


def encode(q, cfg, pattern):
    """Encode a quantized layer already pruned to ``pattern`` (a name or a
    :class:`host.patterns.Pattern`) in that pattern's format (:meth:`Pattern.encode`)."""
    from .patterns import parse_pattern     # host.patterns builds on this module's encoders
    return parse_pattern(pattern).encode(q, cfg)
