"""Block memories whose reads never race their writes."""

from amaranth.hdl import Array, Cat, ClockSignal, Instance, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import ceil_log2, platform_family


__all__ = ["FAMILIES_WITHOUT_LUT_RAM", "has_lut_ram", "BlockMemory", "registered_read", "write_copy", "BLOCK_BITS", "BankedMemory",
           "SPRAM_DEPTH", "SPRAM_WIDTH", "SinglePortMemory"]


#: FPGA families whose logic cannot be memory.
FAMILIES_WITHOUT_LUT_RAM = ("ice40",)


def has_lut_ram(platform):
    """Whether ``platform``'s logic can be memory: every family but those of
    :data:`FAMILIES_WITHOUT_LUT_RAM` (and simulation, with no platform)."""
    return platform_family(platform) not in FAMILIES_WITHOUT_LUT_RAM


#: Bits of one block RAM (the ECP5's DP16KD, 18 Kbit with its parity bits): the depth at
#: which a :class:`BankedMemory` of a given width is cut into banks.
BLOCK_BITS = 18 * 1024


class BlockMemory(Memory):
    """A :class:`~amaranth.lib.memory.Memory` that is never read at an address in the cycle it
    is written there, or whose reads in such a cycle are not used.

    Every memory of the engine is written by the host between runs and read during them (or
    the other way round), so a read and a write never meet. Read it with
    :func:`registered_read`, not with a synchronous read port.
    """
    def __init__(self, *, shape, depth):
        # Yosys's name for "the result of a read-write collision does not matter".
        super().__init__(shape=shape, depth=depth, init=[], attrs={"no_rw_check": 1})


class _RegisteredRead:
    def __init__(self, addr, en, data):
        self.addr, self.en, self.data = addr, en, data


def registered_read(m, memory, *, name):
    """A read port of a :class:`BlockMemory` that behaves as a synchronous one: ``data`` is
    the word at ``addr`` one cycle after it, updated while ``en`` is high (it is by default).

    It is an asynchronous read port and a register, which synthesis merges into the block
    RAM's own output register. A synchronous read port of Amaranth promises the old word on
    a read-write collision, and Yosys keeps that promise with a bypass register and a
    multiplexer on every output bit (about 50 LUTs and 75 flip-flops on a 32-bit ECP5 block
    RAM, a LUT and a flip-flop per bit of a wide memory); the memory's ``no_rw_check``
    attribute, honoured as the register is merged, drops it. In simulation the read returns
    the old word, as a synchronous port would.

    Returns an object with ``addr``, ``en`` and ``data`` members, like a read port's; ``name``
    names its signals.
    """
    port = memory.read_port(domain="comb")
    read = _RegisteredRead(addr=port.addr, en=Signal(init=1, name=f"{name}_en"),
                           data=Signal(memory.shape, reset_less=True, name=f"{name}_data"))
    with m.If(read.en):
        m.d.sync += read.data.eq(port.data)
    return read


def write_copy(m, hit, fields, *, name):
    """A registered copy of a write request for one group of block RAMs: ``en`` is ``hit`` a
    cycle late, and each of ``fields`` (``{name: value}``) is copied only when ``hit``.

    Synthesis merges registers that compute the same thing; copies that load on different
    conditions differ, so each group keeps its own, beside its block RAMs, instead of one
    register driving them all across the chip. Returns ``(en, {name: copy})``.
    """
    en = Signal(name=f"{name}_en")
    copies = {field: Signal.like(value, name=f"{name}_{field}")
              for field, value in fields.items()}
    m.d.sync += en.eq(hit)
    with m.If(hit):
        m.d.sync += [copies[field].eq(value) for field, value in fields.items()]
    return en, copies


