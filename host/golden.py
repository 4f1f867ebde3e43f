"""The golden model: what the accelerator computes, bit for bit."""

import numpy as np


__all__ = ["wrap", "golden_matvec", "stream_matvec", "padded_inputs", "run_counts",
           "reduction_model"]


def wrap(values, width):
    """Two's complement wrap of integers to ``width`` bits, as the accumulators do."""
    values = np.asarray(values, dtype=np.int64)
    half = 1 << (width - 1)
    return ((values + half) & ((1 << width) - 1)) - half


def golden_matvec(q, x, acc_width=32):
    """``q @ x`` on integers, wrapped to the accumulator width.

    ``x`` is one input vector (K,) or a batch (B, K); the result is (M,) or (B, M), int64.
    While every partial sum stays below 2**53 (always for INT8 and INT16 layers of up to
    2**22 inputs) the product runs in float64, where such integers are exact, and so in BLAS.
    """
    q = np.asarray(q, dtype=np.int64)
    x = np.asarray(x, dtype=np.int64)
    bound = int(np.abs(q).max(initial=0)) * int(np.abs(x).max(initial=0)) * q.shape[-1]
    if bound < 1 << 53:
        product = (x.astype(np.float64) @ q.T.astype(np.float64)).astype(np.int64)
    else:
        product = x @ q.T
    return wrap(product, acc_width)


def padded_inputs(x, length):
    """Inputs (last axis) zero-padded to ``length``: a grouped layer reads whole groups."""
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros(x.shape[:-1] + (max(length, x.shape[-1]),), dtype=np.int64)
    out[..., :x.shape[-1]] = x
    return out


def stream_matvec(layer, x, acc_width=32):
    """Run an :class:`~host.encode.EncodedLayer` the way the hardware reads it.

    Decodes the lanes, sums each run into its row (rows close at ``last``) and returns one sum
    per non-empty row, in the hardware's output order. An independent path to
    :func:`golden_matvec` through the encoder.
    """
    weight = layer.weight.reshape(-1).astype(np.int64)
    column = layer.column.reshape(-1)
    last = layer.last.reshape(-1)
    row = np.concatenate([[0], np.cumsum(last[:-1])]) if len(last) else last
    products = weight * padded_inputs(x, layer.activation_length)[..., column]
    sums = np.zeros(x.shape[:-1] + (len(layer.rows),), dtype=np.int64)
    keep = row < len(layer.rows)
    np.add.at(sums.T, row[keep], products[..., keep].T)
    return wrap(sums, acc_width)


def run_counts(last, group, runs):
    """What :class:`hw.pe.PEArray` counts for the reduction tree from beats of row ends
    (..., P): each group of ``group`` lanes' run (the row ends before it) and each beat's row
    ends, both saturated at ``runs`` = C + 1. A group's row end is its last lane's."""
    ends = np.asarray(last, dtype=np.int64)[..., group - 1::group]
    before = np.cumsum(ends, axis=-1) - ends
    return np.minimum(before, runs), np.minimum(ends.sum(axis=-1), runs)


def reduction_model(products, last, runs):
    """What :class:`hw.reduce.ReductionTree` computes for beats of lanes (..., P), with
    ``runs`` = C + 1 trees.

    Returns ``(sums, closes)``: ``sums[..., r]`` the sum of the products of the lanes with
    ``r`` row ends before them, and each beat's count of row ends, saturated at ``runs``.
    """
    products = np.asarray(products, dtype=np.int64)
    last = np.asarray(last, dtype=bool)
    run = np.cumsum(last, axis=-1) - last
    sums = np.stack([np.where(run == r, products, 0).sum(axis=-1) for r in range(runs)],
                    axis=-1)
    return sums, np.minimum(last.sum(axis=-1), runs)
