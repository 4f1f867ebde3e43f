"""The one configuration object every part of the project is built from."""

import dataclasses
import json
import operator
import textwrap
import zlib
from dataclasses import dataclass


__all__ = ["FORMAT_VERSION", "BUS_WIDTH", "platform_family", "ConfigError", "FieldSpec", "FIELD_SPECS",
           "AccelConfig", "ceil_log2"]


#: Version of the weight-stream format, the register map and the bus map. Raised whenever any of
#: them changes, so that a host refuses a bitstream it cannot drive.
FORMAT_VERSION = 7

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


def platform_family(platform):
    """The FPGA family of an Amaranth ``platform``, lower case (``"ecp5"``, ``"ice40"``), or
    ``""`` for none (simulation)."""
    return str(getattr(platform, "family", "")).lower()


def ceil_log2(value):
    """Bits to count ``value`` things: the least ``n`` with ``2**n >= value``; 0 for 0 and 1."""
    value = operator.index(value)
    if value < 0:
        raise ValueError(f"ceil_log2 needs a value of at least 0, not {value}")
    return (value - 1).bit_length() if value > 1 else 0


@dataclass(frozen=True)
class FieldSpec:
    """What one :class:`AccelConfig` field means and the values it accepts: the single source
    of the field's validation, its ``python -m gen`` help and its documentation.

    Attributes
    ----------
    noun : str
        What the field is called in an error message (``"PE count"``).
    summary : str
        One line on what the field sets, for ``--help`` and the docs.
    low, high : int
        Smallest and largest accepted values (by default, those of ``choices``).
    power_of_two : bool
        Only powers of two in ``low .. high`` are accepted.
    choices : tuple of int or None
        The only accepted values, if not every value (or power of two) in ``low .. high``.
    unit : str
        Unit of the value (``"bits"``), or ``""``.
    none_means : str or None
        If set, ``None`` is accepted too, and means this.
    notes : str
        More on the field, for the docs only.
    """
    noun: str
    summary: str
    low: int | None = None
    high: int | None = None
    power_of_two: bool = False
    choices: tuple | None = None
    unit: str = ""
    none_means: str | None = None
    notes: str = ""

    def __post_init__(self):
        if self.choices is not None:
            object.__setattr__(self, "low", min(self.choices) if self.low is None else self.low)
            object.__setattr__(self, "high", max(self.choices) if self.high is None else self.high)
        if self.low is None or self.high is None:
            raise TypeError(f"FieldSpec {self.noun!r} needs low and high, or choices")

    def accepts(self, value):
        """Whether ``value`` (an integer, or ``None``) is in range."""
        if value is None:
            return self.none_means is not None
        if self.choices is not None:
            return value in self.choices
        return self.low <= value <= self.high and not (
            self.power_of_two and value & (value - 1))

    @property
    def range_text(self):
        """The accepted values in words: ``"a power of two from 1 to 1024"``."""
        if self.choices is not None:
            *rest, last = (str(choice) for choice in self.choices)
            text = f"{', '.join(rest)} or {last}" if rest else last
        else:
            text = f"from {self.low} to {self.high}"
            if self.power_of_two:
                text = f"a power of two {text}"
        return f"{text} {self.unit}" if self.unit else text

    def check(self, name, value):
        """Raises :class:`ConfigError` for field ``name`` unless ``value`` is in range."""
        if not self.accepts(value):
            raise ConfigError(name, f"{self.noun} must be {self.range_text}, not {value}")

    @property
    def doc(self):
        """The field's entry in the docs: the summary, the range and the notes."""
        text = f"{self.summary[:1].upper()}{self.summary[1:]}; {self.range_text}"
        if self.none_means is not None:
            text += f", or ``None``: {self.none_means}"
        return f"{text}. {self.notes}" if self.notes else f"{text}."

    @property
    def help(self):
        """The field's ``--help`` text: the summary and the range."""
        return f"{self.summary}; {self.range_text}"


def _field(default, **spec):
    return dataclasses.field(default=default, metadata={"spec": FieldSpec(**spec)})


