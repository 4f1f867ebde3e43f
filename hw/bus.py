"""The host bus: its signature, address map, latencies and register maps, and the register
bank that serves an engine's side of it.

An engine (the accelerator, the dense baseline) declares its registers once, in a
:class:`RegisterMap`; the map assigns their addresses, and everything else iterates it: the
engine's :class:`RegisterBank` (write decoding, storage, the read multiplexer), the manifest
``gen`` writes, ``host.bus`` and the tests.
"""

import contextlib
import functools
import types
from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import TABLE_WORDS, Format, layer_words


__all__ = [
    "BUS_WIDTH", "BUS_READ_LATENCY", "BUS_WRITE_LATENCY", "ACCEL_ID", "Region", "Status",
    "Control", "READABLE_MEMORIES",
    "Access", "Register", "RegisterMap", "dense_row_beats", "ACCELERATOR_REGISTERS",
    "DENSE_REGISTERS", "Reg", "BusSignature", "MemoryWriteSignature", "MemoryReadSignature",
    "register_signature", "RegisterBank", "bus_addr_width", "region_addr_width",
    "pattern_word_bits", "pattern_address", "BYTES_PER_WORD", "byte_addr_width",
    "region_byte_base", "register_byte_offset", "byte_address_map",
]


#: Cycles from a read request on the bus to its data.
BUS_READ_LATENCY = 3

#: Most cycles a write on the bus takes to land in a register or memory (through the
#: registers on its way to the block RAMs).
BUS_WRITE_LATENCY = 3

#: Bytes of a bus word: the byte-addressed buses (Wishbone, AXI4-Lite) reach word ``a`` of
#: the word bus at byte address ``a * BYTES_PER_WORD``.
BYTES_PER_WORD = BUS_WIDTH // 8

#: Value of the ``ID`` register: "SpAx".
ACCEL_ID = 0x53704178


class Region(enum.Enum, shape=4):
    """The top four bits of a bus address choose what it reaches."""
    REGS           = 0
    WEIGHTS        = 1
    ACTIVATIONS    = 2
    OUTPUTS        = 3
    PATTERN        = 4
    LAYERS         = 5     # the layer table, hw.layouts.layer_layout, write only
    PARAMS         = 6     # the output stage's row parameters, write only
    TABLES         = 7     # the activation tables, write only
    RESULTS        = 8     # the last layer's INT8 outputs, read only
    LAYER_COUNTERS = 9     # each layer's counters, read only


#: The regions the bus reads from a memory (answered by ``RegisterBank.outputs``).
READABLE_MEMORIES = (Region.OUTPUTS, Region.RESULTS, Region.LAYER_COUNTERS)


class Control(enum.Flag, shape=2):
    """Values written to ``CONTROL``."""
    RUN     = 1   # run the layer described by the layer registers
    NETWORK = 2   # run the layer table's first N_LAYERS entries for BATCH inputs


class Status(enum.Flag, shape=4):
    """Bits of the ``STATUS`` register."""
    BUSY      = 1
    DONE      = 2
    ROW_ERROR = 4  # the run closed a different number of rows than ``N_ROWS``
    OVERRUN   = 8  # a beat came before the output stage had written the rows of the one before


class Access(enum.Enum):
    """What the bus may do with a register.

    ``R``: read its value, which the engine drives. ``RW``: write it, the bank holds it (a
    write lands two cycles after the bus write, within :data:`BUS_WRITE_LATENCY`), and read it
    back. ``W``: a write strobe and its data, in the cycle of the bus write; the engine keeps
    what it needs, and the register reads 0.
    """
    R  = "r"
    W  = "w"
    RW = "rw"


