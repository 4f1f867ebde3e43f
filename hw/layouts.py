"""Payload layouts and formats shared by the hardware and the host.

Every layout is a function of an :class:`~hw.config.AccelConfig`; the host packs and unpacks
with the offsets these layouts report, never with hand-written shifts.
"""

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data, enum

from .config import ceil_log2
from .replicas import lane_copies


__all__ = [
    "Format", "lane_layout", "beat_layout", "fetch_control_layout", "fetch_layout",
    "raw_beat_layout", "pattern_layout", "source_layout", "gapped_layout",
    "beat_bits", "operand_layout", "run_count_shape", "product_layout", "sum_layout",
    "field_offsets",
    "MULTIPLIER_WIDTH", "SHIFT_WIDTH", "layer_layout", "layer_words", "TABLE_WORDS",
]

#: Bus words of one activation table: 256 INT8 entries, four to a word.
TABLE_WORDS = 64


class Format(enum.Enum, shape=2):
    """How the weight memory encodes a layer; chosen per run by the ``FORMAT`` register.

    Every raw beat is the same struct of arrays (:func:`raw_beat_layout`): the P lanes'
    weights, then ``INDEX_BITS`` bit planes of metadata, so a weight sits at the same place
    in every format; only the metadata's meaning differs.

    ``UNSTRUCTURED``: each lane is a weight and a gap code ``v``. The rows the layer sends
    are laid end to end, K (``N_COLUMNS``) places each, and a lane sits at a place: the
    first lane of each input's stream at place 0, and each next lane ``v + 1`` places
    further when this lane's weight is not zero, ``v`` places when it is (a filler, or
    padding, which does no work). A lane's column is its place within its row, and a lane
    ends its row when the next lane's place is in a later row (:class:`hw.gaps.GapDecoder`).
    Row ends cost no bits; a gap longer than the code's takes filler lanes.

    ``GROUPED``: each row is split into groups of M consecutive columns, of which exactly N
    are sent; each lane is a weight and its index within the group, ``INDEX_BITS`` wide.
    N:M (M <= 16), bank-balanced (M the bank width) and dense (1:1 with no index) are
    all grouped. Which group a lane reads and whether it ends a row depend only on the lane's
    place in the stream, which repeats every ``PATTERN_BEATS`` beats (the beat's phase): the
    host writes one :func:`pattern_layout` entry per phase into the pattern table, with each
    lane's row end and the address of the group it reads. The activation memories hold the
    layer's input with group ``g`` at ``g << INDEX_BITS`` (the inputs themselves when M is
    a power of two), so a lane reads its own memory at ``base | index``.

    ``TILE``: tile-wise. Each tile of G rows starts with ``TILE_LIST_BEATS`` (at least two)
    list beats whose lanes name the tile's kept inputs (:func:`raw_beat_layout`); the fetch unit
    reads each of them once and keeps it in lane ``i``'s compact buffer. The tile's rows
    follow as dense beats (1:1, no index) of exactly that many beats per row, lane ``i`` of
    every beat reading the compact buffer ``i``: one activation read serves all G rows.
    ``TILE_BEATS`` counts a tile's list and weight beats.
    """
    UNSTRUCTURED = 0
    GROUPED      = 1
    TILE         = 2


def lane_layout(cfg):
    """One decoded lane: what every format becomes before the fetch unit.

    ``weight`` is a kept weight (zero only in padding lanes, which do no work); ``column`` is
    its input index; ``last`` marks the final lane of its output row. Rows follow each other
    in order, packed across beats with no idle lane.
    """
    return data.StructLayout({
        "weight": signed(cfg.data_width),
        "column": unsigned(cfg.act_address_width),
        "last":   unsigned(1),
    })


def beat_layout(cfg):
    """One decoded beat: P lanes, lane 0 first (least significant)."""
    return data.ArrayLayout(lane_layout(cfg), cfg.pes)


def fetch_control_layout(cfg):
    """Where a decoded beat's activations come from. ``gather`` (a tile's list beat): read
    ``x[column]`` and keep it in the compact buffers at ``slot``. ``compact`` (a tile's
    weight beat): read the compact buffers at ``slot`` instead of ``x``. Neither: read
    ``x[column]``."""
    return data.StructLayout({
        "gather":  unsigned(1),
        "compact": unsigned(1),
        "slot":    unsigned(max(1, ceil_log2(cfg.compact_buffer_depth))),
    })


