"""The unstructured weight stream: kept weights packed into P-lane beats across row ends."""

from dataclasses import dataclass

import numpy as np

from hw.config import BUS_WIDTH
from hw.layouts import field_offsets, lane_layout


__all__ = ["EncodedLayer", "encode_unstructured", "pack_lanes"]


@dataclass(frozen=True, eq=False)
class EncodedLayer:
    """A quantized layer in the form the weight memory holds.

    Attributes
    ----------
    shape : (int, int)
        ``(M, K)`` of the layer.
    rows : ndarray
        The non-empty rows, in the order the hardware finishes them; its output ``j`` is row
        ``rows[j]`` of the layer, and every other row is zero.
    weight, column, last : ndarray (n_beats, P)
        The lanes. Padding lanes at the end of the final beat have weight 0 and ``last`` 0.
    """
    shape: tuple
    rows: np.ndarray
    weight: np.ndarray
    column: np.ndarray
    last: np.ndarray

    @property
    def n_beats(self):
        return len(self.weight)

    @property
    def nnz(self):
        """Kept (non-zero) weights."""
        return int(np.count_nonzero(self.weight))

    def bits_per_kept_weight(self, cfg):
        """Stream bits per kept weight, padding included."""
        return self.n_beats * cfg.pes * lane_layout(cfg).size / max(self.nnz, 1)

    def metadata_share(self, cfg):
        """Share of the stream's bits that are not weight values."""
        return 1 - cfg.data_width / lane_layout(cfg).size

    def words(self, cfg):
        """The beats as bus words, shape ``(n_beats, cfg.words_per_beat)``, ``uint32``."""
        return pack_lanes(cfg, {"weight": self.weight, "column": self.column,
                                "last": self.last})

    def scatter(self, sums):
        """Place the hardware's outputs (one per non-empty row, last axis) into full rows."""
        sums = np.asarray(sums)
        out = np.zeros(sums.shape[:-1] + (self.shape[0],), dtype=sums.dtype)
        out[..., self.rows] = sums
        return out


def pack_lanes(cfg, fields):
    """Pack lane fields of shape (n_beats, P) into bus words with the hardware's lane layout."""
    layout = lane_layout(cfg)
    n_beats = len(next(iter(fields.values())))
    bits = np.zeros((n_beats, cfg.words_per_beat * BUS_WIDTH), dtype=np.uint8)
    lane_base = np.arange(cfg.pes) * layout.size
    for name, (offset, width, _) in field_offsets(layout).items():
        values = np.asarray(fields[name]).astype(np.int64) & ((1 << width) - 1)
        for bit in range(width):
            bits[:, lane_base + offset + bit] = (values >> bit) & 1
    packed = np.packbits(bits, axis=1, bitorder="little")
    return packed.view("<u4").reshape(n_beats, cfg.words_per_beat).astype(np.uint32)


def encode_unstructured(q, cfg):
    """Encode a quantized weight matrix for the unstructured format.

    Every non-zero weight becomes one lane, row after row, columns ascending; a row's final
    lane has ``last`` set; lanes fill beats across row ends, so only the final beat may hold
    padding. Rows without a kept weight are not sent (:attr:`EncodedLayer.rows`).

    Raises ``ValueError`` when the layer does not fit the configuration's memories or a weight
    is outside ``[-quant_max, quant_max]``.
    """
    q = np.asarray(q)
    if q.ndim != 2:
        raise ValueError(f"Weights must be a matrix, not shape {q.shape}")
    if q.dtype.kind not in "iu":
        raise TypeError(f"Weights must be quantized integers, not {q.dtype}")
    m, k = q.shape
    if q.size and np.abs(q).max() > cfg.quant_max:
        raise ValueError(f"Quantized weights must be within +-{cfg.quant_max}, "
                         f"not {int(np.abs(q).max())}")
    if k > cfg.max_k:
        raise ValueError(f"Layer has {k} inputs; this accelerator holds at most {cfg.max_k}")
    row_index, column = np.nonzero(q)
    rows = np.unique(row_index)
    if len(rows) > cfg.max_m:
        raise ValueError(f"Layer has {len(rows)} non-empty rows; "
                         f"this accelerator holds at most {cfg.max_m}")
    nnz = len(column)
    n_beats = -(-nnz // cfg.pes)
    if n_beats > cfg.weight_depth:
        raise ValueError(f"Layer needs {n_beats} beats; "
                         f"this accelerator holds at most {cfg.weight_depth}")
    last = np.ones(nnz, dtype=bool)
    last[:-1] = row_index[1:] != row_index[:-1]

    def lanes(values, dtype):
        padded = np.zeros(n_beats * cfg.pes, dtype=dtype)
        padded[:nnz] = values
        return padded.reshape(n_beats, cfg.pes)

    return EncodedLayer(
        shape=(m, k), rows=rows,
        weight=lanes(q[row_index, column], np.int32),
        column=lanes(column, np.int32),
        last=lanes(last, bool),
    )