@dataclass(frozen=True)
class Register:
    """One bus word of an engine's register map: its ``name``, bus ``address`` within
    :attr:`Region.REGS`, ``access``, ``width`` (bits, or a function of the configuration
    giving them), ``doc`` and the ``group`` of related registers it belongs to, if any."""
    name: str
    address: int
    access: Access
    width: object
    doc: str
    group: str | None = None

    def width_for(self, cfg):
        """The register's width in bits for ``cfg``."""
        return self.width(cfg) if callable(self.width) else self.width

    @property
    def port_name(self):
        """The name of the register's port on the :class:`RegisterBank`."""
        return self.name.lower()


class RegisterMap:
    """A builder of an engine's register map, in the spirit of amaranth-soc's
    ``csr.Builder``: registers get consecutive addresses in the order they are added, so the
    members of a :meth:`group` are contiguous by construction.

    >>> regs = RegisterMap("example")
    >>> regs.add("CONTROL", Access.W, 1, "Writing 1 starts a run.")
    >>> with regs.group("counters"):
    ...     regs.add("CYCLES", Access.R, 32, "Cycles of the last run.")
    """
    def __init__(self, name):
        self.name = name
        self._registers = {}
        self._groups = {}
        self._group = None

    def add(self, name, access, width, doc):
        """Declare the next register; returns it."""
        if name in self._registers:
            raise ValueError(f"Register {name!r} is already in the {self.name} map")
        register = Register(name, len(self._registers), Access(access), width, doc,
                            self._group)
        self._registers[name] = register
        if self._group is not None:
            self._groups[self._group].append(register)
        return register

    @contextlib.contextmanager
    def group(self, name):
        """Registers added inside the ``with`` block form the group ``name``."""
        if name in self._groups:
            raise ValueError(f"Group {name!r} is already in the {self.name} map")
        self._groups[name], self._group = [], name
        try:
            yield
        finally:
            self._group = None

    def __getitem__(self, name):
        return self._registers[name]

    def __contains__(self, name):
        return name in self._registers

    def __iter__(self):
        return iter(self._registers.values())

    def __len__(self):
        return len(self._registers)

    def members(self, group):
        """The registers of ``group``, at consecutive addresses."""
        return tuple(self._groups[group])

    @property
    def address_width(self):
        """Bits of a register's address within :attr:`Region.REGS`."""
        return max(1, ceil_log2(len(self)))

    def enum(self, name):
        """An :class:`amaranth.lib.enum.Enum` of the registers' addresses, for ``m.Case`` and
        for the host's ``Reg.NAME.value``."""
        def body(namespace):
            for register in self:
                namespace[register.name] = register.address
        return types.new_class(name, (enum.Enum,), {"shape": self.address_width}, body)

    def describe(self, cfg):
        """The map as plain data, for the manifest."""
        return {register.name: {"address": register.address,
                                "access": register.access.value,
                                "width": register.width_for(cfg),
                                "group": register.group,
                                "doc": register.doc}
                for register in self}


def _beats_width(cfg):
    return ceil_log2(cfg.weight_depth + 1)


def _beat_width(cfg):
    return ceil_log2(cfg.weight_depth)


def _identity(regs):
    regs.add("ID", Access.R, BUS_WIDTH, f"Reads {ACCEL_ID:#x}, 'SpAx'.")


