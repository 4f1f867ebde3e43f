# amaranth: UnusedElaboratable=no
# (a drain makes its output stages to know its latency)
"""Resident networks: the output drain, which turns a layer's sums into the next layer's INT8
inputs on chip, and the sequencer that runs the layer table for a batch."""

import functools

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .bus import BUS_WIDTH, Status
from .config import ceil_log2
from .counters import COUNTERS
from .fetch import ActivationWriteSignature
from .layouts import TABLE_WORDS, layer_layout, layer_words
from .memory import BlockMemory, registered_read
from .output import OutputStage
from .sequencer import WordWriteSignature


__all__ = ["ResultWriteSignature", "OutputDrain", "NetworkSequencer", "layer_words",
           "drain_latency", "TABLE_WORDS"]

@functools.cache
def drain_latency(cfg):
    """:attr:`OutputDrain.latency` of ``cfg``'s drain, without elaborating it."""
    return OutputDrain(cfg).latency


class ResultWriteSignature(wiring.Signature):
    """Writes the activations of ``mask`` in bus word ``addr`` of the result memory."""
    def __init__(self, cfg):
        super().__init__({
            "addr": Out(max(1, ceil_log2(cfg.result_words))),
            "data": Out(BUS_WIDTH),
            "mask": Out(cfg.acts_per_word),
            "en":   Out(1),
        })


