"""The one configuration object every part of the project is built from."""

import dataclasses
import json
import operator
import zlib
from dataclasses import dataclass


__all__ = ["FORMAT_VERSION", "BUS_WIDTH", "ConfigError", "AccelConfig", "ceil_log2"]


#: Version of the weight-stream format, the register map and the bus map. Raised whenever any of
#: them changes, so that a host refuses a bitstream it cannot drive.
FORMAT_VERSION = 4

#: Width of a word on the host bus, in bits.
BUS_WIDTH = 32


class ConfigError(ValueError):
    """A configuration field holds a value outside its accepted range.

    Attributes
    ----------
    field : str
        Name of the offending :class:`AccelConfig` field.
    """
    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def ceil_log2(value):
    return max(0, (value - 1).bit_length())


@dataclass(frozen=True)
class AccelConfig:
    """Parameters of one accelerator.

    Frozen and validated on construction; variants are made with
    ``dataclasses.replace(cfg, pes=16)``. The same object yields the hardware (``hw.accel``),
    the manifest (``gen``), and the golden and cycle models (``host``).

    Parameters
    ----------
    pes : int
        Number of processing elements (lanes) P: a power of two from 1 to 1024.
    data_width : int
        Width of weights and activations in bits: 4, 8 or 16. Both are signed and symmetric
        (the most negative code is never produced by the host).
    acc_width : int
        Width of the output accumulators in bits, 16 to 32 (one bus word). Sums wrap
        modulo ``2**acc_width``.
    max_k : int
        Activation memory depth: the largest input dimension K of a layer, 1 to 65536.
    max_m : int
        Output memory depth: the largest number of non-empty output rows of a layer, 1 to 65536.
    weight_depth : int
        Weight memory depth in beats (one beat feeds all P lanes for one cycle), 1 to 1048576.
    max_group_width : int
        Widest group of the grouped formats (M of N:M, the bank width of bank-balanced), a
        power of two from 2 to 256; a kept weight's index in its group takes up to
        ``log2(max_group_width)`` bits.
    pattern_depth : int
        Depth of the pattern table, 1 to 65536: the longest cycle of beat phases a grouped
        layer may have. A grouped layer of R lanes per row repeats its lanes' places every
        R / gcd(R, P) beats; the host pads rows with zero lanes where that cycle would be
        longer.
    compact_depth : int or None
        Depth of each lane's compact buffer, 1 to 65536: a tile of a tile-wise layer uses at
        most ``compact_depth * pes`` inputs (the driver splits a layer's columns to fit).
        ``None`` (the default) is enough for every input: ``act_capacity / pes``, rounded up.
    output_ports : int
        Rows the output stage writes per cycle, a power of two from 1 to 16: no beat closes
        more rows than that (the host starts a row at the next beat when one would).
    baud_divisor : int
        Clock cycles per bit of the board's UART, 1 to 65535 (868 is 115200 baud at 100 MHz;
        the simulated board uses 1).
    link_timeout : int
        Cycles without a byte after which the link decoder abandons a frame, 16 to 2**30.
    """
    pes: int = 64
    data_width: int = 8
    acc_width: int = 32
    max_k: int = 1536
    max_m: int = 1536
    weight_depth: int = 2048
    max_group_width: int = 64
    pattern_depth: int = 512
    compact_depth: int | None = None
    output_ports: int = 2
    baud_divisor: int = 868
    link_timeout: int = 1 << 20

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None and field.name == "compact_depth":
                continue
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                raise TypeError(f"{field.name} must be an integer, not {value!r}")
            object.__setattr__(self, field.name, operator.index(value))
        if not (1 <= self.pes <= 1024 and self.pes & (self.pes - 1) == 0):
            raise ConfigError("pes",
                f"PE count must be a power of two from 1 to 1024, not {self.pes}")
        if self.data_width not in (4, 8, 16):
            raise ConfigError("data_width",
                f"Data width must be 4, 8 or 16 bits, not {self.data_width}")
        if not 16 <= self.acc_width <= BUS_WIDTH:
            raise ConfigError("acc_width",
                f"Accumulator width must be from 16 to {BUS_WIDTH} bits, not {self.acc_width}")
        if self.acc_width < self.sum_width:
            raise ConfigError("acc_width",
                f"Accumulator width must be at least {self.sum_width} bits for "
                f"{self.pes} PEs of {self.data_width} bits, not {self.acc_width}")
        if not (2 <= self.max_group_width <= 256
                and self.max_group_width & (self.max_group_width - 1) == 0):
            raise ConfigError("max_group_width",
                f"Largest group width must be a power of two from 2 to 256, "
                f"not {self.max_group_width}")
        if not (1 <= self.output_ports <= 16
                and self.output_ports & (self.output_ports - 1) == 0):
            raise ConfigError("output_ports",
                f"Output ports must be a power of two from 1 to 16, not {self.output_ports}")
        if not 1 <= self.baud_divisor <= 65535:
            raise ConfigError("baud_divisor",
                f"Baud divisor must be from 1 to 65535, not {self.baud_divisor}")
        if not 16 <= self.link_timeout <= 1 << 30:
            raise ConfigError("link_timeout",
                f"Link timeout must be from 16 to {1 << 30} cycles, not {self.link_timeout}")
        for name, limit in (("max_k", 65536), ("max_m", 65536), ("weight_depth", 1 << 20),
                            ("pattern_depth", 65536), ("compact_depth", 65536)):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= limit:
                raise ConfigError(name,
                    f"{name} must be from 1 to {limit}, not {value}")

    # Lanes and the arithmetic.

    @property
    def lane_levels(self):
        """Levels of the reduction tree and of the output router: log2(P)."""
        return ceil_log2(self.pes)

    @property
    def column_width(self):
        """Width of a column index: enough to address every activation the memory holds."""
        return max(1, ceil_log2(self.act_capacity))

    @property
    def group_index_width(self):
        """Widest index of a kept weight within its group (grouped formats)."""
        return ceil_log2(self.max_group_width)

    @property
    def row_width(self):
        """Width of a row index, enough for ``max_m`` rows."""
        return max(1, ceil_log2(self.max_m))

    @property
    def product_width(self):
        """Width of one signed product of a weight and an activation."""
        return 2 * self.data_width

    @property
    def sum_width(self):
        """Width of a sum of up to P products: the reduction tree's width."""
        return self.product_width + self.lane_levels

    @property
    def quant_max(self):
        """Largest magnitude the symmetric quantizer produces: 127 for INT8."""
        return (1 << (self.data_width - 1)) - 1

    # Memories and the host bus.

    @property
    def acts_per_word(self):
        """Activations packed into one bus word, lowest column in the least significant bits."""
        return BUS_WIDTH // self.data_width

    @property
    def act_words(self):
        """Depth of each activation memory replica, in bus words."""
        return -(-self.max_k // self.acts_per_word)

    @property
    def act_capacity(self):
        """Activations each lane's memory holds: ``max_k`` rounded up to whole bus words."""
        return self.act_words * self.acts_per_word

    @property
    def compact_buffer_depth(self):
        """Depth of each lane's compact buffer: ``compact_depth``, or by default enough for
        a tile that uses every input."""
        if self.compact_depth is not None:
            return self.compact_depth
        return -(-self.act_capacity // self.pes)

    @property
    def out_depth(self):
        """Depth of each of the ``output_ports`` output banks; row r lives in bank
        r % output_ports at r // output_ports."""
        return -(-self.max_m // self.output_ports)

    @property
    def beat_width(self):
        """Width of one encoded weight beat (P lanes), padded to whole bus words."""
        return self.words_per_beat * BUS_WIDTH

    @property
    def words_per_beat(self):
        """Bus words in one beat of the weight memory, enough for the widest format."""
        from .layouts import beat_bits
        return -(-beat_bits(self) // BUS_WIDTH)

    @property
    def words_per_pattern(self):
        """Bus words in one entry of the pattern table (a row end for each of the P lanes)."""
        from .layouts import pattern_layout
        return -(-pattern_layout(self).size // BUS_WIDTH)

    # Timing.

    @property
    def latency(self):
        """Fixed pipeline latency L of a run, in cycles.

        A run of ``n`` beats (``n > 0``) takes exactly ``n + L`` cycles from start to done,
        whatever the format: the weight memory read and two registers (3), the beat decoder
        (1), the activation memories' read and the registers of what they give (2), the
        multipliers' operand and product registers (2), the reduction tree's run count
        (:attr:`run_count_stages`, in which each pair of lanes is added), masks (1) and
        adders (log2 of :attr:`run_leaves`), and the output stage's arrival, as the done
        flag is set (1). For P = 64, L = 18. Nothing stalls: no beat closes more than
        ``output_ports`` rows (:func:`host.encode.encode`).
        """
        return 10 + self.run_count_stages + ceil_log2(self.run_leaves)

    @property
    def row_granularity(self):
        """Every row takes a multiple of this many lanes: 2, or 1 for P = 1. The reduction
        tree adds each pair of lanes before it sorts them by row, so rows end at odd lanes
        only; the host pads a row of an odd number of lanes with a zero lane."""
        return min(2, self.pes)

    @property
    def run_leaves(self):
        """Leaves of each of the reduction tree's adder trees: P / ``row_granularity``."""
        return self.pes // self.row_granularity

    @property
    def run_count_stages(self):
        """Cycles the reduction tree takes to count the row ends before each leaf: two
        levels of log2(leaves) a cycle, and at least one."""
        return max(1, -(-ceil_log2(self.run_leaves) // 2))

    # Identity.

    def to_dict(self):
        """The fields as a plain dictionary, in declaration order."""
        return dataclasses.asdict(self)

    @property
    def config_hash(self):
        """32-bit hash of the fields and the format version, burned into the hardware."""
        text = json.dumps({"format_version": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return zlib.crc32(text.encode())
