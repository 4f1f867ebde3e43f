"""Sparsity patterns by name, one class per family, and the pruning that produces each.

Names are written the way users write them, and :func:`parse_pattern` turns a name into its
family's class:

- ``"dense"`` (:class:`Dense`): every weight kept.
- ``"unstructured"`` (:class:`Unstructured`): any weights, the ``sparsity`` share of the
  smallest pruned per row.
- ``"N:M"`` (:class:`NM`; ``"2:4"``, ``"1:4"``, ``"4:8"``, any ``1 <= N < M <= 16``): N
  weights kept in every group of M consecutive inputs of a row.
- ``"bank:W"`` (:class:`BankBalanced`; ``"bank:64"``): each row is split into banks of W
  inputs and every bank keeps the same count, ``W`` less the ``sparsity`` share rounded half
  up.
- ``"tile:G"`` (:class:`TileWise`; ``"tile:8"``): each tile of G output rows keeps one list
  of input columns, the ``sparsity`` share of the columns with the smallest summed score
  pruned, and is dense on them.

Every pruning takes plain magnitude ``|w|`` or any score of the weights' shape, such as
:func:`activation_scores`. Of equal scores, the weight (or column) with the lower index is
kept.
"""

import re
from dataclasses import dataclass

import numpy as np

from hw.layouts import Format

from .encode import encode_grouped, encode_tile, encode_unstructured
from .prune import _keep_largest, prune_unstructured, pruned_count
from .quant import check_finite


__all__ = ["Pattern", "Dense", "Unstructured", "NM", "BankBalanced", "TileWise",
           "parse_pattern", "pattern_mask", "prune", "activation_scores"]


class Pattern:
    """A sparsity pattern family: everything that differs between the families.

    Subclasses are frozen dataclasses whose fields are the family's parameters; instances
    are equal when their family and parameters are.

    Attributes
    ----------
    name : str
        The pattern's name, which :func:`parse_pattern` maps back to an equal pattern.
    needs_sparsity : bool
        Whether pruning to it takes a ``sparsity`` (otherwise the pattern fixes its own).
    prunes : bool
        Whether pruning to it may remove weights: ``False`` for :class:`Dense` only.
    format : hw.layouts.Format
        The format of the stream its :meth:`encode` makes.
    column_align, row_align : int
        A layer split into tiles (:mod:`host.tiling`) is cut at multiples of these: the
        width of a group of columns (M of N:M, W of bank:W), the rows of a tile (G of
        tile:G); 1 otherwise.
    """
    needs_sparsity = False
    prunes = True
    format = None
    column_align = 1
    row_align = 1

    @property
    def name(self):
        raise NotImplementedError

    def mask(self, scores, sparsity):
        """Which weights the pattern keeps, given their scores (float64, M x K) and the
        ``sparsity`` (``None`` where the pattern takes none): a boolean matrix of their
        shape. Inputs are checked by :func:`pattern_mask`."""
        raise NotImplementedError

    def encode(self, q, cfg):
        """A quantized layer already pruned to the pattern, in the pattern's format
        (:mod:`host.encode`); raises :class:`host.encode.LayerTooBig` if it does not fit
        ``cfg``'s memories."""
        raise NotImplementedError

    def __str__(self):
        return self.name


def _check_size(pattern, size):
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"Pattern size must be an integer, not {size!r}")
    if size < 1:
        raise ValueError(f"Pattern {pattern.name!r} needs a size of at least 1")


class _Grouped(Pattern):
    """A family sent in the grouped format: a fixed count of lanes for every group of
    ``group_width`` consecutive columns of a row."""
    format = Format.GROUPED

    @property
    def group_width(self):
        raise NotImplementedError

    @property
    def column_align(self):
        return self.group_width

    def lanes_per_group(self, q):
        """The lanes a group takes in each row of ``q`` alone (an int array, one per row, each
        at least 1); a layer of several rows takes their maximum (:meth:`layer_lanes`)."""
        raise NotImplementedError

    def layer_lanes(self, q):
        """The lanes every group of the layer ``q`` takes."""
        return int(self.lanes_per_group(q).max(initial=1))

    def encode(self, q, cfg):
        q = np.asarray(q)
        return encode_grouped(q, cfg, self.layer_lanes(q), self.group_width)


@dataclass(frozen=True)
class Dense(_Grouped):
    """Every weight kept; the grouped format with groups of one column and no index."""
    prunes = False
    group_width = 1

    @property
    def name(self):
        return "dense"

    def mask(self, scores, sparsity):
        return np.ones(scores.shape, dtype=bool)

    def lanes_per_group(self, q):
        return np.ones(len(q), dtype=np.int64)

    def layer_lanes(self, q):
        return 1


@dataclass(frozen=True)
class Unstructured(Pattern):
    """Any weights: the ``sparsity`` share of the lowest scores pruned per row."""
    needs_sparsity = True
    format = Format.UNSTRUCTURED

    @property
    def name(self):
        return "unstructured"

    def mask(self, scores, sparsity):
        return prune_unstructured(np.ones(scores.shape), sparsity, scores=scores) != 0

    def encode(self, q, cfg):
        return encode_unstructured(q, cfg)


