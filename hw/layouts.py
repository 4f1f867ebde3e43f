"""Payload layouts, register map and bus map shared by the hardware and the host.

Every layout is a function of an :class:`~hw.config.AccelConfig`; the host packs and unpacks
with the offsets these layouts report, never with hand-written shifts.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2


__all__ = [
    "lane_layout", "beat_layout", "operand_layout", "product_layout", "sum_layout",
    "Region", "Reg", "Status", "BusSignature", "bus_addr_width", "region_addr_width",
    "field_offsets",
]


def lane_layout(cfg):
    """One lane of the unstructured weight stream.

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


class Region(enum.Enum, shape=2):
    """The top two bits of a bus address choose what it reaches."""
    REGS        = 0
    WEIGHTS     = 1
    ACTIVATIONS = 2
    OUTPUTS     = 3


class Reg(enum.Enum, shape=8):
    """Registers, one bus word each, addressed by their value within :attr:`Region.REGS`.

    ``ID``, ``VERSION`` and ``CONFIG_HASH`` are read-only identity. Writing 1 to ``CONTROL``
    starts a run. ``N_BEATS`` and ``N_ROWS`` describe the layer in the weight memory. The
    counters are cleared by a start and read after done:

    - ``CYCLES``: cycles from start to done;
    - ``BEATS``: beats fed to the PE array;
    - ``BUSY_LANES``: lane-cycles that carried a kept (non-zero) weight;
    - ``NONZERO_PRODUCTS``: of those, the ones whose activation was non-zero too;
    - ``STALLS``: cycles of a run in which no beat entered the PE array (pipeline fill and
      drain; back-pressure would add to it).
    """
    ID               = 0
    VERSION          = 1
    CONFIG_HASH      = 2
    CONTROL          = 3
    STATUS           = 4
    N_BEATS          = 5
    N_ROWS           = 6
    CYCLES           = 8
    BEATS            = 9
    BUSY_LANES       = 10
    NONZERO_PRODUCTS = 11
    STALLS           = 12


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
        return ceil_log2(cfg.weight_depth) + ceil_log2(cfg.words_per_beat)
    if region == Region.ACTIVATIONS:
        return ceil_log2(cfg.act_words)
    if region == Region.OUTPUTS:
        return cfg.row_width
    raise ValueError(f"Unknown region {region!r}")


def bus_addr_width(cfg):
    """Width of a bus word address: the widest region plus two region bits."""
    return max(region_addr_width(cfg, region) for region in Region) + 2


class BusSignature(wiring.Signature):
    """A word bus from the host into the accelerator.

    A write stores ``w_data`` at ``addr`` in the cycle ``w_en`` is high. A read with ``r_en``
    high presents its data on ``r_data`` in the next cycle (latency 1). Weight and activation
    memories are write-only; writes to them during a run are ignored.

    Addresses: ``Region`` in the top two bits; below them, a register index, a weight-memory
    word (``beat << ceil(log2(words_per_beat)) | word``), an activation word (``acts_per_word``
    activations, lowest column in the least significant bits) or an output row.
    """
    def __init__(self, cfg):
        super().__init__({
            "addr":   Out(bus_addr_width(cfg)),
            "w_data": Out(BUS_WIDTH),
            "w_en":   Out(1),
            "r_en":   Out(1),
            "r_data": In(BUS_WIDTH),
        })
