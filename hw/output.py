"""The output stage of a chained layer: a row's INT32 sum to the next layer's INT8 input.

For each row: add the row's INT32 bias, requantize with the row's multiplier ``m`` (16 bits,
unsigned) and shift ``n`` (0 to 63), rounding half up and clamping,
``y = clamp((acc * m + 2**(n - 1)) >> n, -Q, Q)`` (``Q = 2**(data_width - 1) - 1``, ``acc * m``
for ``n = 0``, the shift arithmetic), then look ``y`` up in the layer's activation table,
256 entries from INT8 to INT8 (entry ``y + 128``). The host's golden model is
:mod:`host.network`; this block is bit-exact to it.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .arith import registered_product
from .config import BUS_WIDTH, ConfigError, ceil_log2
from .layouts import MULTIPLIER_WIDTH, SHIFT_WIDTH
from .memory import BlockMemory, registered_read
from .sequencer import WordWriteSignature


__all__ = ["MULTIPLIER_WIDTH", "SHIFT_WIDTH", "row_params_layout", "row_sum_layout",
           "row_output_layout", "OutputStage"]


def row_params_layout(cfg):
    """A row's output parameters, as the parameter memory holds them (two bus words)."""
    return data.StructLayout({
        "bias":       signed(cfg.acc_width),
        "multiplier": unsigned(MULTIPLIER_WIDTH),
        "shift":      unsigned(SHIFT_WIDTH),
    })


def row_sum_layout(cfg):
    """A finished row into the output stage: its index in the layer and its sum."""
    return data.StructLayout({
        "row": unsigned(cfg.row_width),
        "sum": signed(cfg.acc_width),
    })


def row_output_layout(cfg):
    """A row out of the output stage: its index in the layer and its INT8 value."""
    return data.StructLayout({
        "row":   unsigned(cfg.row_width),
        "value": signed(cfg.data_width),
    })