def _accelerator_registers():
    regs = RegisterMap("accelerator")
    W, R, RW = Access.W, Access.R, Access.RW
    with regs.group("identity"):
        _identity(regs)
        regs.add("VERSION", R, BUS_WIDTH, "FORMAT_VERSION of the streams and the maps.")
        regs.add("CONFIG_HASH", R, BUS_WIDTH, "AccelConfig.config_hash of the bitstream.")
    with regs.group("network"):
        # BATCH just before CONTROL: a network run's two writes are one frame.
        regs.add("N_LAYERS", RW, lambda cfg: max(1, ceil_log2(cfg.max_layers + 1)),
                 "Entries of the layer table a network run runs.")
        regs.add("BATCH", RW, lambda cfg: cfg.input_count_width,
                 "Inputs of a network run.")
    regs.add("CONTROL", W, Control.as_shape().width,
             "Writing RUN starts a run of the layer registers; NETWORK a run of the layer "
             "table (hw.bus.Control).")
    regs.add("STATUS", R, Status.as_shape().width, "Status flags.")
    with regs.group("layer"):
        regs.add("N_BEATS", RW, _beats_width,
                 "Beats of the layer in the weight memory, from beat 0.")
        regs.add("N_ROWS", RW, lambda cfg: cfg.row_width + 1,
                 "Rows the layer closes (STATUS.ROW_ERROR when it closes another count).")
        regs.add("N_LANES", RW, lambda cfg: ceil_log2(cfg.weight_depth * cfg.pes + 1),
                 "Lanes of the layer; those past it in the final beat are padding.")
        regs.add("FORMAT", RW, Format.as_shape().width, "The layer's hw.layouts.Format.")
        regs.add("PATTERN_BEATS", RW, lambda cfg: ceil_log2(cfg.pattern_depth + 1),
                 "Grouped: entries of the pattern table in the layer's cycle.")
        regs.add("INDEX_BITS", RW, lambda cfg: ceil_log2(cfg.meta_bits + 1),
                 "Grouped: bits of a lane's index within its group; unstructured: bits of "
                 "a lane's gap code.")
        regs.add("N_COLUMNS", RW, lambda cfg: ceil_log2(cfg.max_k + 1),
                 "Unstructured: the layer's inputs K, the places of a row.")
        regs.add("TILE_LIST_BEATS", RW,
                 lambda cfg: max(1, ceil_log2(cfg.compact_buffer_depth + 1)),
                 "Tile-wise: list beats at the start of a tile.")
        regs.add("TILE_BEATS", RW, _beats_width,
                 "Tile-wise: beats of a tile, its list included.")
    with regs.group("weight_stream"):
        regs.add("WEIGHT_POINTER", W, _beat_width,
                 "Points the weight stream at the start of this beat.")
        regs.add("WORDS_PER_BEAT", W, lambda cfg: ceil_log2(cfg.words_per_beat + 1),
                 "Bus words of each beat the stream stores from now on.")
    regs.add("NETWORK_CYCLES", R, BUS_WIDTH, "Cycles of the last network run.")
    with regs.group("counters"):
        regs.add("CYCLES", R, BUS_WIDTH, "Cycles from start to done (of a network run: of "
                 "its last layer; every layer's are in Region.LAYER_COUNTERS).")
        regs.add("BEATS", R, BUS_WIDTH, "Beats fed to the PE array.")
        regs.add("BUSY_LANES", R, BUS_WIDTH, "Lane-cycles that carried a kept weight.")
        regs.add("NONZERO_PRODUCTS", R, BUS_WIDTH,
                 "Of those, the ones whose activation was non-zero too.")
        regs.add("STALLS", R, BUS_WIDTH,
                 "Cycles of a run in which no beat entered the PE array.")
        regs.add("ACT_READS", R, BUS_WIDTH,
                 "Activations read from the activation memory for the run's lanes.")
    with regs.group("interrupt"):
        regs.add("IRQ_ENABLE", RW, 1,
                 "1: the irq output is IRQ_PENDING; 0: irq stays low.")
        regs.add("IRQ_PENDING", R, 1,
                 "1 from the end of a run (RUN or NETWORK) until a write to IRQ_CLEAR.")
        regs.add("IRQ_CLEAR", W, 1, "Writing 1 clears IRQ_PENDING.")
    return regs