def fetch_layout(cfg):
    """A decoded beat as the fetch unit takes it: the lanes, and where their activations come
    from (:func:`fetch_control_layout`), in ``controls``: one equal copy for each group of
    :data:`~hw.replicas.LANES_PER_COPY` lanes, copy ``i // LANES_PER_COPY`` for lane ``i``,
    so that no register drives every lane."""
    return data.StructLayout({
        "lanes":    beat_layout(cfg),
        "controls": data.ArrayLayout(fetch_control_layout(cfg), lane_copies(cfg.pes)),
    })


def _lanes(shape, cfg):
    return data.ArrayLayout(shape, cfg.pes)


def raw_beat_layout(cfg, meta_bits):
    """A beat of the weight stream: P weights, then the P lanes' metadata of ``meta_bits``
    bits as bit planes: field ``index_j`` holds bit ``j`` of every lane's metadata, so a
    lane's metadata bits sit at the same places whatever ``meta_bits`` is. The metadata is
    a grouped lane's index or an unstructured lane's gap code. A tile's list lane names a
    column with its weight field (read as ``data_width`` unsigned bits) as the column's low
    bits and its metadata as the high bits. The weight memory holds ``cfg.meta_bits``
    planes."""
    return data.StructLayout({
        "weight": _lanes(signed(cfg.data_width), cfg),
        **{f"index_{bit}": _lanes(unsigned(1), cfg) for bit in range(meta_bits)},
    })


def pattern_layout(cfg):
    """An entry of the pattern table, for one phase of a grouped layer's cycle: whether each
    lane ends its row, and the address of the group each lane reads (the lane reads
    ``base | index``)."""
    return data.StructLayout({
        "last": _lanes(unsigned(1), cfg),
        "base": _lanes(unsigned(cfg.column_width), cfg),
    })


def source_layout(cfg):
    """A raw beat as it leaves the weight memory, with the pattern table's entry for its
    phase, whether it is the first of its input (``first``) and where its input is in the
    activation memories (``offsets``: one equal copy for each group of
    :data:`~hw.replicas.LANES_PER_COPY` lanes)."""
    return data.StructLayout({
        "beat":    unsigned(cfg.beat_width),
        "first":   unsigned(1),
        "pattern": pattern_layout(cfg),
        "offsets": data.ArrayLayout(unsigned(cfg.act_address_width), lane_copies(cfg.pes)),
    })


def gapped_layout(cfg):
    """A raw beat with its unstructured lanes' places decoded (:class:`hw.gaps.GapDecoder`):
    the beat as the source gave it, each lane's ``column`` and whether it ends its row
    (``last``); both unspecified for the other formats."""
    return data.StructLayout({
        "source": source_layout(cfg),
        "column": _lanes(unsigned(cfg.column_width), cfg),
        "last":   _lanes(unsigned(1), cfg),
    })


def beat_bits(cfg):
    """Bits of a beat in the weight memory: its useful width."""
    return raw_beat_layout(cfg, cfg.meta_bits).size


def operand_layout(cfg):
    """P lanes of a weight with its gathered activation, out of the fetch unit."""
    return data.ArrayLayout(data.StructLayout({
        "weight":     signed(cfg.data_width),
        "activation": signed(cfg.data_width),
        "last":       unsigned(1),
    }), cfg.pes)


def run_count_shape(cfg):
    """A count of a beat's row ends, saturated at C + 1 = ``output_ports + 1``."""
    return unsigned(ceil_log2(cfg.output_ports + 2))


def product_layout(cfg):
    """P lanes of a product, out of the PE array, with the row ends counted for the reduction
    tree: ``runs[g]``, the row ends before group ``g`` of ``cfg.row_granularity`` lanes (the
    run it belongs to), and ``closes``, the beat's row ends; both saturated at C + 1."""
    return data.StructLayout({
        "lanes":  data.ArrayLayout(data.StructLayout({"product": signed(cfg.product_width)}),
                                   cfg.pes),
        "runs":   data.ArrayLayout(run_count_shape(cfg), cfg.run_leaves),
        "closes": run_count_shape(cfg),
    })