class OutputStage(wiring.Component):
    """Bias, requantization and activation of a layer's rows, one row per cycle.

    Row ``r`` of the layer takes its parameters from entry ``param_base + r`` of the
    parameter memory (:func:`row_params_layout`, written as two bus words per entry through
    ``param_write``) and its activation from table ``table`` of the table memory
    (``2**data_width`` entries each, ``32 / data_width`` to a bus word, entry
    ``v + 2**(data_width - 1)`` for value ``v``, lowest entry in the least significant bits,
    written through ``table_write``). ``param_base`` and ``table`` must hold while rows are
    in the stage. Activations of at most 8 bits only.

    The stage is a pipeline of :attr:`latency` registers; under back-pressure it holds its
    output and accepts nothing, as every stream block of the datapath does.

    Members
    -------
    i : ``In(stream.Signature(row_sum_layout(cfg)))``
    o : ``Out(stream.Signature(row_output_layout(cfg)))``
    param_base : ``In(range(param_depth))``
    table : ``In(range(tables))``
    param_write : ``In(WordWriteSignature(param_depth, 2))``
    table_write : ``In(WordWriteSignature(tables * 2**data_width * data_width / 32, 1))``
    """
    def __init__(self, cfg, *, param_depth, tables):
        if cfg.data_width > 8:
            raise ConfigError("data_width", f"Chained layers need activations of at most 8 "
                              f"bits, not {cfg.data_width}")
        self.cfg = cfg
        self.param_depth = param_depth
        self.tables = tables
        self.param_words = -(-row_params_layout(cfg).size // BUS_WIDTH)
        self.table_entries = 1 << cfg.data_width
        self.entries_per_word = BUS_WIDTH // cfg.data_width
        self.table_words = tables * self.table_entries // self.entries_per_word
        super().__init__({
            "i":           In(stream.Signature(row_sum_layout(cfg))),
            "o":           Out(stream.Signature(row_output_layout(cfg))),
            "param_base":  In(range(param_depth)),
            "table":       In(range(tables)),
            "param_write": In(WordWriteSignature(param_depth, self.param_words)),
            "table_write": In(WordWriteSignature(self.table_words, 1)),
        })

    @property
    def latency(self):
        """Cycles from a row on ``i`` to its value on ``o``: the parameter read and its
        register (2), the bias (1), the multipliers' operand and product registers (2), the
        product's sum (1), the two shifts (2), the rounding and the clamp (1), and the table
        read at the registered entry, and its word registered (2). No block RAM output
        feeds logic before a register, and no block RAM address comes from logic: a block
        RAM's clock-to-output is half the cycle at 100 MHz, and the wire to it across the
        chip most of the other half."""
        return 11

    def _memories(self, m, advance):
        """The parameter and table memories, their write ports and registered reads."""
        cfg = self.cfg
        params = m.submodules.params = BlockMemory(shape=self.param_words * BUS_WIDTH,
                                                   depth=self.param_depth)
        port = params.write_port(granularity=BUS_WIDTH)
        write = self.param_write
        m.d.comb += [port.addr.eq(write.beat), port.data.eq(write.data.replicate(
                     self.param_words)), port.en.eq(Mux(write.en, 1 << write.word, 0))]
        tables = m.submodules.tables = BlockMemory(shape=BUS_WIDTH, depth=self.table_words)
        port = tables.write_port()
        m.d.comb += [port.addr.eq(self.table_write.beat), port.data.eq(self.table_write.data),
                     port.en.eq(self.table_write.en)]
        param_read = registered_read(m, params, name="param_read")
        table_read = registered_read(m, tables, name="table_read")
        m.d.comb += [param_read.en.eq(advance), table_read.en.eq(advance)]
        return param_read, table_read

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        valid = Signal(self.latency)
        with m.If(advance):
            m.d.sync += valid.eq(Cat(self.i.valid, valid))
        m.d.comb += self.o.valid.eq(valid[-1])

        def stage(value, name):
            register = Signal.like(value, name=name, reset_less=True)
            with m.If(advance):
                m.d.sync += register.eq(value)
            return register

        def delayed(value, cycles, name):
            for cycle in range(cycles):
                value = stage(value, f"{name}_{cycle}")
            return value

        param_read, table_read = self._memories(m, advance)
        m.d.comb += param_read.addr.eq(self.param_base + self.i.payload.row)
        row = delayed(self.i.payload.row, self.latency, "row")

        # 1, 2: the row's parameters read beside its sum, and registered.
        acc = delayed(self.i.payload.sum, 2, "acc")
        params = Signal(row_params_layout(cfg))
        m.d.comb += params.eq(stage(param_read.data, "params"))
        # 3: the bias added, modulo 2**acc_width as the sums are.
        biased = stage((acc + params.bias)[:cfg.acc_width].as_signed(), "biased")
        multiplier = stage(params.multiplier, "multiplier")
        shift = delayed(stage(params.shift, "shift_0"), 3, "shift")
        # 4, 5: the product in two multipliers of at most 18 bits: the low half of the sum
        # (unsigned) and the high half (signed), each times the multiplier.
        half = cfg.acc_width // 2
        factor = Cat(multiplier, 0).as_signed()
        low = registered_product(m, platform, Cat(biased[:half], 0).as_signed(), factor, advance)
        high = registered_product(m, platform, biased[half:].as_signed(), factor, advance)
        # 6: their sum, acc * m exactly.
        product = stage((high << half) + low, "product")
        # 7, 8: (x + 2**(n - 1)) >> n = ((2x >> n) + 1) >> 1 for n > 0, and for n = 0 the
        # same form gives x: the shift is of 2x, in two steps (by n's multiple of 8, then the
        # rest).
        doubled = Cat(0, product).as_signed()
        coarse = stage(doubled >> Cat(0, 0, 0, shift[3:]), "coarse")
        fine = stage(coarse >> stage(shift[:3], "fine_shift"), "fine")
        # 9: rounded and clamped to the symmetric range, registered as the table entry:
        # rounded = (fine + 1) >> 1 is above the limit L exactly when fine > 2L, below -L
        # when fine < -2L - 1, and otherwise within 10 bits of fine. (The shift and the
        # clamp in one cycle were the critical path of the ULX3S at P = 16.)
        # 10, 11: the activation table read at the entry (its address straight from the
        # register), and its word registered; the value's entry in the word is chosen from
        # the register.
        limit = cfg.quant_max
        low_bits = Signal(signed(cfg.data_width + 3))
        m.d.comb += low_bits.eq(((fine[:cfg.data_width + 2].as_signed() + 1) >> 1))
        clamped = Signal(signed(cfg.data_width))
        m.d.comb += clamped.eq(Mux(fine > 2 * limit, limit,
                                   Mux(fine < -2 * limit - 1, -limit, low_bits)))
        entry = stage((clamped + (1 << (cfg.data_width - 1)))[:cfg.data_width], "entry")
        select = ceil_log2(self.entries_per_word)
        m.d.comb += [table_read.addr.eq(Cat(entry[select:], self.table)),
                     self.o.payload.row.eq(row)]
        byte = delayed(entry[:select], 2, "entry_in_word")
        word = stage(table_read.data, "table_word")
        m.d.comb += self.o.payload.value.eq(word.word_select(byte, cfg.data_width))
        return m
