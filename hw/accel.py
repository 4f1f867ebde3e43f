"""The accelerator: memories, datapath, control registers and counters behind a word bus."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .accum import OutputAccumulator
from .arith import popcount
from .config import BUS_WIDTH, FORMAT_VERSION
from .decode import BeatDecoder
from .fetch import FetchUnit
from .bus import REG_BITS, answer_reads, decode_address
from .layouts import (ACCEL_ID, BusSignature, Format, Reg, Region, Status, bank_word_bits,
                      beat_layout, pattern_word_bits)
from .pe import PEArray
from .reduce import ReductionTree
from .replicas import LANES_PER_COPY, lane_copies, replicas, replicate
from .sequencer import BeatSource


__all__ = ["Accelerator"]


class Accelerator(wiring.Component):
    """A sparse matrix-vector engine for one :class:`~hw.config.AccelConfig`.

    The host streams the encoded weights and writes the activations over ``bus``, describes
    the layer (``FORMAT`` and its constants, the pattern table, ``N_BEATS``, ``N_ROWS``,
    ``N_LANES``), writes 1 to ``CONTROL`` and polls ``STATUS`` for ``DONE``; it then reads the
    sums of the rows the layer computes from the output region and the counters from the
    registers (``host.bus`` lists every write). A run of ``n > 0`` beats takes exactly
    ``n + cfg.latency`` cycles, and one of no beats takes one cycle.

    Datapath: :class:`BeatSource` -> :class:`BeatDecoder` -> :class:`FetchUnit` ->
    :class:`PEArray` -> :class:`ReductionTree` -> :class:`OutputAccumulator`, joined by
    streams. Only the decoder knows the format; everything after it is shared.

    Members
    -------
    bus : ``In(BusSignature(cfg))``
        Host access to registers and memories.
    busy : ``Out(1)``
        A run is in progress.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        super().__init__({"bus": In(BusSignature(cfg)), "busy": Out(1)})

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        source = m.submodules.source = BeatSource(cfg)
        decode = m.submodules.decode = BeatDecoder(cfg)
        fetch  = m.submodules.fetch  = FetchUnit(cfg)
        pes    = m.submodules.pes    = PEArray(cfg)
        tree   = m.submodules.tree   = ReductionTree(cfg)
        accum  = m.submodules.accum  = OutputAccumulator(cfg)
        wiring.connect(m, source.o, decode.i)
        wiring.connect(m, decode.o, fetch.i)
        wiring.connect(m, fetch.o, pes.i)
        wiring.connect(m, pes.o, tree.i)
        wiring.connect(m, tree.o, accum.i)

        bus = self.bus
        region, index = decode_address(m, bus)

        busy = self.busy
        done = Signal()
        # A write of 1 to CONTROL (``request``) makes the accelerator busy at once, so that
        # the next read of STATUS sees the run; the run itself starts in the next cycle, on
        # a registered pulse, as that pulse reaches every block and counter: a copy of it
        # for each (hw.replicas), the beat source making its own.
        request = Signal()
        decode_start, accum_start, start = replicate(m, request, 3, name="start")
        n_beats = Signal.like(source.n_beats)
        n_rows = Signal(cfg.row_width + 1)
        n_lanes = Signal.like(decode.n_lanes)
        layer_format = Signal(Format)
        weight_beat = Signal.like(source.write.beat)
        weight_word = Signal.like(source.write.word)
        words_per_beat = Signal(range(cfg.words_per_beat + 1), init=cfg.words_per_beat)
        setting_regs = {
            Reg.INDEX_BITS: Signal.like(decode.index_bits),
            Reg.TILE_LIST_BEATS: Signal.like(decode.list_beats),
            Reg.TILE_BEATS: Signal.like(decode.tile_beats),
            Reg.PATTERN_BEATS: Signal.like(source.pattern_beats),
        }
        retired = Signal.like(n_beats)
        counters = {reg: Signal(BUS_WIDTH, name=reg.name.lower())
                    for reg in (Reg.CYCLES, Reg.BEATS, Reg.BUSY_LANES, Reg.NONZERO_PRODUCTS,
                                Reg.STALLS, Reg.ACT_READS)}

        # Writes; ignored during a run, so a run always sees the layer it started with.
        writable = bus.w_en & ~busy
        with m.If(writable & (region == Region.WEIGHTS)):
            with m.If(weight_word + 1 == words_per_beat):
                m.d.sync += [weight_word.eq(0), weight_beat.eq(weight_beat + 1)]
            with m.Else():
                m.d.sync += weight_word.eq(weight_word + 1)
        with m.If(writable & (region == Region.REGS)):
            with m.Switch(index[:REG_BITS]):
                with m.Case(Reg.CONTROL):
                    m.d.comb += request.eq(bus.w_data[0])
                with m.Case(Reg.WEIGHT_POINTER):
                    m.d.sync += [weight_beat.eq(bus.w_data), weight_word.eq(0)]
                with m.Case(Reg.WORDS_PER_BEAT):
                    m.d.sync += words_per_beat.eq(bus.w_data)
        # The layer's registers are written a cycle late, from a registered copy of the
        # write: still before a run that the next write starts reads them.
        setting_write = Signal()
        setting_index = Signal(REG_BITS)
        setting_data = Signal(BUS_WIDTH)
        m.d.sync += [setting_write.eq(writable & (region == Region.REGS)),
                     setting_index.eq(index[:REG_BITS]), setting_data.eq(bus.w_data)]
        with m.If(setting_write):
            with m.Switch(setting_index):
                with m.Case(Reg.N_BEATS):
                    m.d.sync += n_beats.eq(setting_data)
                with m.Case(Reg.N_ROWS):
                    m.d.sync += n_rows.eq(setting_data)
                with m.Case(Reg.N_LANES):
                    m.d.sync += n_lanes.eq(setting_data)
                with m.Case(Reg.FORMAT):
                    m.d.sync += layer_format.eq(setting_data)
                for reg, field in setting_regs.items():
                    with m.Case(reg):
                        m.d.sync += field.eq(setting_data)
        # Memory writes are registered on their way, so that the bus's decoding is not in the
        # same cycle as the long nets to the block RAMs, a copy of the data for each memory
        # (hw.replicas). Activation writes pass two more registers in the fetch unit: three
        # cycles in all (BUS_WRITE_LATENCY), long before a run that follows reads them.
        activation_write = writable & ((region == Region.ACTIVATIONS) |
                                       (region == Region.BANKS))
        weight_write = writable & (region == Region.WEIGHTS)
        pattern_write = writable & (region == Region.PATTERN)
        # A write's address and data are loaded in every cycle, only its enable on a
        # condition: a load enable decoded from the bus would be one more net to them all.
        m.d.sync += [fetch.act_write.en.eq(activation_write), source.write.en.eq(weight_write),
                     source.pattern_write.en.eq(pattern_write)]
        act_data, weight_data, pattern_data = replicas(BUS_WIDTH, 3, name="write_data",
                                                       reset_less=True)
        m.d.sync += [
            act_data.eq(bus.w_data), weight_data.eq(bus.w_data), pattern_data.eq(bus.w_data),
            fetch.act_write.addr.eq(index),
            fetch.act_write.lane.eq(index[bank_word_bits(cfg):]),
            fetch.act_write.broadcast.eq(region == Region.ACTIVATIONS),
            source.write.beat.eq(weight_beat),
            source.write.word.eq(weight_word),
            source.pattern_write.beat.eq(index[pattern_word_bits(cfg):]),
            source.pattern_write.word.eq(index[:pattern_word_bits(cfg)]),
        ]
        m.d.comb += [fetch.act_write.data.eq(act_data), source.write.data.eq(weight_data),
                     source.pattern_write.data.eq(pattern_data)]
        m.d.comb += [
            source.pattern_beats.eq(setting_regs[Reg.PATTERN_BEATS]),
            decode.format.eq(layer_format),
            decode.index_bits.eq(setting_regs[Reg.INDEX_BITS]),
            decode.list_beats.eq(setting_regs[Reg.TILE_LIST_BEATS]),
            decode.tile_beats.eq(setting_regs[Reg.TILE_BEATS]),
            decode.n_lanes.eq(n_lanes),
            decode.restart.eq(decode_start),
            source.request.eq(request),
            source.n_beats.eq(n_beats),
            accum.clear.eq(accum_start),
        ]

        # Run control.
        with m.If(start):
            m.d.sync += retired.eq(0)
            m.d.sync += [counter.eq(0) for counter in counters.values()]
        with m.Elif(busy):
            with m.If(retired == n_beats):
                m.d.sync += [busy.eq(0), done.eq(1)]
            with m.If(accum.retired):
                m.d.sync += retired.eq(retired + 1)
        with m.If(request):
            m.d.sync += [busy.eq(1), done.eq(0)]

        # Counters. Each lane's flag is registered beside its lane (the decoder's output, the
        # multipliers' operands), then masked by a copy of the beat's valid bit per group of
        # lanes, counted by a pipelined adder tree, and the counts are added; the last beat's
        # counts land long before the run's final write.
        fed = fetch.o.valid & fetch.o.ready
        decoded = decode.o.valid & decode.o.ready
        lanes = Signal(beat_layout(cfg))
        m.d.comb += lanes.eq(decode.o.payload.lanes)

        def lane_flags(flags, valid, name):
            raw = Signal(cfg.pes, name=f"{name}_raw", reset_less=True)
            valids = replicate(m, valid, lane_copies(cfg.pes), name=f"{name}_valid")
            masked = Signal(cfg.pes, name=f"{name}_flags")
            m.d.sync += [raw.eq(Cat(flags)),
                         masked.eq(Cat(raw[i] & valids[i // LANES_PER_COPY]
                                       for i in range(cfg.pes)))]
            return popcount(m, masked, name=name)

        kept = lane_flags((lanes[i].weight != 0 for i in range(cfg.pes)), decoded, "kept")
        # A product is non-zero when both its operands are: flagged from the operand
        # registers beside the multipliers, not from the multipliers' outputs.
        operands = fetch.o.payload
        nonzero = lane_flags(((operands[i].weight != 0) & (operands[i].activation != 0)
                              for i in range(cfg.pes)), fed, "nonzero")
        decode_reads = Signal.like(decode.reads)
        m.d.sync += decode_reads.eq(Mux(decoded, decode.reads, 0))
        reads = Signal(range(cfg.pes + 1))
        unstructured = layer_format == Format.UNSTRUCTURED
        # An unstructured layer reads for its kept weights only: the lanes a row skips to
        # start at the next beat, and the final beat's padding, read nothing.
        m.d.sync += reads.eq(Mux(unstructured, kept, decode_reads))
        with m.If(busy & ~start):
            m.d.sync += [
                counters[Reg.CYCLES].eq(counters[Reg.CYCLES] + 1),
                counters[Reg.BEATS].eq(counters[Reg.BEATS] + fed),
                counters[Reg.STALLS].eq(counters[Reg.STALLS] + ~fed),
                counters[Reg.BUSY_LANES].eq(counters[Reg.BUSY_LANES] + kept),
                counters[Reg.NONZERO_PRODUCTS].eq(counters[Reg.NONZERO_PRODUCTS] + nonzero),
                counters[Reg.ACT_READS].eq(counters[Reg.ACT_READS] + reads),
            ]

        # Reads, answered BUS_READ_LATENCY cycles after the request. STATUS is registered: a
        # read that follows a write to CONTROL still sees the run busy.
        status = Signal(4)
        m.d.sync += status.eq(Mux(busy, Status.BUSY.value, 0) |
                              Mux(done, Status.DONE.value, 0) |
                              Mux(done & (accum.rows != n_rows), Status.ROW_ERROR.value, 0) |
                              Mux(accum.overrun, Status.OVERRUN.value, 0))
        m.d.comb += [
            accum.read_row.eq(index),
            accum.read_en.eq(bus.r_en & (region == Region.OUTPUTS)),
        ]
        answer_reads(m, bus, region, index, {
            Reg.ID: ACCEL_ID,
            Reg.VERSION: FORMAT_VERSION,
            Reg.CONFIG_HASH: cfg.config_hash,
            Reg.STATUS: status,
            Reg.N_BEATS: n_beats,
            Reg.N_ROWS: n_rows,
            Reg.N_LANES: n_lanes,
            Reg.WEIGHT_POINTER: weight_beat,
            Reg.WORDS_PER_BEAT: words_per_beat,
            Reg.FORMAT: layer_format,
            **setting_regs,
            **counters,
        }, accum.read_data)
        return m