@dataclass(frozen=True)
class AccelConfig:
    """Parameters of one accelerator.

    Frozen and validated on construction; variants are made with
    ``dataclasses.replace(cfg, pes=16)``. The same object yields the hardware (``hw.accel``),
    the manifest (``gen``), and the golden and cycle models (``host``). Each field's range,
    help and notes are its :class:`FieldSpec` (:data:`FIELD_SPECS`), from which the
    validation, the ``python -m gen`` options and the parameters below are made.
    """
    pes: int = _field(64,
        noun="PE count", summary="number of processing elements (lanes) P",
        low=1, high=1024, power_of_two=True)
    data_width: int = _field(8,
        noun="Data width", summary="width of weights and activations",
        choices=(4, 8, 16), unit="bits",
        notes="Both are signed and symmetric (the most negative code is never produced by "
              "the host).")
    acc_width: int = _field(32,
        noun="Accumulator width", summary="width of the output accumulators",
        low=16, high=BUS_WIDTH, unit="bits",
        notes="At most one bus word, and at least :attr:`sum_width`. Sums wrap modulo "
              "``2**acc_width``.")
    max_k: int = _field(1536,
        noun="max_k",
        summary="largest input dimension K of a layer (the activation memory depth)",
        low=1, high=65536)
    max_m: int = _field(1536,
        noun="max_m",
        summary="largest number of non-empty output rows of a layer (the output memory depth)",
        low=1, high=65536)
    weight_depth: int = _field(2048,
        noun="weight_depth", summary="weight memory depth, in beats of P lanes",
        low=1, high=1 << 20,
        notes="One beat feeds all P lanes for one cycle.")
    max_group_width: int = _field(64,
        noun="Largest group width",
        summary="widest group of the grouped formats (M of N:M, the bank width of "
                "bank-balanced)",
        low=2, high=256, power_of_two=True,
        notes="A kept weight's index in its group takes up to ``log2(max_group_width)`` "
              "bits.")
    gap_bits: int = _field(6,
        noun="gap_bits",
        summary="widest code of the unstructured format's column gaps, in bits per lane",
        low=1, high=16, unit="bits",
        notes="A kept weight's column is coded as its gap to the next lane's, ``INDEX_BITS`` "
              "wide (chosen per layer by the host, up to this); a longer gap takes filler "
              "lanes. The beat's metadata planes are :attr:`meta_bits`.")
    weight_ports: int = _field(2,
        noun="weight_ports",
        summary="ports of the weight memory: 2 (a write port and a read port: block RAM) "
                "or 1 (one port the host's writes take between runs)",
        choices=(1, 2),
        notes="1 is for single-port RAM: on an iCE40 the weight memory is then the "
              "UP5K's SPRAM (:class:`hw.memory.SinglePortMemory`, ``SB_SPRAM256KA`` blocks "
              "of 16K x 16 bits side by side, so at most 16384 beats of 64 bits on the four "
              "blocks); elsewhere a memory that behaves the same.")
    pattern_depth: int = _field(512,
        noun="pattern_depth",
        summary="entries of the pattern table: the longest cycle of beat phases a grouped "
                "layer may have",
        low=1, high=65536,
        notes="A grouped layer of R lanes per row repeats its lanes' places every "
              "R / gcd(R, P) beats; the host pads rows with zero lanes where that cycle "
              "would be longer.")
    compact_depth: int | None = _field(None,
        noun="compact_depth",
        summary="depth of each lane's compact buffer: a tile uses at most this many times P "
                "inputs",
        low=1, high=65536, none_means="enough for every input",
        notes="The driver splits a layer's columns to fit. ``None`` (the default) is "
              "``act_capacity / pes``, rounded up.")
    output_ports: int = _field(2,
        noun="Output ports", summary="rows the output stage writes per cycle",
        low=1, high=16, power_of_two=True,
        notes="No beat closes more rows than that (the host starts a row at the next beat "
              "when one would).")
    act_depth: int | None = _field(None,
        noun="act_depth",
        summary="activations each lane's memory holds: a resident network's batch of inputs "
                "and the outputs of its layers",
        low=1, high=1 << 20, none_means="``max_k``",
        notes="A layer's input occupies ``B`` regions of a power of two of at least its K "
              "each; the driver splits a batch that does not fit.")
    max_layers: int = _field(8,
        noun="max_layers",
        summary="entries of the layer table: the layers of a resident network",
        low=0, high=256,
        notes="Each layer has its own activation table (256 entries). 0 leaves the "
              "resident-network hardware out.")
    param_depth: int | None = _field(None,
        noun="param_depth",
        summary="rows of output-stage parameters (bias, multiplier, shift) a resident network "
                "holds, over all its layers",
        low=1, high=1 << 20, none_means="``max_m``")
    result_depth: int | None = _field(None,
        noun="result_depth",
        summary="bus words of the result memory, which holds the last layer's INT8 outputs "
                "of a batch, four to a word",
        low=1, high=1 << 20, none_means="``max_m``")
    baud_divisor: int = _field(868,
        noun="Baud divisor", summary="clock cycles per bit of the board's UART",
        low=1, high=65535,
        notes="868 is 115200 baud at 100 MHz; the simulated board uses 1.")
    frame_words: int = _field(1024,
        noun="frame_words",
        summary="most bus words one frame of the host link carries: the link decoder's "
                "frame buffer",
        low=1, high=65535,
        notes="The host splits longer transfers into frames of this many words (it reads "
              "it from the manifest).")
    link_timeout: int = _field(1 << 20,
        noun="Link timeout",
        summary="cycles without a byte after which the link decoder abandons a frame",
        low=16, high=1 << 30, unit="cycles")

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            spec = field.metadata["spec"]
            if value is None and spec.none_means is not None:
                continue
            if isinstance(value, bool) or not hasattr(value, "__index__"):
                raise TypeError(f"{field.name} must be an integer, not {value!r}")
            object.__setattr__(self, field.name, operator.index(value))
        for field in dataclasses.fields(self):
            field.metadata["spec"].check(field.name, getattr(self, field.name))
        if self.acc_width < self.sum_width:
            raise ConfigError("acc_width",
                f"Accumulator width must be at least {self.sum_width} bits for "
                f"{self.pes} PEs of {self.data_width} bits, not {self.acc_width}")

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
    def act_memory_words(self):
        """Depth of each lane's activation memory in bus words: ``act_depth`` (or
        ``max_k``) rounded up to whole words, and at least :attr:`act_words`."""
        depth = self.max_k if self.act_depth is None else max(self.act_depth, self.max_k)
        return -(-depth // self.acts_per_word)

    @property
    def act_address_width(self):
        """Width of an address in a lane's activation memory."""
        return max(1, ceil_log2(self.act_memory_words * self.acts_per_word))

    @property
    def input_count_width(self):
        """Width of a count of a run's inputs (at most one per activation)."""
        return self.act_address_width + 1

    @property
    def param_rows(self):
        """Rows of output-stage parameters: ``param_depth`` (or ``max_m``), rounded up to a
        multiple of ``output_ports`` (row ``r`` lives in stage ``r % output_ports``)."""
        depth = self.max_m if self.param_depth is None else self.param_depth
        return -(-depth // self.output_ports) * self.output_ports

    @property
    def result_words(self):
        """Depth of the result memory in bus words."""
        return self.max_m if self.result_depth is None else self.result_depth

    @property
    def chains(self):
        """Whether the accelerator can run resident networks: its output stage writes
        ``output_ports`` INT8 rows per cycle into one bus word, so at most four, of 8-bit
        activations; and ``max_layers`` is not 0."""
        return (self.max_layers > 0 and self.output_ports <= self.acts_per_word
                and self.data_width == 8)

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
    def meta_bits(self):
        """Metadata bits of a lane in the weight memory: the widest of a grouped lane's index
        (:attr:`group_index_width`), an unstructured lane's gap code (:attr:`gap_bits`) and
        what a tile's list lane needs beside its weight field to name a column."""
        return max(self.group_index_width, self.gap_bits,
                   ceil_log2(self.max_k) - self.data_width)

    @property
    def beat_bits(self):
        """Bits of a beat in the weight memory: a weight and :attr:`meta_bits` of metadata
        for each lane (:func:`hw.layouts.beat_bits`, whose layout places them)."""
        return self.pes * (self.data_width + self.meta_bits)

    @property
    def words_per_beat(self):
        """Bus words in one beat of the weight memory, enough for the widest format."""
        return -(-self.beat_bits // BUS_WIDTH)

    @property
    def pattern_bits(self):
        """Bits of an entry of the pattern table: a row end and a group address for each of
        the P lanes (:func:`hw.layouts.pattern_layout`)."""
        return self.pes * (1 + self.column_width)

    @property
    def words_per_pattern(self):
        """Bus words in one entry of the pattern table."""
        return -(-self.pattern_bits // BUS_WIDTH)

    # Timing.

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

    # Identity.

    def to_dict(self):
        """The fields as a plain dictionary, in declaration order."""
        return dataclasses.asdict(self)

    @property
    def config_hash(self):
        """32-bit hash of the fields and the format version, burned into the hardware."""
        text = json.dumps({"format_version": FORMAT_VERSION, **self.to_dict()}, sort_keys=True)
        return zlib.crc32(text.encode())


#: The :class:`FieldSpec` of each :class:`AccelConfig` field, by name, in declaration order.
FIELD_SPECS = {field.name: field.metadata["spec"] for field in dataclasses.fields(AccelConfig)}


def _parameters_doc():
    lines = ["", "    Parameters", "    ----------"]
    for name, spec in FIELD_SPECS.items():
        lines.append(f"    {name} : {'int or None' if spec.none_means is not None else 'int'}")
        lines.extend(textwrap.wrap(spec.doc, 100, initial_indent=" " * 8,
                                   subsequent_indent=" " * 8))
    return "\n".join(lines) + "\n"


AccelConfig.__doc__ = AccelConfig.__doc__.rstrip() + "\n" + _parameters_doc()
