"""Calibration-aware pruning: choose by activation-aware scores, then correct what is kept.

:func:`reconstruct_prune` prunes a layer to any pattern and adjusts the weights it keeps so
that the layer's output on calibration inputs changes as little as possible, quantizing the
kept weights to INT8 as it goes (the second-order method of SparseGPT and GPTQ: columns are
pruned and quantized left to right, each one's error spread over the columns still to come,
weighted by the inverse Hessian ``(X^T X)^-1`` of the calibration inputs).

:func:`prune_layer` picks a method by name: ``"magnitude"``, ``"activation"`` (scores
``|w| * ||x_col||``) or ``"reconstruct"``.
"""

import numpy as np

from .patterns import activation_scores, parse_pattern, pattern_mask, prune
from .quant import check_finite


__all__ = ["METHODS", "prune_layer", "reconstruct_prune"]


#: Pruning methods by name.
METHODS = ("magnitude", "activation", "reconstruct")

# Columns are processed in blocks; each block's mask is chosen when the block is reached,
# from the weights as corrected so far. A block holds whole groups of the pattern.
_BLOCK = 128


def _block_width(pattern, columns):
    size = pattern.column_align
    return min(columns, size * -(-_BLOCK // size)) if columns else 1


def _inverse_hessian_factor(calibration, columns, damping):
    """Upper Cholesky factor U of the damped inverse Hessian (U^T U = (X^T X + d I)^-1)."""
    hessian = calibration.T @ calibration
    dead = np.diag(hessian) == 0
    hessian[dead, dead] = 1
    hessian += damping * np.mean(np.diag(hessian)) * np.eye(columns)
    lower = np.linalg.cholesky(hessian)
    inverse = np.linalg.inv(lower)
    inverse = inverse.T @ inverse
    return np.linalg.cholesky(inverse).T, dead


def reconstruct_prune(weights, pattern, calibration, *, sparsity=None, quant_max=127,
                      damping=0.01):
    """``weights`` (M, K) pruned to ``pattern``, kept weights corrected and on the INT8 grid.

    ``calibration`` holds inputs the layer sees (B, K). Each row is quantized with the
    symmetric per-row scale of :func:`host.quant.quantize_weights` taken from the unpruned
    row, so the result is what the accelerator will hold. Returns float64 (M, K).
    """
    pattern = parse_pattern(pattern)
    weights = np.array(weights, dtype=np.float64)
    calibration = np.asarray(calibration, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must be a matrix, not shape {weights.shape}")
    if calibration.ndim != 2 or calibration.shape[1] != weights.shape[1]:
        raise ValueError(f"calibration must be (inputs, {weights.shape[1]}), "
                         f"not shape {calibration.shape}")
    check_finite("weights", weights)
    check_finite("calibration", calibration)
    rows, columns = weights.shape
    factor, dead = _inverse_hessian_factor(calibration, columns, damping)
    weights[:, dead] = 0

    scale = np.abs(weights).max(axis=1, initial=0) / quant_max
    safe_scale = np.where(scale == 0, 1, scale)

    def quantized(column):
        return np.clip(np.rint(column / safe_scale), -quant_max, quant_max) * scale

    block = _block_width(pattern, columns)
    for start in range(0, columns, block):
        end = min(start + block, columns)
        part = weights[:, start:end].copy()
        part_factor = factor[start:end, start:end]
        scores = part ** 2 / np.diag(part_factor)[None, :] ** 2
        keep = pattern_mask(scores, pattern, sparsity=sparsity)
        errors = np.zeros_like(part)
        for i in range(end - start):
            column = part[:, i]
            kept = np.where(keep[:, i], quantized(column), 0)
            error = (column - kept) / part_factor[i, i]
            part[:, i:] -= np.outer(error, part_factor[i, i:])
            part[:, i] = kept
            errors[:, i] = error
        weights[:, start:end] = part
        weights[:, end:] -= errors @ factor[start:end, end:]
    return weights


def prune_layer(weights, pattern, method="magnitude", *, sparsity=None, calibration=None):
    """``weights`` pruned to ``pattern`` by ``method`` (one of :data:`METHODS`).

    ``activation`` and ``reconstruct`` need ``calibration`` inputs (B, K).
    """
    if method not in METHODS:
        raise ValueError(f"Pruning method must be one of {', '.join(METHODS)}, "
                         f"not {method!r}")
    if method == "magnitude":
        return prune(weights, pattern, sparsity=sparsity)
    if calibration is None:
        raise ValueError(f"Pruning method {method!r} needs calibration inputs")
    if method == "activation":
        return prune(weights, pattern, sparsity=sparsity,
                     scores=activation_scores(weights, calibration))
    return reconstruct_prune(weights, pattern, calibration, sparsity=sparsity)
