"""Tiling: a quantized layer split into tiles that fit an accelerator's memories.

:func:`tile_layer` cuts a layer (M, K) into pieces of columns and each piece into runs of
rows, and encodes every tile in its pattern's format (:meth:`host.patterns.Pattern.encode`).
The sizes come from the configuration's capacities and the encoders' own arithmetic for the
format the pattern is sent in, never from trial encodings:

- every format: a piece has at most ``max_k`` columns and is cut at multiples of the
  pattern's ``column_align`` (whole groups); a tile computes at most ``max_m`` rows, and its
  beats fit the weight memory (``weight_depth``).
- ``UNSTRUCTURED``: a row takes its non-zero weights' lanes and the filler lanes at its
  places (:func:`host.encode.row_lanes`, for the gap code that fits the most rows) rounded
  up to ``row_granularity``, placed as the encoder places them
  (:func:`host.encode._row_starts`, which moves a row to the next beat rather than close
  more than ``output_ports`` rows in one); empty rows are not sent and cost nothing.
- ``GROUPED``: every row takes the lanes :func:`host.encode.pattern_cycle` makes of its
  groups (each group as many lanes as a group of the tile's rows needs at most, the
  ``lanes_per_group`` of :class:`~host.patterns.NM` and its kin); they must span no more
  beats than the pattern table holds, the cycle of their phases must fit each lane's
  activation bank, and the piece padded to whole groups must fit the activation memory.
- ``TILE``: tiles of G rows (the pattern's ``row_align``), each a list of the inputs it uses
  rounded up to whole beats, two at least, which must fit the compact buffers, then G rows
  of the tile's longest list.

Columns first: each piece is the widest (from its first column on, ``max_k`` at most) in
which every row of the layer alone, or every tile of G rows, fits. Whatever runs of rows are
then taken, the capacities that depend on the columns (the pattern table, the activation
memories, the compact buffers, a row within the weight memory) hold, since a run needs what its
largest row or G-row tile needs. Then each tile of a piece is the most rows, from its first
row on, that fit: the next larger tile (one row more, or G) would not. Both are exact
(``tests/test_tiling.py`` checks them against the encoders); a wider piece is not always
fewer tiles (a grouped row's padding and phases depend on its width), so the pieces are the
widest that fit, not a search over all cuts. Every tile is encoded at last; one that does
not fit after all raises :class:`~host.encode.LayerTooBig`.
"""

from dataclasses import dataclass

import numpy as np

from hw.config import ceil_log2
from hw.layouts import Format

from .encode import EncodedLayer, LayerTooBig, _row_starts, pattern_cycle, row_lanes
from .patterns import parse_pattern


__all__ = ["Tile", "tile_layer"]


@dataclass(frozen=True, eq=False)
class Tile:
    """One tile of a layer: rows ``row0`` to ``row0 + rows - 1`` of the columns from ``col0``
    on, encoded as ``layer`` (whose ``shape`` is ``(rows, columns)``)."""
    row0: int
    col0: int
    rows: int
    layer: EncodedLayer

    @property
    def columns(self):
        return self.layer.shape[1]


#: What each resource of :class:`~host.encode.LayerTooBig` counts.
_UNITS = {"beats": "beats of the weight memory", "rows": "rows of the output memory",
          "inputs": "activations", "pattern": "entries of the pattern table",
          "compact": "inputs in the compact buffers"}


def tile_layer(q, cfg, pattern):
    """Split a quantized layer ``q`` (M, K), already pruned to ``pattern`` (a name or a
    :class:`~host.patterns.Pattern`), into tiles that fit ``cfg``'s memories; yields each
    :class:`Tile`, encoded, pieces of columns in order and the rows of each in order.

    Every (row, column) of the layer is in exactly one tile. Raises
    :class:`~host.encode.LayerTooBig` if not even one row (one tile of G rows) of the
    narrowest piece of columns fits; the encoders' ``ValueError`` and ``TypeError`` for a
    layer that is not quantized or not pruned to the pattern.
    """
    pattern = parse_pattern(pattern)
    q = np.asarray(q)
    if q.ndim != 2:
        raise ValueError(f"Weights must be a matrix, not shape {q.shape}")
    m, k = q.shape
    sizes = _SIZES[pattern.format](cfg, pattern, q)
    col0 = 0
    while col0 < k:
        width = _widest(cfg, pattern, sizes, col0, k - col0)
        piece = sizes.piece(col0, width)
        row0 = 0
        while row0 < m:
            rows = sizes.rows(piece, row0)
            yield Tile(row0, col0, rows, _encoded(q, cfg, pattern, row0, col0, rows, width))
            row0 += rows
        col0 += width


