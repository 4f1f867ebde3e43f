"""Symmetric integer quantization, bit-exact to the per-channel rule of common INT8 toolchains."""

import numpy as np


__all__ = ["check_finite", "quantize_weights", "quantize_activations"]


def check_finite(name, array):
    """Refuse NaN or infinite values with a message that says where the first one is."""
    bad = ~np.isfinite(array)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must be finite, but {name}{list(where)} is {array[where]}")


def _as_float(name, array, ndim):
    array = np.asarray(array)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, not {array.dtype}")
    if array.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"not shape {array.shape}")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    check_finite(name, array)
    return array


def _quantize(array, scale, quant_max):
    safe = np.where(scale == 0, 1, scale)
    return np.clip(np.rint(array / safe), -quant_max, quant_max).astype(np.int32)


def quantize_weights(weights, quant_max=127):
    """Quantize a weight matrix per output row.

    ``scale[i] = max|W[i, :]| / quant_max`` and ``q = clip(rint(W / scale), -quant_max,
    quant_max)``, computed in the floating-point type of ``weights`` (``rint`` rounds half to
    even). A row of zeros has scale 0 and quantizes to zeros.

    Returns ``(q, scale)``: ``q`` an ``int32`` matrix, ``scale`` a vector of ``len(W)``.
    """
    weights = _as_float("weights", weights, (2,))
    scale = np.abs(weights).max(axis=1, initial=0) / weights.dtype.type(quant_max)
    return _quantize(weights, scale[:, None], quant_max), scale


def quantize_activations(x, quant_max=127):
    """Quantize an input vector, or each row of a batch, with one scale per vector.

    Returns ``(q, scale)`` with the rule of :func:`quantize_weights`.
    """
    x = _as_float("x", x, (1, 2))
    scale = np.abs(x).max(axis=-1, initial=0, keepdims=True) / x.dtype.type(quant_max)
    q = _quantize(x, scale, quant_max)
    return q, scale[..., 0]