def dense_row_beats(cfg):
    """Beats of the longest row of the dense baseline: ceil(max_k / P)."""
    return -(-cfg.max_k // cfg.pes)


def _dense_registers():
    regs = RegisterMap("dense")
    W, R, RW = Access.W, Access.R, Access.RW
    with regs.group("identity"):
        _identity(regs)
    regs.add("CONTROL", W, 1, "Writing 1 starts a run.")
    regs.add("STATUS", R, Status.as_shape().width, "Status flags BUSY and DONE.")
    regs.add("N_BEATS", RW, _beats_width, "Beats of the layer: its rows times ROW_GROUPS.")
    regs.add("ROW_GROUPS", RW, lambda cfg: ceil_log2(dense_row_beats(cfg) + 1),
             "Beats of each row: ceil(K / P).")
    regs.add("WEIGHT_POINTER", W, _beat_width,
             "Points the weight stream at the start of this beat.")
    return regs


#: The sparse accelerator's registers (:class:`hw.accel.Accelerator`). A run: stream the
#: weights (``WEIGHT_POINTER``, ``WORDS_PER_BEAT``, then words to :attr:`Region.WEIGHTS`),
#: write the activations and the ``layer`` group, write 1 to ``CONTROL``, poll ``STATUS`` for
#: ``DONE``, read the sums from :attr:`Region.OUTPUTS` and the ``counters`` group, which a
#: start clears.
ACCELERATOR_REGISTERS = _accelerator_registers()

#: The dense baseline's registers (:class:`hw.dense.DenseArray`).
DENSE_REGISTERS = _dense_registers()

#: The accelerator's register addresses by name, as an enum.
Reg = ACCELERATOR_REGISTERS.enum("Reg")


def region_addr_width(cfg, region):
    """Address bits used inside one bus region."""
    if region == Region.REGS:
        return ACCELERATOR_REGISTERS.address_width
    if region == Region.WEIGHTS:
        return 8
    if region == Region.ACTIVATIONS:
        return ceil_log2(cfg.act_memory_words)
    if region == Region.OUTPUTS:
        return cfg.row_width
    if region == Region.PATTERN:
        return ceil_log2(cfg.pattern_depth) + pattern_word_bits(cfg)
    layers = max(1, ceil_log2(cfg.max_layers))
    if region == Region.LAYERS:
        return layers + ceil_log2(layer_words(cfg))
    if region == Region.PARAMS:
        return ceil_log2(cfg.param_rows) + 1
    if region == Region.TABLES:
        return layers + ceil_log2(TABLE_WORDS)
    if region == Region.RESULTS:
        return ceil_log2(cfg.result_words)
    if region == Region.LAYER_COUNTERS:
        return layers + 3
    raise ValueError(f"Unknown region {region!r}")


def bus_addr_width(cfg):
    """Width of a bus word address: the widest region plus the region bits."""
    return max(region_addr_width(cfg, region) for region in Region) + Region.as_shape().width


def byte_addr_width(cfg):
    """Width of a byte address on the byte-addressed buses: :func:`bus_addr_width` plus
    the two bits of the byte within a word."""
    return bus_addr_width(cfg) + ceil_log2(BYTES_PER_WORD)


def region_byte_base(cfg, region):
    """Byte address of word 0 of ``region``."""
    shift = bus_addr_width(cfg) - Region.as_shape().width
    return (Region(region).value << shift) * BYTES_PER_WORD


def register_byte_offset(register):
    """Byte offset of ``register`` (a :class:`Register`) from :attr:`Region.REGS`'s base."""
    return register.address * BYTES_PER_WORD


def byte_address_map(cfg, registers=None):
    """The byte address map as plain data, for the manifest and the C header: each region's
    ``base`` and ``size`` in bytes, and each register's byte ``offset`` (of ``registers``,
    by default :data:`ACCELERATOR_REGISTERS`)."""
    registers = ACCELERATOR_REGISTERS if registers is None else registers
    return {
        "addr_width": byte_addr_width(cfg),
        "bytes_per_word": BYTES_PER_WORD,
        "regions": {region.name: {"base": region_byte_base(cfg, region),
                                  "size": (1 << region_addr_width(cfg, region))
                                  * BYTES_PER_WORD}
                    for region in Region},
        "registers": {register.name: register_byte_offset(register)
                      for register in registers},
    }


def pattern_word_bits(cfg):
    """Low bits of a :attr:`Region.PATTERN` index that choose the word within an entry."""
    return ceil_log2(cfg.words_per_pattern)


def pattern_address(cfg, beat, word):
    """Index within :attr:`Region.PATTERN` of bus word ``word`` of the entry for ``beat``."""
    return (beat << pattern_word_bits(cfg)) | word


class BusSignature(wiring.Signature):
    """A word bus from the host into the accelerator.

    A write stores ``w_data`` at ``addr`` when ``w_en`` is high: in that cycle or, through
    registers, within :data:`BUS_WRITE_LATENCY` cycles, in time for a run that a later write
    starts. A read with ``r_en`` high presents its data on ``r_data``
    :data:`BUS_READ_LATENCY` (3) cycles later, from a register (block RAM outputs are slow).
    Weight and activation memories are write-only; writes during a run are ignored.

    Addresses: ``Region`` in the top bits; below them, a register address, the weight stream
    (any address: see ``WEIGHT_POINTER``), an activation word (``acts_per_word``
    activations, lowest column in the least significant bits) written to every lane's
    memory, an output row, or a word of the pattern table (:func:`pattern_address`).
    """
    def __init__(self, cfg):
        super().__init__({
            "addr":   Out(bus_addr_width(cfg)),
            "w_data": Out(BUS_WIDTH),
            "w_en":   Out(1),
            "r_en":   Out(1),
            "r_data": In(BUS_WIDTH),
        })


class MemoryWriteSignature(wiring.Signature):
    """A bus write to a memory region: ``region``, the ``index`` within it and the word, in
    the cycle of the bus write, while ``en``."""
    def __init__(self, index_width):
        super().__init__({
            "region": Out(Region),
            "index":  Out(index_width),
            "data":   Out(BUS_WIDTH),
            "en":     Out(1),
        })


class MemoryReadSignature(wiring.Signature):
    """A bus read of word ``index`` of a memory ``region`` while ``en``; the memory answers
    on ``data`` two cycles later (its block RAM's read, then a register)."""
    def __init__(self, index_width):
        super().__init__({
            "region": Out(Region),
            "index": Out(index_width),
            "en":    Out(1),
            "data":  In(BUS_WIDTH),
        })


@functools.cache
def register_signature(access, width):
    """The signature of a register's port on the :class:`RegisterBank` (see there), as the
    bank sees it; an engine's block takes ``In(register_signature(...))``."""
    if access == Access.R:
        return wiring.Signature({"r_data": In(width)})
    if access == Access.W:
        return wiring.Signature({"w_stb": Out(1), "w_data": Out(width)})
    return wiring.Signature({"value": Out(width)})


class RegisterBank(wiring.Component):
    """An engine's side of the host bus: its registers, by its :class:`RegisterMap`, and
    the bus's access to the engine's memories.

    Writes are ignored while ``lock`` is high (a run), so that a run always sees the layer
    it started with. A register's port, named for it in lower case:

    - ``Access.R``: ``r_data``, ``In``: the value a read returns (the engine's).
    - ``Access.W``: ``w_stb`` and ``w_data``, ``Out``: high for one cycle, in the cycle of
      the bus write, with the word written.
    - ``Access.RW``: ``value``, ``Out``: the register, written from a registered copy of the
      bus write (two cycles after it: before a run that the next write starts).

    Reads: the register's value the cycle after the request, or in a region of
    :data:`READABLE_MEMORIES` the word the ``outputs`` port returns, answered :data:`BUS_READ_LATENCY` cycles after the
    request. The request is latched; in the next cycle each group of four registers (by
    address) chooses its member, registered; then the group, or the memory's word, is chosen
    and registered. A read of any other region answers as one of :attr:`Region.REGS` at the
    same index would.

    Members
    -------
    bus : ``In(BusSignature(cfg))``
    lock : ``In(1)``
        Writes are ignored while high.
    memory : ``Out(MemoryWriteSignature(...))``
        Writes to every region but :attr:`Region.REGS`, in the cycle of the bus write.
    outputs : ``Out(MemoryReadSignature(...))``
        Reads of the regions of :data:`READABLE_MEMORIES`.
    <register> : one port per register of ``registers``, as above.
    """
    def __init__(self, cfg, registers):
        self.cfg = cfg
        self.registers = registers
        index_width = bus_addr_width(cfg) - Region.as_shape().width
        ports = {register.port_name: Out(register_signature(register.access,
                                                           register.width_for(cfg)))
                 for register in registers}
        super().__init__({
            "bus":     In(BusSignature(cfg)),
            "lock":    In(1),
            "memory":  Out(MemoryWriteSignature(index_width)),
            "outputs": Out(MemoryReadSignature(index_width)),
            **ports,
        })

    def port(self, name):
        """The port of the register ``name``."""
        return getattr(self, self.registers[name].port_name)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        region_bits = Region.as_shape().width
        address_bits = self.registers.address_width
        region = Signal(Region)
        index = Signal(len(bus.addr) - region_bits)
        m.d.comb += [region.eq(bus.addr[-region_bits:]), index.eq(bus.addr[:-region_bits])]
        address = index[:address_bits]

        writable = bus.w_en & ~self.lock
        register_write = writable & (region == Region.REGS)
        m.d.comb += [
            self.memory.region.eq(region),
            self.memory.index.eq(index),
            self.memory.data.eq(bus.w_data),
            self.memory.en.eq(writable & (region != Region.REGS)),
        ]
        # Stored registers are written a cycle late, from a registered copy of the write.
        stored_write = Signal()
        stored_address = Signal(address_bits)
        stored_data = Signal(BUS_WIDTH)
        m.d.sync += [stored_write.eq(register_write), stored_address.eq(address),
                     stored_data.eq(bus.w_data)]
        values = {}
        for register in self.registers:
            port = self.port(register.name)
            if register.access == Access.W:
                m.d.comb += [port.w_stb.eq(register_write & (address == register.address)),
                             port.w_data.eq(bus.w_data)]
            elif register.access == Access.RW:
                with m.If(stored_write & (stored_address == register.address)):
                    m.d.sync += port.value.eq(stored_data)
                values[register.address] = port.value
            else:
                values[register.address] = port.r_data

        memory = Cat(region == readable for readable in READABLE_MEMORIES).any()
        m.d.comb += [self.outputs.region.eq(region), self.outputs.index.eq(index),
                     self.outputs.en.eq(bus.r_en & memory)]
        self._answer_reads(m, region, address, values)
        return m

    def _answer_reads(self, m, region, address, values):
        bus = self.bus
        read_memory = Signal()
        read_address = Signal(len(address))
        with m.If(bus.r_en):
            m.d.sync += [read_memory.eq(self.outputs.en), read_address.eq(address)]
        answer_memory = Signal()
        answer_group = Signal(max(1, len(address) - 2))
        m.d.sync += [answer_memory.eq(read_memory), answer_group.eq(read_address[2:])]
        groups = {}
        for register_address, value in values.items():
            groups.setdefault(register_address >> 2, {})[register_address & 3] = value
        chosen = {}
        for group, members in groups.items():
            chosen[group] = Signal(BUS_WIDTH, name=f"registers_{group}")
            with m.Switch(read_address[:2]):
                for low, value in members.items():
                    with m.Case(low):
                        m.d.sync += chosen[group].eq(value)
                with m.Default():
                    m.d.sync += chosen[group].eq(0)
        register = Signal(BUS_WIDTH)
        with m.Switch(answer_group):
            for group, word in chosen.items():
                with m.Case(group):
                    m.d.comb += register.eq(word)
        m.d.sync += bus.r_data.eq(Mux(answer_memory, self.outputs.data, register))
