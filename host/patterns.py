"""Sparsity patterns by name, and the pruning that produces each of them.

Names are written the way users write them:

- ``"dense"``: every weight kept.
- ``"unstructured"``: any weights, the ``sparsity`` share of the smallest pruned per row.
- ``"N:M"`` (``"2:4"``, ``"1:4"``, ``"4:8"``, any ``1 <= N < M <= 16``): N weights kept in
  every group of M consecutive inputs of a row.
- ``"bank:W"`` (``"bank:64"``): bank-balanced; each row is split into banks of W inputs and
  every bank keeps the same count, ``W`` less the ``sparsity`` share rounded half up.
- ``"tile:G"`` (``"tile:8"``): tile-wise; each tile of G output rows keeps one list of input
  columns, the ``sparsity`` share of the columns with the smallest summed score pruned, and
  is dense on them.

Every pruning takes plain magnitude ``|w|`` or any score of the weights' shape, such as
:func:`activation_scores`. Of equal scores, the weight (or column) with the lower index is
kept.
"""

import re
from dataclasses import dataclass

import numpy as np

from .prune import _keep_largest, prune_unstructured, pruned_count
from .quant import check_finite


__all__ = ["Pattern", "parse_pattern", "pattern_mask", "prune", "activation_scores"]


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern name: ``kind`` and its parameters."""
    kind: str                 # "dense", "unstructured", "nm", "bank" or "tile"
    n: int = 0                # N of N:M
    m: int = 0                # M of N:M, W of bank:W, G of tile:G

    @property
    def name(self):
        return {"dense": "dense", "unstructured": "unstructured", "nm": f"{self.n}:{self.m}",
                "bank": f"bank:{self.m}", "tile": f"tile:{self.m}"}[self.kind]

    @property
    def needs_sparsity(self):
        return self.kind in ("unstructured", "bank", "tile")

    def __str__(self):
        return self.name


def parse_pattern(name):
    """The :class:`Pattern` a name stands for; ``ValueError`` for a name that is none."""
    if isinstance(name, Pattern):
        return name
    if not isinstance(name, str):
        raise TypeError(f"Pattern must be a name such as '2:4', not {name!r}")
    if name in ("dense", "unstructured"):
        return Pattern(name)
    if match := re.fullmatch(r"(\d+):(\d+)", name):
        n, m = int(match[1]), int(match[2])
        if not 1 <= n < m <= 16:
            raise ValueError(f"N:M pattern needs 1 <= N < M <= 16, not {name!r}")
        return Pattern("nm", n, m)
    if match := re.fullmatch(r"(bank|tile):(\d+)", name):
        size = int(match[2])
        if size < 1:
            raise ValueError(f"Pattern {name!r} needs a size of at least 1")
        return Pattern(match[1], 0, size)
    raise ValueError(f"Unknown sparsity pattern {name!r}; expected 'dense', 'unstructured', "
                     f"'N:M' (such as '2:4'), 'bank:W' or 'tile:G'")


def activation_scores(weights, calibration):
    """Activation-aware scores ``|w| * ||x_col||`` over calibration inputs (B, K)."""
    calibration = np.asarray(calibration, dtype=np.float64)
    check_finite("calibration", calibration)
    norms = np.sqrt((calibration.reshape(-1, calibration.shape[-1]) ** 2).sum(axis=0))
    return np.abs(weights) * norms


def _grouped_mask(scores, kept, width):
    """Keep the ``kept`` best scores of every ``width`` consecutive columns of each row."""
    rows, columns = scores.shape
    groups = -(-columns // width)
    padded = np.full((rows, groups * width), -np.inf)
    padded[:, :columns] = scores
    mask = _keep_largest(padded.reshape(rows, groups, width), min(kept, width))
    return mask.reshape(rows, groups * width)[:, :columns]


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
    if pattern.kind == "dense":
        return np.ones(scores.shape, dtype=bool)
    if pattern.kind == "unstructured":
        return prune_unstructured(np.ones(scores.shape), sparsity, scores=scores) != 0
    if pattern.kind == "nm":
        return _grouped_mask(scores, pattern.n, pattern.m)
    if pattern.kind == "bank":
        kept = pattern.m - pruned_count(pattern.m, sparsity)
        return _grouped_mask(scores, kept, pattern.m)
    # tile: one column list per tile of G rows, chosen by the columns' summed scores.
    rows, columns = scores.shape
    kept = columns - pruned_count(columns, sparsity)
    mask = np.zeros(scores.shape, dtype=bool)
    for top in range(0, rows, pattern.m):
        mask[top:top + pattern.m] = _keep_largest(scores[top:top + pattern.m].sum(axis=0), kept)
    return mask


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
