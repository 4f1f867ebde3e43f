"""Payload layouts, register map and bus map shared by the hardware and the host.

Every layout is a function of an :class:`~hw.config.AccelConfig`; the host packs and unpacks
with the offsets these layouts report, never with hand-written shifts.
"""

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .replicas import lane_copies


__all__ = [
    "Format", "lane_layout", "beat_layout", "fetch_control_layout", "fetch_layout",
    "unstructured_beat_layout", "grouped_beat_layout", "pattern_layout", "source_layout",
    "beat_bits", "operand_layout", "product_layout", "sum_layout", "field_offsets",
    "Region", "Reg", "Status", "BUS_READ_LATENCY", "BUS_WRITE_LATENCY", "BusSignature",
    "bus_addr_width",
    "region_addr_width", "pattern_word_bits", "pattern_address", "bank_word_bits",
    "bank_address",
]


class Format(enum.Enum, shape=2):
    """How the weight memory encodes a layer; chosen per run by the ``FORMAT`` register.

    Every raw beat is a struct of arrays (:func:`unstructured_beat_layout`,
    :func:`grouped_beat_layout`): the P lanes' weights come first, so a weight sits at the
    same place in every format, and the lanes' metadata follows.

    ``UNSTRUCTURED``: each lane is a weight, its column and its row end.

    ``GROUPED``: each row is split into groups of M consecutive columns, of which exactly N
    are sent; each lane is a weight and its index within the group, ``INDEX_BITS`` wide.
    N:M (M <= 16), bank-balanced (M the bank width) and dense (1:1 with no index bits) are
    all grouped. Which group a lane reads and whether it ends a row depend only on the lane's
    place in the stream, which repeats every ``PATTERN_BEATS`` beats (the beat's phase): the
    host writes one :func:`pattern_layout` entry of row ends per phase into the pattern
    table, with the phase's base ``phase << INDEX_BITS``, and the activation memories are
    banked: lane ``i``'s memory holds, at that base, the group lane ``i`` reads in that phase
    (:attr:`Region.BANKS`), so a lane reads its own memory at ``base | index`` and no two
    lanes ever read the same memory.

    ``TILE``: tile-wise. Each tile of G rows starts with ``TILE_LIST_BEATS`` (at least two)
    list beats of unstructured lanes of weight 0 whose ``column`` names the tile's kept
    inputs; the fetch unit reads each of them once and keeps it in lane ``i``'s compact
    buffer. The tile's rows follow as dense grouped beats (1:1, no index) of exactly that
    many beats per row, lane ``i`` of every beat reading the compact buffer ``i``: one
    activation read serves all G rows.
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
        "column": unsigned(cfg.column_width),
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


def unstructured_beat_layout(cfg):
    """A beat of the unstructured stream: P weights, P columns, P row ends.

    Rows follow each other in order, columns ascending, packed across beats with no idle
    lane; empty rows are not sent.
    """
    return data.StructLayout({
        "weight": _lanes(signed(cfg.data_width), cfg),
        "column": _lanes(unsigned(cfg.column_width), cfg),
        "last":   _lanes(unsigned(1), cfg),
    })


def grouped_beat_layout(cfg, index_bits):
    """A beat of a grouped stream: P weights, then the P indices of ``index_bits`` bits as
    bit planes: field ``index_j`` holds bit ``j`` of every lane's index, so a lane's index
    bits sit at the same places whatever ``index_bits`` is."""
    return data.StructLayout({
        "weight": _lanes(signed(cfg.data_width), cfg),
        **{f"index_{bit}": _lanes(unsigned(1), cfg) for bit in range(index_bits)},
    })


def pattern_layout(cfg):
    """An entry of the pattern table, for one phase of a grouped layer's cycle: whether each
    lane ends its row, and where in every lane's bank the groups of the phase start (the
    lanes read ``base | index``)."""
    return data.StructLayout({
        "last": _lanes(unsigned(1), cfg),
        "base": unsigned(cfg.column_width),
    })


def source_layout(cfg):
    """A raw beat as it leaves the weight memory, with the pattern table's entry for its
    phase."""
    return data.StructLayout({
        "beat":    unsigned(cfg.beat_width),
        "pattern": pattern_layout(cfg),
    })


def beat_bits(cfg):
    """Bits of the widest beat of any format: the weight memory's useful width."""
    return max([unstructured_beat_layout(cfg).size] +
               [grouped_beat_layout(cfg, bits).size
                for bits in range(cfg.group_index_width + 1)])


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
    """A beat out of the reduction tree: the sums of its runs and its count of row ends.

    ``sums[r]`` is the sum of the products of run ``r``: the lanes with ``r`` row ends
    before them in the beat. Runs ``0 .. closes - 1`` end rows; run ``closes`` is the one the
    beat leaves open. ``closes`` saturates at ``output_ports + 1``.
    """
    runs = cfg.output_ports + 1
    return data.StructLayout({
        "sums":   data.ArrayLayout(signed(cfg.sum_width), runs),
        "closes": unsigned(ceil_log2(runs + 1)),
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


class Region(enum.Enum, shape=3):
    """The top three bits of a bus address choose what it reaches."""
    REGS        = 0
    WEIGHTS     = 1
    ACTIVATIONS = 2
    OUTPUTS     = 3
    PATTERN     = 4
    BANKS       = 5


class Reg(enum.Enum, shape=8):
    """Registers, one bus word each, addressed by their value within :attr:`Region.REGS`.

    ``ID``, ``VERSION`` and ``CONFIG_HASH`` are read-only identity. Writing 1 to ``CONTROL``
    starts a run. ``N_BEATS``, ``N_ROWS`` and ``N_LANES`` describe the layer in the weight
    memory (lanes past ``N_LANES`` in the final beat are padding and do nothing);
    ``FORMAT`` (a :class:`Format`) says how it is encoded. A grouped layer's lanes carry
    ``INDEX_BITS``-bit indices and its pattern table cycles every ``PATTERN_BEATS`` beats; a
    tile-wise layer's tiles are ``TILE_BEATS`` beats, the first ``TILE_LIST_BEATS`` of them
    its list. ``ROW_GROUPS`` is the dense baseline's beats per row (:class:`hw.dense.DenseArray`).
    Weights are streamed: writing ``WEIGHT_POINTER`` points the stream at the
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
    ROW_GROUPS       = 18
    PATTERN_BEATS    = 19
    INDEX_BITS       = 23
    TILE_LIST_BEATS  = 24
    TILE_BEATS       = 25
    WEIGHT_POINTER   = 26
    WORDS_PER_BEAT   = 27


class Status(enum.Flag, shape=4):
    """Bits of the ``STATUS`` register."""
    BUSY      = 1
    DONE      = 2
    ROW_ERROR = 4  # the run closed a different number of rows than ``N_ROWS``
    OVERRUN   = 8  # a beat came before the output stage had written the rows of the one before


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
    if region == Region.BANKS:
        return cfg.lane_levels + bank_word_bits(cfg)
    if region == Region.OUTPUTS:
        return cfg.row_width
    if region == Region.PATTERN:
        return ceil_log2(cfg.pattern_depth) + pattern_word_bits(cfg)
    raise ValueError(f"Unknown region {region!r}")


def bus_addr_width(cfg):
    """Width of a bus word address: the widest region plus the region bits."""
    return max(region_addr_width(cfg, region) for region in Region) + Region.as_shape().width


def pattern_word_bits(cfg):
    """Low bits of a :attr:`Region.PATTERN` index that choose the word within an entry."""
    return ceil_log2(cfg.words_per_pattern)


def pattern_address(cfg, beat, word):
    """Index within :attr:`Region.PATTERN` of bus word ``word`` of the entry for ``beat``."""
    return (beat << pattern_word_bits(cfg)) | word


def bank_word_bits(cfg):
    """Low bits of a :attr:`Region.BANKS` index that choose the word within a lane's
    memory."""
    return ceil_log2(cfg.act_words)


def bank_address(cfg, lane, word):
    """Index within :attr:`Region.BANKS` of activation word ``word`` of lane ``lane``'s
    memory."""
    return (lane << bank_word_bits(cfg)) | word


#: Cycles from a read request on the bus to its data.
BUS_READ_LATENCY = 3

#: Most cycles a write on the bus takes to land in a register or memory (through the
#: registers on its way to the block RAMs).
BUS_WRITE_LATENCY = 3


class BusSignature(wiring.Signature):
    """A word bus from the host into the accelerator.

    A write stores ``w_data`` at ``addr`` when ``w_en`` is high: in that cycle or, through
    registers, within :data:`BUS_WRITE_LATENCY` cycles, in time for a run that a later write
    starts. A read with ``r_en`` high presents its data on ``r_data``
    :data:`BUS_READ_LATENCY` (3) cycles later, from a register (block RAM outputs are slow).
    Weight and activation memories are write-only; writes to them during a run are ignored.

    Addresses: ``Region`` in the top bits; below them, a register index, the weight stream
    (any address: see ``Reg.WEIGHT_POINTER``), an activation word (``acts_per_word``
    activations, lowest column in the least significant bits) written to every lane's
    memory, an output row, a word of the pattern table (:func:`pattern_address`), or an
    activation word written to one lane's memory only (:func:`bank_address`).
    """
    def __init__(self, cfg):
        super().__init__({
            "addr":   Out(bus_addr_width(cfg)),
            "w_data": Out(BUS_WIDTH),
            "w_en":   Out(1),
            "r_en":   Out(1),
            "r_data": In(BUS_WIDTH),
        })