def sum_layout(cfg):
    """A beat out of the reduction tree: the sums of its runs and its count of row ends.

    ``sums[r]`` is the sum of the products of run ``r``: the lanes with ``r`` row ends
    before them in the beat. Runs ``0 .. closes - 1`` end rows; run ``closes`` is the one the
    beat leaves open. ``closes`` saturates at ``output_ports + 1``.
    """
    return data.StructLayout({
        "sums":   data.ArrayLayout(signed(cfg.sum_width), cfg.output_ports + 1),
        "closes": run_count_shape(cfg),
    })


def field_offsets(layout):
    """``{name: (offset, width, signed, lanes)}`` of a
    :class:`~amaranth.lib.data.StructLayout`; for a field that is an array of lanes (``lanes``
    true), the width and sign are those of one lane, lane ``i`` at ``offset + i * width``."""
    offsets = {}
    for name, field in layout:
        shape = field.shape
        lanes = isinstance(shape, data.ArrayLayout)
        if lanes:
            shape = shape.elem_shape
        shape = Shape.cast(shape)
        offsets[name] = (field.offset, shape.width, shape.signed, lanes)
    return offsets


#: Bits of a chained layer's per-row requantization multiplier (unsigned), shared by the
#: output stage (:mod:`hw.output`) and the host's integer model (:mod:`host.network`).
MULTIPLIER_WIDTH = 16

#: Bits of a row's requantization shift: 0 to ``2**SHIFT_WIDTH - 1``.
SHIFT_WIDTH = 6


def layer_layout(cfg):
    """An entry of the layer table: one layer of a resident network, as
    :class:`hw.chain.NetworkSequencer` runs it for every input of a batch.

    ``beat_start``, ``n_beats`` (per input), ``n_lanes`` (per input), ``format`` and its
    constants (``pattern_start``, ``pattern_beats``, ``index_bits``, ``columns``,
    ``tile_list_beats``, ``tile_beats``) describe its weights, as the ``layer`` registers do for one run;
    ``rows`` its output rows per input (a multiple of ``output_ports``); ``in_base`` and
    ``in_stride`` where its inputs are in the activation memories; ``out_base`` and
    ``out_stride`` where its INT8 outputs go, in the activation memories or with
    ``to_results`` in the result memory (activations, four to a bus word; a multiple of
    four); ``param_base`` its first row of the output stage's parameters (a multiple of
    ``output_ports``) and ``table`` its activation table. With ``keep_sums`` the layer's
    outputs are not written: its INT32 sums stay in the accumulator's banks (row ``j`` of
    input ``b`` at row ``b * rows + j`` of the output region, while the banks hold them), for
    a consumer on the host.
    """
    beats = ceil_log2(cfg.weight_depth + 1)
    entries = ceil_log2(cfg.pattern_depth + 1)
    address = max(cfg.act_address_width, ceil_log2(cfg.result_words * cfg.acts_per_word))
    return data.StructLayout({
        "beat_start":      unsigned(beats),
        "n_beats":         unsigned(beats),
        "n_lanes":         unsigned(ceil_log2(cfg.weight_depth * cfg.pes + 1)),
        "format":          Format,
        "pattern_start":   unsigned(entries),
        "pattern_beats":   unsigned(entries),
        "index_bits":      unsigned(ceil_log2(cfg.meta_bits + 1)),
        "columns":         unsigned(ceil_log2(cfg.max_k + 1)),
        "tile_list_beats": unsigned(max(1, ceil_log2(cfg.compact_buffer_depth + 1))),
        "tile_beats":      unsigned(beats),
        "rows":            unsigned(cfg.row_width + 1),
        "in_base":         unsigned(cfg.act_address_width),
        "in_stride":       unsigned(cfg.act_address_width),
        "out_base":        unsigned(address),
        "out_stride":      unsigned(address),
        "to_results":      unsigned(1),
        "keep_sums":       unsigned(1),
        "param_base":      unsigned(ceil_log2(cfg.param_rows + 1)),
        "table":           unsigned(max(1, ceil_log2(cfg.max_layers))),
    })


def layer_words(cfg):
    """Bus words of an entry of the layer table (:func:`layer_layout`)."""
    return -(-layer_layout(cfg).size // 32)