def _grouped_mask(scores, kept, width):
    """Keep the ``kept`` best scores of every ``width`` consecutive columns of each row."""
    rows, columns = scores.shape
    groups = -(-columns // width)
    padded = np.full((rows, groups * width), -np.inf)
    padded[:, :columns] = scores
    mask = _keep_largest(padded.reshape(rows, groups, width), min(kept, width))
    return mask.reshape(rows, groups * width)[:, :columns]


@dataclass(frozen=True)
class NM(_Grouped):
    """N of every M consecutive inputs of a row kept (``1 <= N < M <= 16``)."""
    n: int
    m: int

    def __post_init__(self):
        for value in (self.n, self.m):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"N and M of an N:M pattern must be integers, not {value!r}")
        if not 1 <= self.n < self.m <= 16:
            raise ValueError(f"N:M pattern needs 1 <= N < M <= 16, not {self.name!r}")

    @property
    def name(self):
        return f"{self.n}:{self.m}"

    @property
    def group_width(self):
        return self.m

    def mask(self, scores, sparsity):
        return _grouped_mask(scores, self.n, self.m)

    def lanes_per_group(self, q):
        return np.full(len(q), self.n, dtype=np.int64)

    def layer_lanes(self, q):
        return self.n


def _most_per_group(q, width):
    """The most non-zero weights of any group of ``width`` columns, per row of ``q``."""
    q = np.asarray(q)
    padded = np.pad(q, ((0, 0), (0, -q.shape[1] % width)))
    return np.count_nonzero(padded.reshape(len(q), -1, width), axis=2).max(axis=1, initial=0)


@dataclass(frozen=True)
class BankBalanced(_Grouped):
    """Bank-balanced: every bank of ``width`` inputs of a row keeps the same count, ``width``
    less the ``sparsity`` share rounded half up. Sent grouped, each bank as many lanes as
    the fullest bank of the layer has non-zero weights."""
    width: int
    needs_sparsity = True

    def __post_init__(self):
        _check_size(self, self.width)

    @property
    def name(self):
        return f"bank:{self.width}"

    @property
    def group_width(self):
        return self.width

    def mask(self, scores, sparsity):
        return _grouped_mask(scores, self.width - pruned_count(self.width, sparsity),
                             self.width)

    def lanes_per_group(self, q):
        return np.maximum(_most_per_group(q, self.width), 1)


@dataclass(frozen=True)
class TileWise(Pattern):
    """Tile-wise: per tile of ``rows`` output rows, one list of input columns (the
    ``sparsity`` share of the columns with the lowest summed score pruned), dense on it."""
    rows: int
    needs_sparsity = True
    format = Format.TILE

    def __post_init__(self):
        _check_size(self, self.rows)

    @property
    def name(self):
        return f"tile:{self.rows}"

    @property
    def row_align(self):
        return self.rows

    def mask(self, scores, sparsity):
        rows, columns = scores.shape
        kept = columns - pruned_count(columns, sparsity)
        mask = np.zeros(scores.shape, dtype=bool)
        for top in range(0, rows, self.rows):
            mask[top:top + self.rows] = _keep_largest(scores[top:top + self.rows].sum(axis=0),
                                                      kept)
        return mask

    def encode(self, q, cfg):
        return encode_tile(q, cfg, self.rows)


def parse_pattern(name):
    """The :class:`Pattern` a name stands for (a :class:`Pattern` is returned as it is);
    ``ValueError`` for a name that is none, ``TypeError`` for what is not a name."""
    if isinstance(name, Pattern):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Pattern must be a name such as '2:4', not {name!r}")
    if name == "dense":
        return Dense()
    if name == "unstructured":
        return Unstructured()
    if match := re.fullmatch(r"(\d+):(\d+)", name):
        return NM(int(match[1]), int(match[2]))
    if match := re.fullmatch(r"bank:(\d+)", name):
        return BankBalanced(int(match[1]))
    if match := re.fullmatch(r"tile:(\d+)", name):
        return TileWise(int(match[1]))
    raise ValueError(f"Unknown sparsity pattern {name!r}; expected 'dense', 'unstructured', "
                     f"'N:M' (such as '2:4'), 'bank:W' or 'tile:G'")


def activation_scores(weights, calibration):
    """Activation-aware scores ``|w| * ||x_col||`` over calibration inputs (B, K)."""
    calibration = np.asarray(calibration, dtype=np.float64)
    check_finite("calibration", calibration)
    norms = np.sqrt((calibration.reshape(-1, calibration.shape[-1]) ** 2).sum(axis=0))
    return np.abs(weights) * norms


def pattern_mask(scores, pattern, *, sparsity=None):
    """Which weights a pattern keeps, given their scores: a boolean matrix of their shape.

    Higher scores are kept; of equal scores, the lower index. ``sparsity`` as in
    :func:`prune`.
    """
    pattern = parse_pattern(pattern)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"weights must be a matrix, not shape {scores.shape}")
    if pattern.needs_sparsity and sparsity is None:
        raise ValueError(f"Pattern {pattern.name!r} needs a sparsity")
    if not pattern.needs_sparsity and sparsity is not None:
        raise ValueError(f"Pattern {pattern.name!r} fixes its own sparsity; "
                         f"do not pass sparsity={sparsity!r}")
    return pattern.mask(scores, sparsity)


def prune(weights, pattern, *, sparsity=None, scores=None):
    """Prune a weight matrix to a pattern (a name or a :class:`Pattern`); returns a copy.

    ``sparsity`` is required by ``unstructured``, ``bank:W`` and ``tile:G`` and refused by
    the others, whose pattern fixes it.
    """
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"weights must be a matrix, not shape {weights.shape}")
    check_finite("weights", weights)
    scores = np.abs(weights) if scores is None else np.asarray(scores, dtype=np.float64)
    if scores.shape != weights.shape:
        raise ValueError(f"scores must have the shape of weights {weights.shape}, "
                         f"not {scores.shape}")
    return np.where(pattern_mask(scores, pattern, sparsity=sparsity), weights, 0)