def _widest(cfg, pattern, sizes, col0, remaining):
    """The most columns from ``col0`` on (``remaining`` of them left) of which every row (or
    G-row tile) alone fits."""
    align = pattern.column_align
    widths = [remaining] if remaining <= cfg.max_k else []
    widths += [groups * align for groups in range(min(remaining - 1, cfg.max_k) // align, 0, -1)]
    for width in widths:
        if sizes.overflow(col0, width) is None:
            return width
    narrowest = min(remaining, align)
    resource, needed, available = sizes.overflow(col0, narrowest) or (
        "inputs", narrowest, cfg.max_k)
    unit = f"a tile of {pattern.row_align} rows" if pattern.row_align > 1 else "a row"
    raise LayerTooBig(f"Pattern {pattern.name!r} does not fit this accelerator: {unit} of "
                      f"columns {col0} to {col0 + narrowest - 1} needs {needed} "
                      f"{_UNITS[resource]}, and it has {available}",
                      resource, needed, available)


def _encoded(q, cfg, pattern, row0, col0, rows, width):
    try:
        return pattern.encode(q[row0:row0 + rows, col0:col0 + width], cfg)
    except LayerTooBig as error:
        raise LayerTooBig(f"Tile of rows {row0} to {row0 + rows - 1} and columns {col0} to "
                          f"{col0 + width - 1} does not fit: {error}",
                          error.resource, error.needed, error.available) from error


def _beats(cfg, lanes):
    return -(-lanes // cfg.pes)


class _UnstructuredSizes:
    """Tile sizes in the unstructured format (the module docstring)."""
    def __init__(self, cfg, pattern, q):
        self.cfg = cfg
        self.q = q

    def _spans(self, lengths):
        granularity = self.cfg.row_granularity
        return -(-lengths // granularity) * granularity

    def piece(self, col0, width):
        """The piece's columns of every row."""
        return self.q[:, col0:col0 + width]

    def overflow(self, col0, width):
        """``(resource, needed, available)`` of the first memory that one row of the piece
        alone overflows, or ``None``."""
        piece = self.piece(col0, width)
        sent = np.flatnonzero(np.count_nonzero(piece, axis=1))
        lanes = np.min([row_lanes(piece, sent, bits, alone=True)
                        for bits in range(1, self.cfg.gap_bits + 1)], axis=0)
        beats = _beats(self.cfg, int(self._spans(lanes).max(initial=0)))
        return ("beats", beats, self.cfg.weight_depth) if beats > self.cfg.weight_depth else None

    def rows(self, piece, row0):
        """The most rows from ``row0`` on that fit, with the gap code that fits most: every
        row up to the first non-empty one that does not."""
        cfg = self.cfg
        sent = np.flatnonzero(np.count_nonzero(piece[row0:], axis=1))
        most = min(len(sent), cfg.max_m, cfg.weight_depth * cfg.pes // cfg.row_granularity)
        fit = 0
        for bits in range(1, cfg.gap_bits + 1):
            spans = self._spans(row_lanes(piece, row0 + sent[:most], bits))
            ends = _row_starts(cfg, spans) + spans
            fit = max(fit, int(np.count_nonzero(_beats(cfg, ends) <= cfg.weight_depth)))
        return int(sent[fit]) if fit < len(sent) else len(piece) - row0


class _GroupedSizes:
    """Tile sizes in the grouped format (the module docstring)."""
    def __init__(self, cfg, pattern, q):
        self.cfg, self.pattern, self.q = cfg, pattern, q
        self.stride = 1 << ceil_log2(pattern.group_width)
        self._cycles = {}

    def _cycle(self, row_lanes):
        if row_lanes not in self._cycles:
            self._cycles[row_lanes] = pattern_cycle(self.cfg, row_lanes)
        return self._cycles[row_lanes]

    def _groups(self, width):
        return -(-width // self.pattern.group_width)

    def piece(self, col0, width):
        """The piece's groups, and the lanes a group takes in each row of it."""
        return (self._groups(width),
                self.pattern.lanes_per_group(self.q[:, col0:col0 + width]))

    def overflow(self, col0, width):
        cfg = self.cfg
        groups, lanes_per_group = self.piece(col0, width)
        laid_out = groups * self.stride
        if laid_out > cfg.act_capacity:
            return "inputs", laid_out, cfg.act_capacity
        for kept in np.unique(lanes_per_group):
            row_lanes = groups * int(kept)
            if row_lanes > cfg.pattern_depth * cfg.pes:
                return "pattern", _beats(cfg, row_lanes), cfg.pattern_depth
            lanes, _ = self._cycle(row_lanes)
            if _beats(cfg, lanes) > cfg.weight_depth:
                return "beats", _beats(cfg, lanes), cfg.weight_depth
        return None

    def rows(self, piece, row0):
        """The most rows from ``row0`` on that fit: ``r`` rows of ``L`` lanes, ``L`` made of
        the most lanes a group of the ``r`` rows takes, fit if ``r L <= weight_depth P``."""
        cfg = self.cfg
        groups, lanes_per_group = piece
        kept = np.maximum.accumulate(lanes_per_group[row0:row0 + cfg.max_m])
        lanes = np.array([self._cycle(groups * int(value))[0] for value in kept])
        rows = np.arange(1, len(kept) + 1)
        return int(np.count_nonzero(rows * lanes <= cfg.weight_depth * cfg.pes))


class _TileSizes:
    """Tile sizes in the tile format (the module docstring)."""
    def __init__(self, cfg, pattern, q):
        self.cfg, self.group = cfg, pattern.row_align
        m, k = q.shape
        tiles = -(-m // self.group)
        used = np.zeros((tiles * self.group, k), dtype=bool)
        used[:m] = q != 0
        self._used = np.zeros((tiles, k + 1), dtype=np.int64)
        np.cumsum(used.reshape(tiles, self.group, k).any(axis=1), axis=1, out=self._used[:, 1:])
        self.m = m

    def piece(self, col0, width):
        """The beats of each G-row tile's list in the piece (two at least)."""
        listed = np.maximum(self._used[:, col0 + width] - self._used[:, col0], 1)
        return np.maximum(2, _beats(self.cfg, listed))

    def overflow(self, col0, width):
        cfg, group = self.cfg, self.group
        if group > cfg.max_m:
            return "rows", group, cfg.max_m
        list_beats = int(self.piece(col0, width).max(initial=2))
        if list_beats > cfg.compact_buffer_depth:
            return "compact", list_beats * cfg.pes, cfg.compact_buffer_depth * cfg.pes
        if list_beats * (group + 1) > cfg.weight_depth:
            return "beats", list_beats * (group + 1), cfg.weight_depth
        return None

    def rows(self, list_beats, row0):
        """The most rows from ``row0`` (a multiple of G) on that fit: ``t`` tiles of G rows,
        each its list and G rows of the longest list of the ``t``."""
        cfg, group = self.cfg, self.group
        first = row0 // group
        longest = np.maximum.accumulate(list_beats[first:first + cfg.max_m // group])
        tiles = np.arange(1, len(longest) + 1)
        fit = int(np.count_nonzero(tiles * longest * (group + 1) <= cfg.weight_depth))
        return min(fit * group, self.m - row0)


#: How tiles are sized in each format.
_SIZES = {Format.UNSTRUCTURED: _UnstructuredSizes, Format.GROUPED: _GroupedSizes,
          Format.TILE: _TileSizes}