class BankedMemory:
    """A memory of ``depth`` words of ``shape``, cut by hand into banks of at most one block
    RAM (:data:`BLOCK_BITS`) each, every bank's output registered before the banks' words
    are chosen: no block RAM output reaches logic before a register. (Synthesis cuts a deep
    memory into block RAMs too, but chooses among their outputs before any register: a block
    RAM's clock-to-output is half a 100 MHz cycle, and the choice and its wires the rest.)

    ``m``: the module the memories and registers go into, as submodules ``name_i``.

    Writes: ``write_addr``, ``write_data`` and ``write_en`` (one bit per ``granularity`` bits
    of the word, or one), written in the cycle they are given. Reads: ``read_addr`` with
    ``read_en`` high; ``read_data`` is the word two cycles later, and holds while ``read_en``
    is low.
    """
    def __init__(self, m, *, shape, depth, granularity=None, name):
        width = Shape.cast(shape).width
        bank_depth = 1 << max(0, (BLOCK_BITS // max(1, width)).bit_length() - 1)
        self.banks = -(-depth // bank_depth) if depth > bank_depth else 1
        bank_depth = min(bank_depth, depth)
        bank_bits = ceil_log2(bank_depth)
        lanes = 1 if granularity is None else width // granularity
        self.write_addr = Signal(max(1, ceil_log2(depth)), name=f"{name}_write_addr")
        self.write_data = Signal(shape, name=f"{name}_write_data")
        self.write_en = Signal(lanes, name=f"{name}_write_en")
        self.read_addr = Signal(max(1, ceil_log2(depth)), name=f"{name}_read_addr")
        self.read_en = Signal(init=1, name=f"{name}_read_en")
        self.read_data = Signal(shape, name=f"{name}_read_data")
        read_bank = Signal(range(self.banks), name=f"{name}_read_bank")
        answer_bank = Signal(range(self.banks), name=f"{name}_answer_bank")
        words = []
        for index in range(self.banks):
            memory = m.submodules[f"{name}_{index}"] = BlockMemory(shape=shape,
                                                                  depth=bank_depth)
            port = memory.write_port(granularity=granularity)
            hit = self.write_addr[bank_bits:] == index if self.banks > 1 else 1
            m.d.comb += [port.addr.eq(self.write_addr[:bank_bits]),
                         port.data.eq(self.write_data),
                         port.en.eq(Mux(hit, self.write_en, 0))]
            read = registered_read(m, memory, name=f"{name}_{index}_read")
            m.d.comb += [read.addr.eq(self.read_addr[:bank_bits]), read.en.eq(self.read_en)]
            word = Signal(shape, name=f"{name}_{index}_word", reset_less=True)
            m.d.sync += word.eq(read.data)
            words.append(word)
        with m.If(self.read_en):
            m.d.sync += read_bank.eq(self.read_addr[bank_bits:] if self.banks > 1 else 0)
        m.d.sync += answer_bank.eq(read_bank)
        m.d.comb += self.read_data.eq(Array(words)[answer_bank] if self.banks > 1
                                      else words[0])


#: Depth and width of one of the iCE40UP5K's single-port RAM blocks (SB_SPRAM256KA).
SPRAM_DEPTH, SPRAM_WIDTH = 16384, 16


class SinglePortMemory(wiring.Component):
    """A memory of ``depth`` words of ``width`` bits with one port, which either writes or
    reads: on an iCE40 the UP5K's single-port RAM (``ceil(width / 16)`` SB_SPRAM256KA blocks
    side by side, instantiated; ``depth`` at most :data:`SPRAM_DEPTH`), elsewhere (simulation,
    other families) an Amaranth memory that behaves the same.

    In a cycle where ``write_en`` (one bit per :data:`SPRAM_WIDTH` bits of the word) has a bit
    set, ``write_data`` is written at ``addr``, where ``write_en`` says; otherwise, while
    ``read_en`` is high, the word at ``addr`` is on ``read_data`` one cycle later. With
    neither, ``read_data`` holds. After a write ``read_data`` is unspecified until the next
    read.

    Members
    -------
    addr : ``In(range(depth))``
    write_data : ``In(width)``
    write_en : ``In(ceil(width / 16))``
    read_en : ``In(1)``
    read_data : ``Out(width)``
    """
    def __init__(self, *, width, depth):
        self.width, self.depth = width, depth
        self.blocks = -(-width // SPRAM_WIDTH)
        super().__init__({
            "addr":       In(max(1, ceil_log2(depth))),
            "write_data": In(width),
            "write_en":   In(self.blocks),
            "read_en":    In(1, init=1),
            "read_data":  Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        writing = self.write_en.any()
        padded = self.blocks * SPRAM_WIDTH
        if platform_family(platform) == "ice40":
            if self.depth > SPRAM_DEPTH:
                raise ValueError(f"An iCE40 single-port memory holds at most {SPRAM_DEPTH} "
                                 f"words, not {self.depth}")
            data_in = Signal(padded)
            data_out = Signal(padded)
            m.d.comb += [data_in.eq(self.write_data), self.read_data.eq(data_out)]
            for block in range(self.blocks):
                m.submodules[f"spram_{block}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=self.addr, i_DATAIN=data_in.word_select(block, SPRAM_WIDTH),
                    i_MASKWREN=0b1111, i_WREN=writing,
                    i_CHIPSELECT=self.write_en[block] | ~writing & self.read_en,
                    i_CLOCK=ClockSignal(), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=data_out.word_select(block, SPRAM_WIDTH))
            return m
        memory = m.submodules.memory = BlockMemory(shape=padded, depth=self.depth)
        port = memory.write_port(granularity=SPRAM_WIDTH)
        m.d.comb += [port.addr.eq(self.addr), port.data.eq(self.write_data),
                     port.en.eq(self.write_en)]
        read = registered_read(m, memory, name="read")
        m.d.comb += [read.addr.eq(self.addr), read.en.eq(~writing & self.read_en),
                     self.read_data.eq(read.data)]
        return m
