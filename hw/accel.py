# amaranth: UnusedElaboratable=no
# (an accelerator and its datapath are made without elaborating them to know its latency)
"""The accelerator: memories, datapath, control registers and counters behind a word bus."""

import functools

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .accum import OutputAccumulator
from .bus import (ACCEL_ID, ACCELERATOR_REGISTERS, BUS_WIDTH, BusSignature,
                  MemoryWriteSignature, Region, RegisterBank, bus_addr_width, pattern_word_bits)
from .config import FORMAT_VERSION
from .control import RunControl, WeightStream
from .counters import COUNTERS, PerformanceCounters
from .decode import BeatDecoder
from .fetch import ActivationWriteSignature, FetchUnit
from .layouts import Format
from .pe import PEArray
from .reduce import ReductionTree
from .replicas import replicas
from .sequencer import BeatSource, WordWriteSignature


__all__ = ["MemoryWrites", "Accelerator", "pipeline_latency"]


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
            weight.beat.eq(self.weight_beat),
            weight.word.eq(self.weight_word),
            pattern.beat.eq(index[pattern_word_bits(cfg):]),
            pattern.word.eq(index[:pattern_word_bits(cfg)]),
        ]
        m.d.comb += [act.data.eq(act_data), weight.data.eq(weight_data),
                     pattern.data.eq(pattern_data)]
        return m


class Accelerator(wiring.Component):
    """A sparse matrix-vector engine for one :class:`~hw.config.AccelConfig`.

    The host streams the encoded weights and writes the activations over ``bus``, describes
    the layer (``FORMAT`` and its constants, the pattern table, ``N_BEATS``, ``N_ROWS``,
    ``N_LANES``), writes 1 to ``CONTROL`` and polls ``STATUS`` for ``DONE``; it then reads the
    sums of the rows the layer computes from the output region and the counters from the
    registers (``host.bus`` lists every write). A run of ``n > 0`` beats takes exactly
    ``n +`` :attr:`latency` cycles, and one of no beats takes one cycle.

    Datapath (:attr:`datapath`): :class:`BeatSource` -> :class:`BeatDecoder` ->
    :class:`FetchUnit` -> :class:`PEArray` -> :class:`ReductionTree` ->
    :class:`OutputAccumulator`, joined by streams. Only the decoder knows the format;
    everything after it is shared.

    Members
    -------
    bus : ``In(BusSignature(cfg))``
        Host access to registers and memories.
    busy : ``Out(1)``
        A run is in progress.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        self.datapath = (BeatSource(cfg), BeatDecoder(cfg), FetchUnit(cfg), PEArray(cfg),
                         ReductionTree(cfg), OutputAccumulator(cfg))
        super().__init__({"bus": In(BusSignature(cfg)), "busy": Out(1)})

    @property
    def latency(self):
        """Fixed pipeline latency L of a run, in cycles: the sum of the datapath blocks'
        latencies (the weight memory's read and registers, the decoder, the activation
        reads, the multipliers, the reduction tree, the output stage's arrival). Nothing
        stalls: no beat closes more than ``output_ports`` rows (:func:`host.encode.encode`)."""
        return sum(block.latency for block in self.datapath)

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()

        source, decode, fetch, pes, tree, accum = self.datapath
        for name, block in zip(("source", "decode", "fetch", "pes", "tree", "accum"),
                               self.datapath):
            m.submodules[name] = block
        wiring.connect(m, source.o, decode.i)
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

        m.d.comb += [
            source.n_beats.eq(reg("N_BEATS").value),
            source.pattern_beats.eq(reg("PATTERN_BEATS").value),
            decode.format.eq(reg("FORMAT").value),
            decode.index_bits.eq(reg("INDEX_BITS").value),
            decode.list_beats.eq(reg("TILE_LIST_BEATS").value),
            decode.tile_beats.eq(reg("TILE_BEATS").value),
            decode.n_lanes.eq(reg("N_LANES").value),
        ]

        # A write of 1 to CONTROL makes the accelerator busy at once; the run starts in the
        # next cycle, on a copy of the start pulse for the decoder, the output stage and the
        # counters (the beat source makes its own from the request).
        run = m.submodules.run = RunControl(beats_width=len(source.n_beats),
                                            rows_width=len(accum.rows), copies=3)
        request = reg("CONTROL").w_stb & reg("CONTROL").w_data[0]
        m.d.comb += [
            run.request.eq(request), source.request.eq(request),
            run.n_beats.eq(reg("N_BEATS").value), run.retired.eq(accum.retired),
            run.n_rows.eq(reg("N_ROWS").value), run.rows.eq(accum.rows),
            run.overrun.eq(accum.overrun),
            decode.restart.eq(run.start[0]), accum.clear.eq(run.start[1]),
            self.busy.eq(run.busy), reg("STATUS").r_data.eq(run.status),
        ]

        counters = m.submodules.counters = PerformanceCounters(cfg)
        m.d.comb += [
            counters.start.eq(run.start[2]), counters.busy.eq(run.busy),
            counters.lanes.eq(decode.o.payload.lanes),
            counters.decoded.eq(decode.o.valid & decode.o.ready),
            counters.reads.eq(decode.reads),
            counters.unstructured.eq(reg("FORMAT").value == Format.UNSTRUCTURED),
            counters.operands.eq(fetch.o.payload),
            counters.fed.eq(fetch.o.valid & fetch.o.ready),
        ]
        m.d.comb += [reg(register.name).r_data.eq(getattr(counters, register.port_name))
                     for register in COUNTERS]

        m.d.comb += [accum.read_row.eq(bank.outputs.index), accum.read_en.eq(bank.outputs.en),
                     bank.outputs.data.eq(accum.read_data)]
        return m


@functools.cache
def pipeline_latency(cfg):
    """The :attr:`Accelerator.latency` of ``cfg``'s accelerator, from its blocks, without
    elaborating it: what the host's cycle model adds to a run's beats."""
    return Accelerator(cfg).latency
