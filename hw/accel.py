# amaranth: UnusedElaboratable=no
# (an accelerator and its datapath are made without elaborating them to know its latency)
"""The accelerator: memories, datapath, control registers and counters behind a word bus."""

import functools

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .accum import OutputAccumulator
from .arith import ICE40_HALF_WIDTH
from .bus import (ACCEL_ID, ACCELERATOR_REGISTERS, BUS_WIDTH, BusSignature, Control,
                  MemoryWriteSignature, Region, RegisterBank, Status, bus_addr_width,
                  pattern_word_bits)
from .chain import TABLE_WORDS, NetworkSequencer, OutputDrain, layer_words
from .config import FORMAT_VERSION, ceil_log2
from .control import RunControl, WeightStream
from .counters import COUNTERS, PerformanceCounters
from .decode import BeatDecoder
from .fetch import ActivationWriteSignature, FetchUnit
from .gaps import GapDecoder
from .layouts import Format, layer_layout
from .memory import BankedMemory
from .pe import PEArray
from .reduce import ReductionTree
from .replicas import replicas
from .sequencer import BeatSource, WordWriteSignature


__all__ = ["MemoryWrites", "Accelerator", "pipeline_latency", "multiplier_count"]


class MemoryWrites(wiring.Component):
    """Routes the bus's memory writes to the activation memories, the weight memory (at the
    weight stream's ``beat`` and ``word``) and the pattern table, a cycle late.

    The writes are registered on their way, so that the bus's decoding is not in the same
    cycle as the long nets to the block RAMs, with a copy of the data for each memory
    (:mod:`hw.replicas`). A write's address and data are loaded in every cycle, only its
    enable on a condition: a load enable decoded from the bus would be one more net to them
    all. Activation writes pass two more registers in the fetch unit: three cycles in all
    (:data:`~hw.bus.BUS_WRITE_LATENCY`).

    Members
    -------
    memory : ``In(MemoryWriteSignature(...))``
        From the register bank.
    weight_beat, weight_word : ``In(...)``
        The weight stream's pointer (:class:`~hw.control.WeightStream`).
    act_write : ``Out(ActivationWriteSignature(cfg))``
    weight_write : ``Out(WordWriteSignature(weight_depth, words_per_beat))``
    pattern_write : ``Out(WordWriteSignature(pattern_depth, words_per_pattern))``
    """
    def __init__(self, cfg):
        self.cfg = cfg
        weights = WordWriteSignature(cfg.weight_depth, cfg.words_per_beat)
        super().__init__({
            "memory":        In(MemoryWriteSignature(bus_addr_width(cfg) -
                                                     Region.as_shape().width)),
            "weight_beat":   In(weights.members["beat"].shape),
            "weight_word":   In(weights.members["word"].shape),
            "act_write":     Out(ActivationWriteSignature(cfg)),
            "weight_write":  Out(weights),
            "pattern_write": Out(WordWriteSignature(cfg.pattern_depth, cfg.words_per_pattern)),
            "layer_write":   Out(WordWriteSignature(cfg.max_layers, layer_words(cfg))),
            "param_write":   Out(WordWriteSignature(cfg.param_rows, 2)),
            "table_write":   Out(WordWriteSignature(cfg.max_layers * TABLE_WORDS, 1)),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        memory, act, weight, pattern = (self.memory, self.act_write, self.weight_write,
                                        self.pattern_write)
        region, index = memory.region, memory.index
        m.d.sync += [
            act.en.eq(memory.en & (region == Region.ACTIVATIONS)),
            weight.en.eq(memory.en & (region == Region.WEIGHTS)),
            pattern.en.eq(memory.en & (region == Region.PATTERN)),
        ]
        act_data, weight_data, pattern_data = replicas(BUS_WIDTH, 3, name="write_data",
                                                       reset_less=True)
        m.d.sync += [
            act_data.eq(memory.data), weight_data.eq(memory.data),
            pattern_data.eq(memory.data),
            act.addr.eq(index),
            act.mask.eq(-1),
            weight.beat.eq(self.weight_beat),
            weight.word.eq(self.weight_word),
            pattern.beat.eq(index[pattern_word_bits(cfg):]),
            pattern.word.eq(index[:pattern_word_bits(cfg)]),
        ]
        m.d.comb += [act.data.eq(act_data), weight.data.eq(weight_data),
                     pattern.data.eq(pattern_data)]
        # The resident network's memories, written once per network: one shared copy.
        word_bits = ceil_log2(layer_words(cfg))
        for port, target, beat, word in (
                (self.layer_write, Region.LAYERS, index[word_bits:], index[:word_bits]),
                (self.param_write, Region.PARAMS, index[1:], index[:1]),
                (self.table_write, Region.TABLES, index, 0)):
            m.d.sync += [port.en.eq(memory.en & (region == target)), port.beat.eq(beat),
                         port.word.eq(word), port.data.eq(memory.data)]
        return m


class Accelerator(wiring.Component):
    """A sparse matrix-vector engine for one :class:`~hw.config.AccelConfig`.

    The host streams the encoded weights and writes the activations over ``bus``, describes
    the layer (``FORMAT`` and its constants, the pattern table, ``N_BEATS``, ``N_ROWS``,
    ``N_LANES``), writes 1 to ``CONTROL`` and polls ``STATUS`` for ``DONE``; it then reads the
    sums of the rows the layer computes from the output region and the counters from the
    registers (``host.bus`` lists every write). A run of ``n > 0`` beats takes exactly
    ``n +`` :attr:`latency` cycles, and one of no beats takes one cycle.

    Datapath (:attr:`datapath`): :class:`BeatSource` -> :class:`GapDecoder` ->
    :class:`BeatDecoder` -> :class:`FetchUnit` -> :class:`PEArray` -> :class:`ReductionTree`
    -> :class:`OutputAccumulator`, joined by streams. Only the decoders know the format;
    everything after them is shared.

    Members
    -------
    bus : ``In(BusSignature(cfg))``
        Host access to registers and memories.
    busy : ``Out(1)``
        A run is in progress.
    irq : ``Out(1)``
        The interrupt: ``IRQ_PENDING`` while ``IRQ_ENABLE``, a cycle later (registered).
        ``IRQ_PENDING`` rises in the cycle after ``busy`` falls (a run of the layer
        registers or a network run is done) and stays high until a write of 1 to
        ``IRQ_CLEAR``; a run ending in the cycle of that write keeps it high.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        self.datapath = (BeatSource(cfg), GapDecoder(cfg), BeatDecoder(cfg), FetchUnit(cfg),
                         PEArray(cfg), ReductionTree(cfg), OutputAccumulator(cfg))
        super().__init__({"bus": In(BusSignature(cfg)), "busy": Out(1), "irq": Out(1)})

    @property
    def latency(self):
        """Fixed pipeline latency L of a run, in cycles: the sum of the datapath blocks'
        latencies (the weight memory's read and registers, the decoders, the activation
        reads, the multipliers, the reduction tree, the output stage's arrival). Nothing
        stalls: no beat closes more than ``output_ports`` rows (:func:`host.encode.encode`)."""
        return sum(block.latency for block in self.datapath)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        source, gaps, decode, fetch, pes, tree, accum = self.datapath
        for name, block in zip(("source", "gaps", "decode", "fetch", "pes", "tree", "accum"),
                               self.datapath):
            m.submodules[name] = block
        wiring.connect(m, source.o, gaps.i)
        wiring.connect(m, gaps.o, decode.i)
        wiring.connect(m, decode.o, fetch.i)
        wiring.connect(m, fetch.o, pes.i)
        wiring.connect(m, pes.o, tree.i)
        wiring.connect(m, tree.o, accum.i)

        bank = m.submodules.registers = RegisterBank(cfg, ACCELERATOR_REGISTERS)
        wiring.connect(m, wiring.flipped(self.bus), bank.bus)
        reg = bank.port
        m.d.comb += [reg("ID").r_data.eq(ACCEL_ID), reg("VERSION").r_data.eq(FORMAT_VERSION),
                     reg("CONFIG_HASH").r_data.eq(cfg.config_hash), bank.lock.eq(self.busy)]

        stream = m.submodules.weight_stream = WeightStream(
            cfg.weight_depth, cfg.words_per_beat, programmable=True)
        wiring.connect(m, bank.weight_pointer, stream.pointer)
        wiring.connect(m, bank.words_per_beat, stream.words_per_beat)
        writes = m.submodules.memory_writes = MemoryWrites(cfg)
        wiring.connect(m, bank.memory, writes.memory)
        m.d.comb += [stream.write.eq(bank.memory.en & (bank.memory.region == Region.WEIGHTS)),
                     writes.weight_beat.eq(stream.beat), writes.weight_word.eq(stream.word)]
        wiring.connect(m, writes.act_write, fetch.act_write)
        wiring.connect(m, writes.weight_write, source.write)
        wiring.connect(m, writes.pattern_write, source.pattern_write)

        # The running layer's settings: the layer registers' for a run (CONTROL = RUN), a
        # layer table entry for each layer of a network run (CONTROL = NETWORK), kept here
        # while the layer runs.
        settings = Signal(layer_layout(cfg))
        inputs = Signal(cfg.input_count_width)
        network = Signal()
        control = reg("CONTROL")
        single = control.w_stb & (control.w_data == Control.RUN.value)
        # Between runs the settings follow the layer registers (so that the start decoded
        # from the bus reaches no wide register); a network's sequencer loads its own.
        with m.If(single):
            m.d.sync += network.eq(0)
        with m.If(~self.busy):
            m.d.sync += [
                settings.eq(0),
                settings.n_beats.eq(reg("N_BEATS").value),
                settings.n_lanes.eq(reg("N_LANES").value),
                settings.format.eq(reg("FORMAT").value),
                settings.pattern_beats.eq(reg("PATTERN_BEATS").value),
                settings.index_bits.eq(reg("INDEX_BITS").value),
                settings.columns.eq(reg("N_COLUMNS").value),
                settings.tile_list_beats.eq(reg("TILE_LIST_BEATS").value),
                settings.tile_beats.eq(reg("TILE_BEATS").value),
                inputs.eq(1),
            ]
        m.d.comb += [
            source.beat_start.eq(settings.beat_start),
            source.n_beats.eq(settings.n_beats),
            source.pattern_start.eq(settings.pattern_start),
            source.pattern_beats.eq(settings.pattern_beats),
            source.inputs.eq(inputs),
            source.offset_base.eq(settings.in_base),
            source.offset_stride.eq(settings.in_stride),
            gaps.index_bits.eq(settings.index_bits),
            gaps.columns.eq(settings.columns),
            gaps.format.eq(settings.format),
            decode.format.eq(settings.format),
            decode.index_bits.eq(settings.index_bits),
            decode.list_beats.eq(settings.tile_list_beats),
            decode.tile_beats.eq(settings.tile_beats),
            decode.n_lanes.eq(settings.n_lanes),
        ]

        # A run starts the cycle after its request, on a copy of the start pulse for the
        # decoder, the output stage, the counters and the drain (the beat source makes its
        # own from the request). A single run makes the accelerator busy at once.
        run = m.submodules.run = RunControl(beats_width=len(source.n_beats),
                                            rows_width=len(accum.rows), copies=4)
        request = Signal()
        sequencer_start = Signal()      # a network run's layer starts
        m.d.comb += [
            request.eq(single | sequencer_start),
            run.request.eq(request), source.request.eq(request),
            run.n_beats.eq(settings.n_beats), run.retired.eq(accum.retired),
            run.n_rows.eq(reg("N_ROWS").value), run.rows.eq(accum.rows),
            run.overrun.eq(accum.overrun | gaps.overrun),
            decode.restart.eq(run.start[0]), gaps.restart.eq(run.start[0]),
            accum.clear.eq(run.start[1]),
        ]

        counters = m.submodules.counters = PerformanceCounters(cfg)
        m.d.comb += [
            counters.start.eq(run.start[2]),
            counters.lanes.eq(decode.o.payload.lanes),
            counters.decoded.eq(decode.o.valid & decode.o.ready),
            counters.reads.eq(decode.reads),
            counters.unstructured.eq(settings.format == Format.UNSTRUCTURED),
            counters.operands.eq(fetch.o.payload),
            counters.fed.eq(fetch.o.valid & fetch.o.ready),
        ]
        m.d.comb += [reg(register.name).r_data.eq(getattr(counters, register.port_name))
                     for register in COUNTERS]

        # Reads of the readable memories, answered two cycles after the request.
        reads = bank.outputs
        read_region = Signal(Region)
        answer_region = Signal(Region)
        with m.If(reads.en):
            m.d.sync += read_region.eq(reads.region)
        m.d.sync += answer_region.eq(read_region)
        answers = {Region.OUTPUTS: accum.read_data}
        bus_row_read = reads.en & (reads.region == Region.OUTPUTS)

        if cfg.chains:
            self._network(m, settings, inputs, network, run, sequencer_start, counters,
                          accum, gaps, fetch, writes, bank, answers)
        else:
            m.d.comb += [self.busy.eq(run.busy), reg("STATUS").r_data.eq(run.status),
                         counters.busy.eq(run.busy),
                         accum.read_row.eq(reads.index), accum.read_en.eq(bus_row_read)]
            wiring.connect(m, writes.act_write, fetch.act_write)
        with m.Switch(answer_region):
            for region, value in answers.items():
                with m.Case(region):
                    m.d.comb += reads.data.eq(value)
        self._interrupt(m, bank)
        return m

    def _interrupt(self, m, bank):
        """``IRQ_PENDING``, set as ``busy`` falls, cleared by ``IRQ_CLEAR``; and ``irq``."""
        reg = bank.port
        was_busy = Signal()
        pending = Signal()
        clear = reg("IRQ_CLEAR")
        m.d.sync += was_busy.eq(self.busy)
        with m.If(was_busy & ~self.busy):
            m.d.sync += pending.eq(1)
        with m.Elif(clear.w_stb & clear.w_data[0]):
            m.d.sync += pending.eq(0)
        irq = Signal()
        m.d.sync += irq.eq(pending & reg("IRQ_ENABLE").value)
        m.d.comb += [reg("IRQ_PENDING").r_data.eq(pending), self.irq.eq(irq)]

    def _network(self, m, settings, inputs, network, run, sequencer_start, counters, accum,
                 gaps, fetch, writes, bank, answers):
        """The resident network's blocks: the sequencer and its layer table, the drain with
        its output stages, the result memory; and the run's busy, status and reads."""
        cfg = self.cfg
        reg = bank.port
        reads = bank.outputs
        sequencer = m.submodules.network = NetworkSequencer(cfg)
        drain = m.submodules.drain = OutputDrain(cfg)
        control = reg("CONTROL")
        m.d.comb += [
            sequencer.request.eq(control.w_stb & (control.w_data == Control.NETWORK.value)),
            sequencer.n_layers.eq(reg("N_LAYERS").value),
            sequencer.running.eq(drain.running),
            sequencer.counters.eq(Cat(getattr(counters, register.port_name)
                                      for register in COUNTERS)),
            reg("NETWORK_CYCLES").r_data.eq(sequencer.cycles),
        ]
        wiring.connect(m, writes.layer_write, sequencer.table_write)
        wiring.connect(m, writes.param_write, drain.param_write)
        wiring.connect(m, writes.table_write, drain.table_write)
        with m.If(sequencer.load):
            m.d.sync += [settings.eq(sequencer.settings), inputs.eq(reg("BATCH").value),
                         network.eq(1)]
        m.d.comb += sequencer_start.eq(sequencer.start)

        m.d.comb += [
            drain.start.eq(run.start[3] & network),
            drain.rows_landed.eq(accum.rows),
            drain.read_words.eq(accum.read_words),
            drain.settings.eq(settings),
            drain.inputs.eq(inputs),
            accum.read_row.eq(Mux(sequencer.busy, drain.read_row, reads.index)),
            accum.read_en.eq(drain.read_en | (reads.en & (reads.region == Region.OUTPUTS))),
            counters.busy.eq(Mux(network, sequencer.layer_busy, run.busy)),
            self.busy.eq(run.busy | sequencer.busy),
            reg("STATUS").r_data.eq(Mux(network, sequencer.status.as_value() | Mux(
                accum.overrun | gaps.overrun, Status.OVERRUN.value, 0), run.status)),
        ]
        # The activation memories are written by the bus between runs, by the drain during
        # a network run.
        bus_write, drain_write = writes.act_write, drain.act_write
        for name in ("addr", "data", "mask"):
            m.d.comb += getattr(fetch.act_write, name).eq(
                Mux(drain_write.en, getattr(drain_write, name), getattr(bus_write, name)))
        m.d.comb += fetch.act_write.en.eq(bus_write.en | drain_write.en)

        results = BankedMemory(m, shape=BUS_WIDTH, depth=cfg.result_words,
                               granularity=cfg.data_width, name="results")
        write = drain.result_write
        m.d.comb += [results.write_addr.eq(write.addr), results.write_data.eq(write.data),
                     results.write_en.eq(Mux(write.en, write.mask, 0)),
                     results.read_addr.eq(reads.index), results.read_en.eq(reads.en)]
        word = results.read_data
        answers[Region.RESULTS] = word

        m.d.comb += [sequencer.counter_index.eq(reads.index),
                     sequencer.counter_en.eq(reads.en & (reads.region ==
                                                         Region.LAYER_COUNTERS))]
        answers[Region.LAYER_COUNTERS] = sequencer.counter_data


def multiplier_count(cfg, family=None):
    """Hardware multipliers (DSP blocks) of ``cfg``'s accelerator on an FPGA ``family``: one
    per lane (on an iCE40, one per pair of lanes of at most 8 bits:
    :func:`hw.arith.registered_products`), and two per output stage of the resident
    networks' drain (the low and high halves of a sum times its multiplier)."""
    lanes = cfg.pes
    if str(family).lower() == "ice40" and cfg.data_width <= ICE40_HALF_WIDTH:
        lanes = -(-cfg.pes // 2)
    return lanes + (2 * cfg.output_ports if cfg.chains else 0)


@functools.cache
def pipeline_latency(cfg):
    """The :attr:`Accelerator.latency` of ``cfg``'s accelerator, from its blocks, without
    elaborating it: what the host's cycle model adds to a run's beats."""
    return Accelerator(cfg).latency