class OutputDrain(wiring.Component):
    """Reads a resident layer's rows out of the accumulator's banks as they land, C
    (``output_ports``) at a time, through C :class:`~hw.output.OutputStage` s, and writes
    their INT8 values where the next layer reads its input, or into the result memory.

    Rows come ``rows`` per input (a multiple of C) for ``inputs`` inputs; row ``r`` of input
    ``b`` takes the parameters of row ``param_base + r`` (stage ``r % C`` holds the rows of
    its residue) and the activation table ``table``, and goes to activation
    ``out_base + b * out_stride + r`` (``out_base`` and ``out_stride`` multiples of four):
    C rows are one write of C bytes of a bus word (none with ``keep_sums``: the sums stay in
    the banks for the host to read). A group of C rows is read two cycles
    after the accumulator counts its last one, and the drain keeps pace with the
    accumulator (C rows a cycle at most), so the banks never fill.

    ``running`` is high from ``start`` until the last row of the last input is written.

    Members
    -------
    start : ``In(1)``
        The layer starts (with the accumulator's clear); its settings must hold until
        ``running`` falls.
    rows_landed : ``In(row_width + 1)``
        The accumulator's ``rows``.
    read_row, read_en : ``Out(...)``
    read_words : ``In(ArrayLayout(signed(acc_width), C))``
        The accumulator's read port.
    settings : ``In(layer_layout(cfg))``
    inputs : ``In(input_count_width)``
    param_write : ``In(WordWriteSignature(param_rows, 2))``
        Row ``beat``'s parameters (:func:`hw.output.row_params_layout`), word ``word``.
    table_write : ``In(WordWriteSignature(max_layers * TABLE_WORDS, 1))``
    act_write : ``Out(ActivationWriteSignature(cfg))``
    result_write : ``Out(ResultWriteSignature(cfg))``
    running : ``Out(1)``
    """
    def __init__(self, cfg):
        self.cfg = cfg
        self.stages = [OutputStage(cfg, param_depth=cfg.param_rows // cfg.output_ports,
                                   tables=cfg.max_layers)
                       for _ in range(cfg.output_ports)]
        super().__init__({
            "start":        In(1),
            "rows_landed":  In(cfg.row_width + 1),
            "read_row":     Out(cfg.row_width),
            "read_en":      Out(1),
            "read_words":   In(data.ArrayLayout(signed(cfg.acc_width), cfg.output_ports)),
            "settings":     In(layer_layout(cfg)),
            "inputs":       In(cfg.input_count_width),
            "param_write":  In(WordWriteSignature(cfg.param_rows, 2)),
            "table_write":  In(WordWriteSignature(cfg.max_layers * TABLE_WORDS, 1)),
            "act_write":    Out(ActivationWriteSignature(cfg)),
            "result_write": Out(ResultWriteSignature(cfg)),
            "running":      Out(1),
        })

    @property
    def latency(self):
        """Cycles from the accumulator's count of a group's last row to its write: the
        decision (1), the bank read (2), the output stage and the write's register."""
        return 3 + self.stages[0].latency + 1

    def elaborate(self, platform):
        cfg = self.cfg
        ports = cfg.output_ports
        port_bits = ceil_log2(ports)
        byte_bits = ceil_log2(cfg.acts_per_word)
        settings = self.settings
        m = Module()

        # The drain: a group of C rows is read once the accumulator has counted them.
        active = Signal()
        drained = Signal.like(self.rows_landed)
        row = Signal.like(settings.rows)            # the group's first row in its input
        inputs_left = Signal.like(self.inputs)
        place = Signal.like(settings.out_base)      # where the group goes
        input_place = Signal.like(settings.out_base)
        # A group of C rows has landed when the count of whole groups landed passes the
        # drained one: drained is a multiple of C and never more than C groups behind the
        # ring's size, so an equality of the counts' high bits says it, with no carry chain.
        port_shift = ceil_log2(ports)
        waiting = Signal()
        m.d.comb += waiting.eq(self.rows_landed[port_shift:] != drained[port_shift:])
        last_row = Signal.like(settings.rows)       # the first row of an input's last group
        issue = Signal()
        issue_row = Signal.like(drained)
        issue_tag = Signal(data.StructLayout({"row": len(row), "place": len(place)}))
        m.d.sync += issue.eq(0)
        with m.If(self.start):
            m.d.sync += [active.eq(self.inputs != 0), drained.eq(0), row.eq(0),
                         inputs_left.eq(self.inputs), place.eq(settings.out_base),
                         input_place.eq(settings.out_base),
                         last_row.eq(settings.rows - ports)]
        with m.Elif(active & waiting):
            m.d.sync += [issue.eq(1), issue_row.eq(drained), issue_tag.row.eq(row),
                         issue_tag.place.eq(place), drained.eq(drained + ports)]
            with m.If(row == last_row):
                next_place = input_place + settings.out_stride
                m.d.sync += [row.eq(0), input_place.eq(next_place), place.eq(next_place),
                             inputs_left.eq(inputs_left - 1)]
                with m.If(inputs_left == 1):
                    m.d.sync += active.eq(0)
            with m.Else():
                m.d.sync += [row.eq(row + ports), place.eq(place + ports)]
        m.d.comb += [self.read_en.eq(issue), self.read_row.eq(issue_row)]

        # The banks' words arrive two cycles after the read; the tag waits beside them.
        words_valid = Signal()
        read_valid = Signal()
        read_tag = Signal.like(issue_tag)
        words_tag = Signal.like(issue_tag)
        m.d.sync += [read_valid.eq(issue), words_valid.eq(read_valid),
                     read_tag.eq(issue_tag), words_tag.eq(read_tag)]

        stages = self.stages
        # Slices, not shifts: a shift by a constant of no bits (C = 1) crashes YoWASP Yosys's
        # opt_expr (0.5x), which the formal proofs run.
        for index, stage in enumerate(stages):
            m.submodules[f"stage_{index}"] = stage
            m.d.comb += [
                stage.i.valid.eq(words_valid),
                stage.i.payload.sum.eq(self.read_words[index]),
                stage.i.payload.row.eq(words_tag.row[port_bits:]),
                stage.o.ready.eq(1),
                stage.param_base.eq(settings.param_base[port_bits:]),
                stage.table.eq(settings.table),
                stage.param_write.beat.eq(self.param_write.beat[port_bits:]),
                stage.param_write.word.eq(self.param_write.word),
                stage.param_write.data.eq(self.param_write.data),
                stage.param_write.en.eq(self.param_write.en & (
                    self.param_write.beat[:port_bits] == index if port_bits else 1)),
            ]
            m.d.comb += [stage.table_write.beat.eq(self.table_write.beat),
                         stage.table_write.word.eq(self.table_write.word),
                         stage.table_write.data.eq(self.table_write.data),
                         stage.table_write.en.eq(self.table_write.en)]

        # The place of the group waits beside it through the stages (which never stall).
        place_out = words_tag.place
        for cycle in range(stages[0].latency):
            delayed = Signal.like(place_out, name=f"place_{cycle}")
            m.d.sync += delayed.eq(place_out)
            place_out = delayed
        # The write: C bytes of a word, at the group's place in it.
        values = Cat(stage.o.payload.value for stage in stages)
        write_data = Signal(BUS_WIDTH)
        write_mask = Signal(cfg.acts_per_word)
        write_addr = Signal(len(place_out) - byte_bits)
        write_valid = Signal()
        write_results = Signal()
        group_mask = (1 << ports) - 1
        m.d.sync += [
            write_valid.eq(stages[0].o.valid & ~settings.keep_sums),
            write_results.eq(settings.to_results),
            write_data.eq(values.replicate(cfg.acts_per_word // ports)),
            write_mask.eq(group_mask << place_out[:byte_bits] if byte_bits else 1),
            write_addr.eq(place_out[byte_bits:]),
        ]
        for port, en in ((self.act_write, write_valid & ~write_results),
                         (self.result_write, write_valid & write_results)):
            m.d.comb += [port.addr.eq(write_addr), port.data.eq(write_data),
                         port.mask.eq(write_mask), port.en.eq(en)]

        in_flight = Cat(issue, read_valid, words_valid, write_valid,
                        *(stage.o.valid for stage in stages)).any()
        stage_busy = Signal()
        # A stage's inner pipeline: it is empty a stage latency after its last input.
        pending = Signal(range(stages[0].latency + 2))
        with m.If(words_valid):
            m.d.sync += pending.eq(stages[0].latency + 1)
        with m.Elif(pending != 0):
            m.d.sync += pending.eq(pending - 1)
        m.d.comb += stage_busy.eq(pending != 0)
        m.d.comb += self.running.eq(self.start | active | in_flight | stage_busy)
        return m


class NetworkSequencer(wiring.Component):
    """Runs the first ``n_layers`` entries of the layer table (:func:`hw.layouts.layer_layout`)
    one after the other, each for all ``batch`` inputs, on ``request``.

    For each layer it reads the entry and presents it on ``settings`` with ``load`` high for
    a cycle (the accelerator keeps it), pulses ``start`` in the next cycle, and waits for the drain's
    ``running`` to fall; it then stores the layer's counters (``counters``, one word per
    register of :data:`~hw.counters.COUNTERS`) in the counter memory, read at
    ``counter_read``. ``busy`` is high from the cycle after the request until ``done``;
    ``layer_busy`` while a layer runs (its counters count). ``cycles`` counts the cycles of
    the whole run.

    Members
    -------
    request : ``In(1)``
    n_layers : ``In(range(max_layers + 1))``
    table_write : ``In(WordWriteSignature(max_layers, layer_words))``
    settings : ``Out(layer_layout(cfg))``
    load, start : ``Out(1)``
    running : ``In(1)``
    counters : ``In(ArrayLayout(32, len(COUNTERS)))``
    counter_index, counter_en : ``In(...)``
    counter_data : ``Out(32)``
        Reads counter ``index & 7`` of layer ``index >> 3``; the word is on ``counter_data``
        two cycles later.
    busy, done, layer_busy : ``Out(1)``
    cycles : ``Out(32)``
    status : ``Out(Status)``
        ``BUSY`` and ``DONE``, registered.
    """
    def __init__(self, cfg):
        self.cfg = cfg
        self.words = layer_words(cfg)
        layer_bits = max(1, ceil_log2(cfg.max_layers))
        super().__init__({
            "request":      In(1),
            "n_layers":     In(range(cfg.max_layers + 1)),
            "table_write":  In(WordWriteSignature(cfg.max_layers, self.words)),
            "settings":     Out(layer_layout(cfg)),
            "load":         Out(1),
            "start":        Out(1),
            "running":      In(1),
            "counters":     In(data.ArrayLayout(BUS_WIDTH, len(COUNTERS))),
            "counter_index": In(layer_bits + 3),
            "counter_en":   In(1),
            "counter_data": Out(BUS_WIDTH),
            "busy":         Out(1),
            "done":         Out(1),
            "layer_busy":   Out(1),
            "cycles":       Out(BUS_WIDTH),
            "status":       Out(Status),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        # The layer table and the counter memory are block RAMs, read through a register:
        # the host writes the one and reads the other between runs.
        table = m.submodules.table = BlockMemory(shape=self.words * BUS_WIDTH,
                                                 depth=cfg.max_layers)
        write = table.write_port(granularity=BUS_WIDTH)
        m.d.comb += [write.addr.eq(self.table_write.beat),
                     write.data.eq(self.table_write.data.replicate(self.words)),
                     write.en.eq(Cat(self.table_write.en & (self.table_write.word == word)
                                     for word in range(self.words)))]
        read = registered_read(m, table, name="layer_read")
        layer = Signal(range(cfg.max_layers + 1))
        m.d.comb += [read.addr.eq(layer), self.settings.eq(read.data)]

        counters = m.submodules.counters = BlockMemory(
            shape=len(COUNTERS) * BUS_WIDTH, depth=cfg.max_layers)
        store = counters.write_port()
        m.d.comb += [store.addr.eq(layer), store.data.eq(self.counters)]
        load = registered_read(m, counters, name="counter_read")
        chosen = Signal(3)
        m.d.comb += [load.addr.eq(self.counter_index[3:]), load.en.eq(self.counter_en)]
        with m.If(self.counter_en):
            m.d.sync += chosen.eq(self.counter_index[:3])
        entry = load.data
        words = [entry[BUS_WIDTH * i:BUS_WIDTH * (i + 1)] for i in range(len(COUNTERS))]
        with m.Switch(chosen):
            for index, word in enumerate(words):
                with m.Case(index):
                    m.d.sync += self.counter_data.eq(word)
            with m.Default():
                m.d.sync += self.counter_data.eq(0)

        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        m.d.sync += self.status.eq(Cat(self.busy, self.done))
        # The request (decoded from the bus write in its cycle) sets only busy and done; the
        # run starts a cycle later, from a register, so that the decoding does not reach the
        # sequencer's state and counters.
        started = Signal()
        m.d.sync += started.eq(self.request & ~self.busy)
        with m.If(self.request & ~self.busy):
            m.d.sync += [self.busy.eq(1), self.done.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(started):
                    m.d.sync += [layer.eq(0), self.cycles.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):             # the entry's read
                m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(layer == self.n_layers):
                    m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.load.eq(1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.start.eq(1)
                m.d.sync += self.layer_busy.eq(1)
                m.next = "RUN"
            with m.State("RUN"):
                with m.If(~self.running):
                    m.d.sync += [self.layer_busy.eq(0), layer.eq(layer + 1)]
                    m.d.comb += store.en.eq(1)
                    m.next = "FETCH"
        return m
