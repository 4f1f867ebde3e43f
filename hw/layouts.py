"""Payload layouts, register map and bus map shared by the hardware and the host.

Every layout is a function of an :class:`~hw.config.AccelConfig`; the host packs and unpacks
with the offsets these layouts report, never with hand-written shifts.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2


__all__ = [
    "Format", "lane_layout", "beat_layout", "fetch_layout", "grouped_lane_layout", "grouped_beat_layout",
    "beat_bits", "LaneField", "operand_layout", "product_layout", "sum_layout",
    "Region", "Reg", "Status", "BUS_READ_LATENCY", "BusSignature", "bus_addr_width",
    "region_addr_width",
    "field_offsets",
]


class Format(enum.Enum, shape=2):
    """How the weight memory encodes a layer; chosen per run by the ``FORMAT`` register.

    ``UNSTRUCTURED``: each lane is a :func:`lane_layout`: weight, column and row end.

    ``GROUPED``: each row is split into groups of ``GROUP_WIDTH`` (M) consecutive columns, of
    which exactly ``GROUP_KEPT`` (N) are sent; each lane is a :func:`grouped_lane_layout`: the
    weight and its index within the group, ``INDEX_BITS`` wide. N:M (M <= 16),
    bank-balanced (M the bank width) and dense (1:1 with no index bits) are all grouped. The
    decoder derives each lane's column and row end from its position in the stream.

    ``TILE``: tile-wise. Each tile of G rows starts with ``TILE_LIST_BEATS`` list beats of
    unstructured lanes whose ``column`` names the tile's kept inputs; the fetch unit reads each
    of them once and keeps it in lane ``i``'s compact buffer. The tile's rows follow as dense
    grouped beats (1:1, no index) of exactly that many beats per row, lane ``i`` of every
    beat reading the compact buffer ``i``: one activation read serves all G rows.
    ``TILE_BEATS`` counts a tile's list and weight beats.
    """
    UNSTRUCTURED = 0
    GROUPED      = 1
    TILE         = 2


def lane_layout(cfg):
    """One lane of the unstructured weight stream, and of every decoded stream.

    ``weight`` is a kept weight (zero only in padding lanes, which do no work); ``column`` is
    its input index; ``last`` marks the final kept weight of its output row. Rows follow each
    other in order, packed across beats with no idle lane; empty rows are not sent.
    """
    return data.StructLayout({
        "weight": signed(cfg.data_width),
        "column": unsigned(cfg.column_width),
        "last":   unsigned(1),
    })


def beat_layout(cfg):
    """One beat of the weight stream: P lanes, lane 0 first (least significant)."""
    return data.ArrayLayout(lane_layout(cfg), cfg.pes)


def fetch_layout(cfg):
    """A decoded beat as the fetch unit takes it: the lanes, and where their activations come
    from. ``gather`` (a tile's list beat): read ``x[column]`` and keep it in the compact
    buffers at ``slot``. ``compact`` (a tile's weight beat): read the compact buffers at
    ``slot`` instead of ``x``."""
    return data.StructLayout({
        "lanes":   beat_layout(cfg),
        "gather":  unsigned(1),
        "compact": unsigned(1),
        "slot":    unsigned(max(1, ceil_log2(cfg.compact_depth))),
    })


def grouped_lane_layout(cfg, index_bits):
    """One lane of a grouped stream: a weight and its index within its group."""
    return data.StructLayout({
        "weight": signed(cfg.data_width),
        "index":  unsigned(index_bits),
    })


def grouped_beat_layout(cfg, index_bits):
    """P grouped lanes of ``index_bits``-bit indices, lane 0 least significant."""
    return data.ArrayLayout(grouped_lane_layout(cfg, index_bits), cfg.pes)


def beat_bits(cfg):
    """Bits of the widest beat of any format: the weight memory's useful width."""
    return max([beat_layout(cfg).size] +
               [grouped_beat_layout(cfg, bits).size
                for bits in range(cfg.group_index_width + 1)])


class LaneField(enum.Enum, shape=2):
    """The per-lane start values of the grouped decoder, written to :attr:`Region.LANES` at
    ``field << ceil(log2 P) | lane`` before a grouped run: the lane's slot within its group,
    its group within the row, and that group's first column."""
    SLOT   = 0
    GROUP  = 1
    COLUMN = 2


def operand_layout(cfg):
    """P lanes of a weight with its gathered activation, out of the fetch unit."""
    return data.ArrayLayout(data.StructLayout({
        "weight":     signed(cfg.data_width),
        "activation": signed(cfg.data_width),
        "last":       unsigned(1),
    }), cfg.pes)


def product_layout(cfg):
    """P lanes of a product, out of the PE array."""
    return data.ArrayLayout(data.StructLayout({
        "product": signed(cfg.product_width),
        "last":    unsigned(1),
    }), cfg.pes)


def sum_layout(cfg):
    """P lanes out of the reduction tree.

    ``sum`` is the sum of the lane's own product and those of the lanes before it in the same
    run (a run ends at a lane whose ``last`` is set, or at the end of the beat);
    ``closed_before`` counts the lanes before this one whose ``last`` is set.
    """
    return data.ArrayLayout(data.StructLayout({
        "sum":           signed(cfg.sum_width),
        "last":          unsigned(1),
        "closed_before": unsigned(cfg.lane_levels + 1),
    }), cfg.pes)


def field_offsets(layout):
    """``{name: (offset, width, signed)}`` of a :class:`~amaranth.lib.data.StructLayout`."""
    return {name: (field.offset, field.width, field.shape.signed)
            for name, field in layout}


class Region(enum.Enum, shape=3):
    """The top three bits of a bus address choose what it reaches."""
    REGS        = 0
    WEIGHTS     = 1
    ACTIVATIONS = 2
    OUTPUTS     = 3
    LANES       = 4


class Reg(enum.Enum, shape=8):
    """Registers, one bus word each, addressed by their value within :attr:`Region.REGS`.

    ``ID``, ``VERSION`` and ``CONFIG_HASH`` are read-only identity. Writing 1 to ``CONTROL``
    starts a run. ``N_BEATS``, ``N_ROWS`` and ``N_LANES`` describe the layer in the weight
    memory (lanes past ``N_LANES`` in the final beat are padding and do nothing);
    ``FORMAT`` (a :class:`Format`) says how it is encoded. The grouped decoder's constants,
    for N kept of every M columns, R = N * G lanes per row and s = P mod R:
    ``GROUP_KEPT`` = N, ``GROUP_WIDTH`` = M, ``ROW_GROUPS`` = G, ``ROW_COLUMNS`` = G * M,
    ``STEP_SLOT`` = s mod N, ``STEP_GROUPS`` = s div N, ``STEP_COLUMNS`` = (s div N) * M and
    ``INDEX_BITS``. Weights are streamed: writing ``WEIGHT_POINTER`` points the stream at the
    start of that beat, and every write to :attr:`Region.WEIGHTS` stores the next word of the
    beat, ``WORDS_PER_BEAT`` words making a beat. The counters are cleared by a start and
    read after done:

    - ``CYCLES``: cycles from start to done;
    - ``BEATS``: beats fed to the PE array;
    - ``BUSY_LANES``: lane-cycles that carried a kept (non-zero) weight;
    - ``NONZERO_PRODUCTS``: of those, the ones whose activation was non-zero too;
    - ``STALLS``: cycles of a run in which no beat entered the PE array (pipeline fill and
      drain; back-pressure would add to it);
    - ``ACT_READS``: activations read from the activation memory for the run's lanes (in the
      tile format, only by list beats).
    """
    ID               = 0
    VERSION          = 1
    CONFIG_HASH      = 2
    CONTROL          = 3
    STATUS           = 4
    N_BEATS          = 5
    N_ROWS           = 6
    FORMAT           = 7
    N_LANES          = 13
    ACT_READS        = 14
    CYCLES           = 8
    BEATS            = 9
    BUSY_LANES       = 10
    NONZERO_PRODUCTS = 11
    STALLS           = 12
    GROUP_KEPT       = 16
    GROUP_WIDTH      = 17
    ROW_GROUPS       = 18
    ROW_COLUMNS      = 19
    STEP_SLOT        = 20
    STEP_GROUPS      = 21
    STEP_COLUMNS     = 22
    INDEX_BITS       = 23
    TILE_LIST_BEATS  = 24
    TILE_BEATS       = 25
    WEIGHT_POINTER   = 26
    WORDS_PER_BEAT   = 27


class Status(enum.Flag, shape=3):
    """Bits of the ``STATUS`` register."""
    BUSY      = 1
    DONE      = 2
    ROW_ERROR = 4  # the run closed a different number of rows than ``N_ROWS``


#: Value of the ``ID`` register: "SpAx".
ACCEL_ID = 0x53704178


def region_addr_width(cfg, region):
    """Address bits used inside one bus region."""
    if region == Region.REGS:
        return 8
    if region == Region.WEIGHTS:
        return 8
    if region == Region.ACTIVATIONS:
        return ceil_log2(cfg.act_words)
    if region == Region.OUTPUTS:
        return cfg.row_width
    if region == Region.LANES:
        return 2 + cfg.lane_levels
    raise ValueError(f"Unknown region {region!r}")


def bus_addr_width(cfg):
    """Width of a bus word address: the widest region plus the region bits."""
    return max(region_addr_width(cfg, region) for region in Region) + Region.as_shape().width


#: Cycles from a read request on the bus to its data.
BUS_READ_LATENCY = 2


class BusSignature(wiring.Signature):
    """A word bus from the host into the accelerator.

    A write stores ``w_data`` at ``addr`` in the cycle ``w_en`` is high. A read with ``r_en``
    high presents its data on ``r_data`` :data:`BUS_READ_LATENCY` (2) cycles later, from a
    register (block RAM outputs are slow). Weight and activation
    memories are write-only; writes to them during a run are ignored.

    Addresses: ``Region`` in the top bits; below them, a register index, the weight stream
    (any address: see ``Reg.WEIGHT_POINTER``), an activation word (``acts_per_word``
    activations, lowest column in the least significant bits), an output row or a lane's start
    value (:class:`LaneField`).
    """
    def __init__(self, cfg):
        super().__init__({
            "addr":   Out(bus_addr_width(cfg)),
            "w_data": Out(BUS_WIDTH),
            "w_en":   Out(1),
            "r_en":   Out(1),
            "r_data": In(BUS_WIDTH),
        })
