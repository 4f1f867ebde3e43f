"""Unstructured magnitude pruning."""

import numpy as np

from .quant import check_finite


__all__ = ["prune_unstructured", "pruned_count"]


def pruned_count(count, sparsity):
    """Weights to prune out of ``count``: ``sparsity * count`` rounded half up."""
    if not 0 <= sparsity <= 1:
        raise ValueError(f"Sparsity must be from 0 to 1, not {sparsity!r}")
    return int(np.floor(sparsity * count + 0.5))


def _keep_largest(scores, keep):
    """Mask of the ``keep`` largest scores along the last axis.

    Ties are broken by position: of equal scores, the one with the lower index is kept.
    """
    order = np.argsort(-scores, axis=-1, kind="stable")
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order[..., :keep], True, axis=-1)
    return mask


def prune_unstructured(weights, sparsity, *, scope="row", scores=None):
    """Zero the smallest weights of a matrix.

    Parameters
    ----------
    weights : array (M, K)
    sparsity : float
        Share of weights to zero, from 0 to 1; the count is rounded half up
        (:func:`pruned_count`), per row or for the whole layer.
    scope : ``"row"`` or ``"layer"``
        Whether every row loses the same share, or the smallest weights of the whole layer go.
    scores : array (M, K), optional
        Importance of each weight; by default its magnitude ``|w|``. Pass
        ``|w| * ||x_col||`` for activation-aware pruning.

    Weights of equal score are kept in row-major order: the earlier one survives. Weights that
    are already zero score lowest with magnitude scores. Returns a pruned copy.
    """
    weights = np.asarray(weights)
    if weights.ndim != 2:
        raise ValueError(f"weights must be a matrix, not shape {weights.shape}")
    check_finite("weights", weights)
    scores = np.abs(weights) if scores is None else np.asarray(scores)
    if scores.shape != weights.shape:
        raise ValueError(f"scores must have the shape of weights {weights.shape}, "
                         f"not {scores.shape}")
    if scope == "row":
        keep = weights.shape[1] - pruned_count(weights.shape[1], sparsity)
        mask = _keep_largest(scores, keep)
    elif scope == "layer":
        keep = weights.size - pruned_count(weights.size, sparsity)
        mask = _keep_largest(scores.reshape(-1), keep).reshape(weights.shape)
    else:
        raise ValueError(f"Pruning scope must be 'row' or 'layer', not {scope!r}")
    return np.where(mask, weights, 0)
