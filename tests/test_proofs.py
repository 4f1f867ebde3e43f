# amaranth: UnusedElaboratable=no
"""Formal proofs (SymbiYosys, see ``tests/formal.py``) of the stream blocks, the UART and the
link decoder, each beside a deliberately broken variant that the same proof must reject."""

import dataclasses
import types

import pytest
from amaranth.hdl import Assert, Assume, Cat, Const, Mux, Signal, Value, signed
from amaranth.lib import stream

from hw.config import AccelConfig
from hw.accum import OutputAccumulator
from hw.chain import NetworkSequencer, OutputDrain
from hw.decode import BeatDecoder
from hw.fetch import FetchUnit
from hw.gaps import GapDecoder
from hw.layouts import Format
from hw.link import (ANSWER_HEADER_BYTES, ANSWER_SYNC, CRC_BYTES,
                     REQUEST_HEADER_BYTES, REQUEST_SYNC, AnswerHeader, Command, LinkDecoder,
                     LinkStatus, RequestHeader)
from hw.output import OutputStage
from hw.pe import PEArray
from hw.reduce import ReductionTree
from hw.sequencer import BeatSource
from hw.streams import StreamRegister
from hw.uart import UARTRx, UARTTx
from tests.formal import FormalToolError, Harness, prove


HOLDS = "a beat offered holds until taken"
IN_ORDER = "the beats out are the beats in, in order"
LOST = "no beat is lost"
MADE_UP = "no beat comes out of nothing"


class StreamHarness(Harness):
    """A stream block ``dut`` between a free source and a free sink.

    Assumed: the source keeps ``valid`` and its payload until taken. Asserted: so does the
    block's output (``o.valid & ~o.ready`` in one cycle implies ``o.valid`` and the same
    payload in the next); the beats out are the beats in, in order, none lost, duplicated or
    made up: of beats in minus beats out, never below 0 nor above ``capacity``, and any one
    beat, chosen by the solver, comes out as the beat its rank says (``carried`` gives what
    a beat carries through the block, ``payload -> value``, for ``i`` and ``o``).
    ``drive(m, dut)`` drives the block's other inputs. ``invariants(dut, state)`` are
    asserted too, to close an induction: ``state`` has the harness's ``inside``,
    ``following``, ``ahead`` and ``followed``.
    """
    def __init__(self, dut, *, capacity, carried_in=None, carried_out=None, drive=None,
                 invariants=None):
        self.dut = dut
        self.capacity = capacity
        self.carried_in = carried_in or (lambda payload: payload)
        self.carried_out = carried_out or (lambda payload: payload)
        self.drive = drive
        self.invariants = invariants

    def properties(self, m):
        dut = m.submodules.dut = self.dut
        i, o = dut.i, dut.o
        if self.drive is not None:
            self.drive(m, dut)
        source_valid = self.free(1, name="source_valid")
        source_payload = self.free(i.payload.shape(), name="source_payload")
        m.d.comb += [i.valid.eq(source_valid), i.payload.eq(source_payload),
                     o.ready.eq(self.free(1, name="sink_ready"))]

        # The source keeps its beat until taken; the block must keep its own.
        for port, check in ((i, Assume), (o, Assert)):
            waiting = Signal()
            held = Signal.like(port.payload)
            m.d.sync += [waiting.eq(port.valid & ~port.ready), held.eq(port.payload)]
            m.d.comb += check(~waiting | (port.valid & (Value.cast(port.payload)
                                                          == Value.cast(held))), HOLDS)

        taken_in, taken_out = i.valid & i.ready, o.valid & o.ready
        inside = Signal(range(self.capacity + 2))
        m.d.sync += inside.eq(inside + taken_in - taken_out)
        m.d.comb += Assert(~taken_out | (inside + taken_in != 0), MADE_UP)
        m.d.comb += Assert(inside <= self.capacity, LOST)

        # One beat, picked by the solver as it goes in, followed to the way out.
        pick = self.free(1, name="pick")
        following = Signal()
        ahead = Signal.like(inside)
        value_in = self.carried_in(i.payload)
        value_out = self.carried_out(o.payload)
        followed = Signal.like(value_in)
        m.d.comb += Assert(~following | (ahead < inside), LOST)
        with m.If(following & taken_out):
            with m.If(ahead == 0):
                m.d.comb += Assert(Value.cast(value_out) == Value.cast(followed), IN_ORDER)
                m.d.sync += following.eq(0)
            with m.Else():
                m.d.sync += ahead.eq(ahead - 1)
        with m.If(~following & taken_in & pick):
            m.d.sync += [following.eq(1), followed.eq(value_in),
                         ahead.eq(inside - taken_out)]
        if self.invariants is not None:
            state = types.SimpleNamespace(inside=inside, following=following, ahead=ahead,
                                          followed=followed)
            m.d.comb += [Assert(invariant, "invariant")
                         for invariant in self.invariants(self.dut, state)]


def one_register(carried_out=lambda payload: payload):
    """The invariants of a block that holds one beat, in its output register: the induction
    of a :class:`StreamHarness` closes with them."""
    def invariants(dut, state):
        return [state.inside == dut.o.valid,
                ~state.following | (Value.cast(carried_out(dut.o.payload))
                                    == Value.cast(state.followed))]
    return invariants


def takes_while_stalled(cls):
    """``cls`` broken: its input always ready, so that a beat taken while the block is
    stalled is lost."""
    class Broken(cls):
        def elaborate(self, platform):
            m = super().elaborate(platform)
            m.d.comb += self.i.ready.eq(1)
            return m
    Broken.__name__ = f"{cls.__name__}TakesWhileStalled"
    return Broken


def ignores_ready(cls):
    """``cls`` broken: it moves on whether or not its sink takes the beat (its own output
    stream's ``ready`` always high), so that a stalled beat changes or vanishes."""
    class Broken(cls):
        def elaborate(self, platform):
            outer = self.o
            self.o = inner = stream.Signature(outer.payload.shape()).create()
            try:
                m = super().elaborate(platform)
            finally:
                self.o = outer
            m.d.comb += [outer.valid.eq(inner.valid), outer.payload.eq(inner.payload),
                         inner.ready.eq(1)]
            return m
    Broken.__name__ = f"{cls.__name__}IgnoresReady"
    return Broken


def check(harness, *, mode, depth, broken, rejects=None):
    """Proves the harness, or, if ``broken``, checks that a counterexample breaks it (one of
    the assertions ``rejects``, if given)."""
    proof = prove(harness, mode=mode, depth=depth)
    print(proof)
    if broken:
        assert proof.status == "FAIL", proof
        assert proof.failed
        if rejects is not None:
            assert set(proof.failed) & set(rejects), proof
    else:
        assert proof.status == "PASS", proof.log[-3000:]
    return proof


def test_a_tool_error_is_not_a_failed_proof():
    harness = StreamHarness(StreamRegister(8), capacity=1)
    with pytest.raises(FormalToolError, match=r"^SymbiYosys gave no verdict \(ERROR\)"):
        prove(harness, mode="bmc", depth=2, engine="smtbmc no-such-solver")


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_stream_register(broken):
    cls = takes_while_stalled(StreamRegister) if broken else StreamRegister
    check(StreamHarness(cls(8), capacity=1, invariants=one_register()), mode="prove", depth=4,
          broken=broken)


#: The smallest configuration: the blocks' logic at P = 2, their memories a few words deep.
TINY = AccelConfig(pes=2, data_width=4, acc_width=16, max_k=8, max_m=4, weight_depth=4,
                   max_group_width=2, gap_bits=1, pattern_depth=2, compact_depth=1,
                   output_ports=1, act_depth=8, max_layers=1, param_depth=2, result_depth=1,
                   frame_words=1, link_timeout=16)


def drive_free(harness, m, dut, names):
    """Each of the block's inputs ``names`` a free input."""
    for name in names:
        port = getattr(dut, name)
        m.d.comb += port.eq(harness.free(port.shape(), name=name))


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_gap_decoder(broken):
    """Any gap codes, any run constants, restarts at any time."""
    cls = takes_while_stalled(GapDecoder) if broken else GapDecoder
    dut = cls(TINY)
    harness = StreamHarness(dut, capacity=dut.latency, carried_out=lambda payload: payload.source)
    harness.drive = lambda m, dut: drive_free(harness, m, dut,
                                              ["index_bits", "columns", "format", "restart"])
    check(harness, mode="bmc", depth=12, broken=broken)


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_beat_decoder(broken):
    """Any beats of a grouped or unstructured layer (a tile's list lanes carry no weight);
    each lane's weight is the beat's."""
    cls = takes_while_stalled(BeatDecoder) if broken else BeatDecoder
    dut = cls(TINY)
    weights = lambda payload: Cat(lane.weight for lane in payload.lanes)
    harness = StreamHarness(
        dut, capacity=dut.latency, carried_out=weights, invariants=one_register(weights),
        carried_in=lambda payload: payload.source.beat[:TINY.pes * TINY.data_width])

    def drive(m, dut):
        drive_free(harness, m, dut, ["index_bits", "list_beats", "tile_beats", "n_lanes",
                                     "restart"])
        layer_format = harness.free_const(m, Format, name="format")
        m.d.comb += [Assume(layer_format != Format.TILE), dut.format.eq(layer_format)]
    harness.drive = drive
    check(harness, mode="bmc", depth=10, broken=broken)


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_output_stage(broken):
    """Any rows, any parameter and table writes meanwhile; each row keeps its index."""
    cls = takes_while_stalled(OutputStage) if broken else OutputStage
    dut = cls(TINY, param_depth=2, tables=1)
    harness = StreamHarness(dut, capacity=dut.latency,
                            carried_in=lambda payload: payload.row,
                            carried_out=lambda payload: payload.row)

    def drive(m, dut):
        drive_free(harness, m, dut, ["param_base", "table"])
        for port_name in ("param_write", "table_write"):
            port = getattr(dut, port_name)
            for name in ("beat", "word", "data", "en"):
                member = getattr(port, name)
                m.d.comb += member.eq(harness.free(member.shape(), name=f"{port_name}_{name}"))
    harness.drive = drive
    check(harness, mode="bmc", depth=16, broken=broken)



#: The smallest configuration whose reduction tree has a level of adders: P = 4.
TINY_4 = dataclasses.replace(TINY, pes=4)


def row_ends(cfg, lanes):
    """The row ends before each group of ``cfg.row_granularity`` lanes and in the whole beat,
    each saturated at C + 1, from the ``last`` of each group's last lane."""
    group, runs = cfg.row_granularity, cfg.output_ports + 1
    ends = [lanes[group * leaf + group - 1].last for leaf in range(cfg.run_leaves)]
    counts = [sum(ends[:leaf], Const(0, 8)) for leaf in range(cfg.run_leaves + 1)]
    width = len(Value.cast(Const(0, range(runs + 2))))
    return [Mux(count > runs, runs, count)[:width] for count in counts]


class CrossedLanes(PEArray):
    """Broken: lane 0 gives lane 1's product."""
    def elaborate(self, platform):
        m = super().elaborate(platform)
        lanes = self.o.payload.lanes
        m.d.comb += lanes[0].product.eq(lanes[1].product)
        return m


@pytest.mark.parametrize("cfg, cls, rejects", [
    (TINY, PEArray, None), (TINY_4, PEArray, None),
    (TINY_4, takes_while_stalled(PEArray), [LOST]), (TINY_4, CrossedLanes, [IN_ORDER]),
], ids=["P2", "P4", "P4-stall-broken", "P4-lanes-broken"])
def test_pe_array(cfg, cls, rejects):
    """Any operands: each lane's product is its weight times its activation, each group's run
    and the beat's row ends are counted from the lanes' ``last``."""
    dut = cls(cfg)

    def carried_in(payload):
        counts = row_ends(cfg, payload)
        return Cat(*((lane.weight * lane.activation)[:cfg.product_width] for lane in payload),
                   *counts[1:-1], counts[-1])

    def carried_out(payload):
        return Cat(*(lane.product for lane in payload.lanes), *list(payload.runs)[1:],
                   payload.closes)
    harness = StreamHarness(dut, capacity=dut.latency, carried_in=carried_in,
                            carried_out=carried_out)
    check(harness, mode="bmc", depth=8, broken=rejects is not None, rejects=rejects)


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_reduction_tree(broken):
    """Any products, runs and row ends (P = 4, a level of adders): each run's sum is the sum
    of the products of the groups of that run, the row ends are carried through."""
    cfg = TINY_4
    cls = takes_while_stalled(ReductionTree) if broken else ReductionTree
    dut = cls(cfg)
    group = cfg.row_granularity

    def carried_in(payload):
        lanes = payload.lanes
        leaves = [sum(lanes[lane].product for lane in range(group * i, group * i + group))
                  for i in range(cfg.run_leaves)]
        sums = [sum(Mux(payload.runs[leaf] == run, value, 0)
                    for leaf, value in enumerate(leaves))[:cfg.sum_width]
                for run in range(cfg.output_ports + 1)]
        return Cat(*sums, payload.closes)
    harness = StreamHarness(dut, capacity=dut.latency, carried_in=carried_in,
                            carried_out=lambda payload: Cat(*payload.sums, payload.closes))
    check(harness, mode="bmc", depth=8, broken=broken)


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
@pytest.mark.parametrize("lut_ram", [True, False], ids=["lut-ram", "block-ram"])
def test_fetch_unit(lut_ram, broken):
    """Any beats, gathers and compact reads (P = 2), no activation writes; each lane's
    weight and row end are carried through."""
    cls = takes_while_stalled(FetchUnit) if broken else FetchUnit
    dut = cls(TINY, lut_ram=lut_ram)
    harness = StreamHarness(
        dut, capacity=dut.latency,
        carried_in=lambda payload: Cat(Cat(lane.weight, lane.last) for lane in payload.lanes),
        carried_out=lambda payload: Cat(Cat(lane.weight, lane.last) for lane in payload))

    def drive(m, dut):
        write = dut.act_write
        m.d.comb += [write.en.eq(0), write.addr.eq(harness.free(write.addr.shape(), name="addr")),
                     write.data.eq(harness.free(write.data.shape(), name="data")),
                     write.mask.eq(harness.free(write.mask.shape(), name="mask"))]
    harness.drive = drive
    check(harness, mode="bmc", depth=8, broken=broken)


class SourceHarness(Harness):
    """A stream source ``dut`` (``o`` only) into a free sink, its other inputs (``inputs``)
    free. Asserted: under any back-pressure a beat offered holds until taken."""
    def __init__(self, dut, inputs):
        self.dut = dut
        self.inputs_free = inputs

    def properties(self, m):
        dut = m.submodules.dut = self.dut
        o = dut.o
        for name in self.inputs_free:
            port = dut
            for part in name.split("."):
                port = getattr(port, part)
            m.d.comb += port.eq(self.free(port.shape(), name=name.replace(".", "_")))
        m.d.comb += o.ready.eq(self.free(1, name="sink_ready"))
        waiting = Signal()
        held = Signal.like(o.payload)
        m.d.sync += [waiting.eq(o.valid & ~o.ready), held.eq(o.payload)]
        m.d.comb += Assert(~waiting | (o.valid & (Value.cast(o.payload) == Value.cast(held))),
                           HOLDS)


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_beat_source(broken):
    """Any runs requested at any time, any layer and weight or pattern writes meanwhile."""
    cls = ignores_ready(BeatSource) if broken else BeatSource
    dut = cls(TINY)
    inputs = ["request", "beat_start", "n_beats", "pattern_start", "pattern_beats", "inputs",
              "offset_base", "offset_stride",
              *(f"{port}.{name}" for port in ("write", "pattern_write")
                for name in ("beat", "word", "data", "en"))]
    check(SourceHarness(dut, inputs), mode="bmc", depth=12, broken=broken, rejects=[HOLDS])


ROW_SUM = "a row read back is the sum of its runs, the carry added to its first"
ROW_COUNT = "the rows counted are the rows the beats closed"


class AccumulatorHarness(Harness):
    """An :class:`~hw.accum.OutputAccumulator` fed any beats (any sums, row ends up to
    C + 1) and clears between them, read at any time. Asserted: it takes every beat; ``rows``
    counts the rows the beats close and ``overrun`` marks a beat that closes more than C; a
    row, chosen by the solver, reads back as the sum of its runs (a run the beats before it
    left open added to its first), as a model of the contract computes it. Assumed: no
    beat while ``clear``, the rows fit in the banks, and no write of the chosen row while it
    is read."""
    def __init__(self, cfg, accumulator=OutputAccumulator):
        self.cfg = cfg
        self.accumulator = accumulator

    def properties(self, m):
        cfg = self.cfg
        ports = cfg.output_ports
        dut = m.submodules.dut = self.accumulator(cfg)
        i = dut.i
        free = self.free
        m.d.comb += [i.valid.eq(free(1, name="valid")),
                     i.payload.eq(free(i.payload.shape(), name="payload")),
                     dut.clear.eq(free(1, name="clear")),
                     dut.read_row.eq(free(dut.read_row.shape(), name="read_row")),
                     dut.read_en.eq(free(1, name="read_en"))]
        m.d.comb += [Assert(i.ready, ROW_COUNT), Assume(~(i.valid & dut.clear))]

        capacity = ports * (1 << (cfg.out_depth - 1).bit_length())
        chosen = self.free_const(m, range(capacity), name="row")
        m.d.comb += Assume(chosen < capacity)
        rows = Signal.like(dut.rows)
        overrun = Signal()
        carry = Signal(signed(cfg.acc_width))
        sums, closes = i.payload.sums, i.payload.closes
        m.d.comb += [Assert(dut.rows == rows, ROW_COUNT), Assert(dut.overrun == overrun,
                                                                   ROW_COUNT),
                     Assume(~i.valid | (closes > ports) | (rows + closes <= capacity))]
        expected = Signal(signed(cfg.acc_width))
        written = Signal()      # the chosen row's sum is in ``expected``, written or landing
        age = Signal(2)         # cycles since it was recorded, saturating at 3
        with m.If(age != 3):
            m.d.sync += age.eq(age + 1)
        writing = Signal()
        with m.If(i.valid & (closes <= ports)):
            with m.If(closes == 0):
                m.d.sync += carry.eq(carry + sums[0])
            with m.Else():
                m.d.sync += [carry.eq(sums[closes]), rows.eq(rows + closes)]
            for run in range(ports):
                with m.If((run < closes) & (rows + run == chosen)):
                    m.d.comb += writing.eq(1)
                    m.d.sync += [expected.eq(sums[run] + (carry if run == 0 else 0)),
                                 written.eq(1), age.eq(0)]
        with m.If(i.valid & (closes > ports)):
            m.d.sync += overrun.eq(1)
        with m.If(dut.clear):
            m.d.sync += [carry.eq(0), rows.eq(0), overrun.eq(0), written.eq(0)]

        # A read of the chosen row, its word two cycles later.
        asked = Signal(3)
        asked_value = Signal.like(expected)
        asking = dut.read_en & (dut.read_row == chosen) & written & (age >= 2)
        m.d.sync += asked.eq(Cat(asking, asked[:2]))
        with m.If(asking):
            m.d.sync += asked_value.eq(expected)
        m.d.comb += Assume(~(writing & (asked != 0)))
        m.d.comb += Assume(~(dut.clear & (asked != 0)))
        with m.If(asked[1]):
            m.d.comb += Assert(dut.read_data == asked_value, ROW_SUM)


class DropsOpenRun(OutputAccumulator):
    """Broken: a beat that closes no row loses its sum (the run it leaves open)."""
    def elaborate(self, platform):
        outer = self.i
        self.i = inner = stream.Signature(outer.payload.shape()).create()
        try:
            m = super().elaborate(platform)
        finally:
            self.i = outer
        m.d.comb += [inner.valid.eq(outer.valid), inner.payload.eq(outer.payload),
                     outer.ready.eq(inner.ready)]
        with m.If(outer.payload.closes == 0):
            m.d.comb += inner.payload.sums[0].eq(0)
        return m


@pytest.mark.parametrize("broken", [False, True], ids=["ok", "broken"])
def test_output_accumulator(broken):
    """P = 4, C = 2 (two banks of four rows): at depth 8 the last row, closed by the fourth
    beat, is read back."""
    cfg = dataclasses.replace(TINY_4, output_ports=2, max_m=8)
    check(AccumulatorHarness(cfg, DropsOpenRun if broken else OutputAccumulator), mode="bmc",
          depth=8, broken=broken, rejects=[ROW_SUM])


UART_RECEIVES = "each byte sent is received once, unchanged, by the time the next is sent"
UART_FRAMING = "no framing error"
UART_IN_TIME = "a byte is received within 10 bit times"


class UARTHarness(Harness):
    """A :class:`~hw.uart.UARTTx` into a :class:`~hw.uart.UARTRx` for each of ``divisors``,
    each pair with a source of its own that offers any byte at any time,
    and a sink whose ``ready`` is free. Asserted for each: every byte the transmitter takes
    is offered by the receiver once and unchanged, within ``10 * divisor`` cycles, before
    the next is taken; no framing error. ``receiver(divisor)`` makes the receiver."""
    def __init__(self, divisors, receiver=UARTRx):
        self.divisors = divisors
        self.receiver = receiver

    def properties(self, m):
        for divisor in self.divisors:
            tx, rx = UARTTx(divisor), self.receiver(divisor)
            m.submodules[f"tx_{divisor}"], m.submodules[f"rx_{divisor}"] = tx, rx
            m.d.comb += [rx.rx.eq(tx.tx),
                         tx.i.valid.eq(self.free(1, name=f"valid_{divisor}")),
                         tx.i.payload.eq(self.free(8, name=f"byte_{divisor}")),
                         rx.o.ready.eq(self.free(1, name=f"ready_{divisor}"))]
            flying = Signal(name=f"flying_{divisor}")
            expected = Signal(8, name=f"expected_{divisor}")
            age = Signal(range(10 * divisor + 2), name=f"age_{divisor}")
            sent, offered = tx.i.valid & tx.i.ready, rx.o.valid
            m.d.comb += [
                Assert(~sent | ~flying | offered, UART_RECEIVES),
                Assert(~offered | (flying & (rx.o.payload == expected)), UART_RECEIVES),
                Assert(~rx.framing_error, UART_FRAMING),
                Assert(~flying | (age <= 10 * divisor), f"{UART_IN_TIME}, divisor {divisor}"),
            ]
            with m.If(flying):
                m.d.sync += age.eq(age + 1)
            with m.If(offered):
                m.d.sync += flying.eq(0)
            with m.If(sent):
                m.d.sync += [flying.eq(1), expected.eq(tx.i.payload), age.eq(0)]


def slow_receiver(divisor):
    """A receiver a cycle per bit slower than its transmitter."""
    return UARTRx(divisor + 1)


@pytest.mark.parametrize("divisor, broken", [(1, False), (2, False), (3, False), (2, True)],
                         ids=["1", "2", "3", "2-broken"])
def test_uart(divisor, broken):
    """Divisors 1 to 3, each to a depth of two bytes (a divisor of 4 takes 24 s, all three
    in one harness 44 s)."""
    harness = UARTHarness([divisor], slow_receiver if broken else UARTRx)
    check(harness, mode="bmc", depth=20 * divisor + 6, broken=broken)


NO_WRITE_BAD_CRC = "no write from a frame whose CRC fails"
NO_WRITE_BAD_LENGTH = "no write from a frame whose length is wrong"
NO_WRITE_OTHERWISE = "no write from a READ, a bad command or an abandoned frame"
NO_REPEAT = "a WRITE repeated with the sequence number just executed is not executed again"
WRITES_FRAME = "a write writes the frame's word at its address, once"
EXECUTES = "a new WRITE with a good CRC is executed"
ONE_ANSWER = "every frame gets exactly one answer, and nothing else is sent"
ANSWER_IS_FRAMES = "the answer carries the frame's sequence number, count and outcome"
CRC_TAKES_FRAME = "the CRC takes the frame's bytes after its sync byte, and no others"
ANSWERED_IN_TIME = "every frame is answered in time, an abandoned one after the timeout"
IDLE_AGAIN = "the decoder is idle after an answer (a timeout's too): a sync byte starts a frame"


class OracleDecoder(LinkDecoder):
    """A :class:`~hw.link.LinkDecoder` whose CRC unit's verdict is ``crc_good``, an input;
    ``check_unit`` shows what the decoder feeds the unit (``start``, ``valid``, ``data``)."""
    def __init__(self, cfg, timeout):
        super().__init__(cfg, timeout)
        self.crc_good = Signal()
        self.last_executed = Signal(9)
        self.check_unit = types.SimpleNamespace(start=Signal(), valid=Signal(),
                                                data=Signal(8))

    def verdict(self):
        return self.crc_good

    def _frame(self, m):
        f = super()._frame(m)
        unit = f.check
        m.d.comb += [self.check_unit.start.eq(unit.start), self.check_unit.valid.eq(unit.valid),
                     self.check_unit.data.eq(unit.data)]
        f.check = types.SimpleNamespace(start=unit.start, valid=unit.valid, data=unit.data,
                                        match_detected=self.verdict())
        # The sequence number last executed, from the start: any, or none (0x100 and up).
        fresh = Signal(init=1)
        m.d.sync += fresh.eq(0)
        with m.If(fresh):
            m.d.sync += f.last_executed.eq(self.last_executed)
        return f


class Forgetful:
    """A register that never equals anything."""
    def __init__(self, register):
        self.register = register

    def eq(self, value):
        return self.register.eq(value)

    def __eq__(self, other):
        return Const(0)


class RepeatsWrites(OracleDecoder):
    """Broken: executes a repeated WRITE again."""
    def _request_states(self, m, f):
        super()._request_states(m, types.SimpleNamespace(
            **dict(vars(f), last_executed=Forgetful(f.last_executed))))


class NeverTimesOut(OracleDecoder):
    """Broken: waits for ever for the rest of a frame."""
    def _frame(self, m):
        f = super()._frame(m)
        f.stalled = Const(0)
        return f


class CRCBypassed(OracleDecoder):
    """Broken: every CRC checks."""
    def verdict(self):
        return Const(1)


class LinkHarness(Harness):
    """A :class:`~hw.link.LinkDecoder` (``frame_words`` 1, ``timeout`` cycles) driven by a
    host that sends frames of any content: any sequence number, command, count, address,
    words (two at most) and CRC (the right one, or any other), its bytes any number of
    cycles apart from 2 to ``timeout - 1``, and may stop sending any frame at any byte. It
    sends the next frame once an answer has come. The bytes after a header the decoder must
    refuse (a bad length or command) are not the sync byte: the decoder hunts for one while
    they arrive. The host takes answer bytes with a ``ready`` that is never low two cycles
    running; the bus's read data are free.

    The host knows each frame's outcome (``TIMEOUT`` if it stopped, else ``BAD_LENGTH``,
    ``BAD_COMMAND``, ``BAD_CRC`` or ``OK``) and the sequence number last executed. An
    answer carries the frame's sequence number and count, except a ``TIMEOUT``'s: the
    frame may have stopped before them.
    ``decoder(cfg, timeout)`` makes the decoder, an :class:`OracleDecoder`. ``hint(frame)``
    narrows the frames a host sends to those it holds for (``frame`` has ``header``,
    ``crc_good``, ``stop_at`` and ``last_executed``): a counterexample found with a hint
    is one of the proof without it, found sooner.
    """
    def __init__(self, decoder=None, *, timeout=6, hint=None):
        self.cfg = dataclasses.replace(TINY, frame_words=1)
        self.hint = hint
        self.timeout = timeout
        self.decoder = decoder or OracleDecoder
        self.byte_gaps_free = False

    def properties(self, m):
        cfg, timeout = self.cfg, self.timeout
        dut = m.submodules.dut = self.decoder(cfg, timeout)
        free = self.free

        # The frame in hand, drawn as it starts.
        header = Signal(RequestHeader)
        words = Signal(64)
        crc_bytes = Signal(32)
        crc_good = Signal()            # whether the CRC bytes are the frame's CRC
        stop_at = Signal(range(64))    # the frame stops before this byte
        start = Signal()               # a frame starts in this cycle
        awaiting = Signal()            # a frame is out, its answer not yet complete
        first_stop = free(range(64), name="stop_at")
        m.d.comb += Assume(first_stop != 0)             # a frame starts with its sync byte
        with m.If(start):
            m.d.sync += [header.eq(free(RequestHeader, name="header")),
                         words.eq(free(64, name="words")),
                         crc_bytes.eq(free(32, name="crc_bytes")),
                         crc_good.eq(free(1, name="crc_good")),
                         stop_at.eq(first_stop)]

        length_ok = (header.count != 0) & (header.count <= cfg.frame_words)
        known = (header.command == Command.READ) | (header.command == Command.WRITE)
        header_ok = length_ok & known
        sent_words = Mux((header.command == Command.WRITE) & (header.count <= 2),
                         header.count[:2], 0)
        frame_bytes = 1 + REQUEST_HEADER_BYTES + 4 * sent_words + CRC_BYTES
        # A bad header is answered as soon as it is in.
        stopped = stop_at < Mux(header_ok, frame_bytes, 1 + REQUEST_HEADER_BYTES)
        status = Signal(LinkStatus)
        m.d.comb += status.eq(
            Mux(stopped, LinkStatus.TIMEOUT,
                Mux(~length_ok, LinkStatus.BAD_LENGTH,
                    Mux(~known, LinkStatus.BAD_COMMAND,
                        Mux(~crc_good, LinkStatus.BAD_CRC, LinkStatus.OK)))))
        last_executed = Signal(9)
        m.d.comb += dut.last_executed.eq(self.free_const(m, 9, name="last_executed"))
        fresh = Signal(init=1)
        m.d.sync += fresh.eq(0)
        with m.If(fresh):
            m.d.sync += last_executed.eq(dut.last_executed)
        repeated = last_executed == header.sequence
        executes = ((status == LinkStatus.OK) & (header.command == Command.WRITE)
                    & ~repeated)

        # Sending: a byte every 2 to timeout - 1 cycles.
        sending = Signal()
        index = Signal(range(64))
        spacing = Signal(range(timeout))
        m.d.sync += spacing.eq(Mux(spacing == timeout - 1, spacing, spacing + 1))
        body = Cat(header, words, crc_bytes)
        byte = Signal(8)
        with m.If(index == 0):
            m.d.comb += byte.eq(REQUEST_SYNC)
        with m.Elif(index < frame_bytes - CRC_BYTES):
            m.d.comb += byte.eq(body.word_select((index - 1)[:len(index)], 8))
        with m.Else():
            m.d.comb += byte.eq(crc_bytes.word_select((frame_bytes - 1 - index)[:2], 8))
        go = free(1, name="go") if self.byte_gaps_free else Const(1)
        send = sending & (spacing >= 1) & (go | (spacing == timeout - 2)) & (index < stop_at)
        m.d.comb += [dut.rx.valid.eq(send), dut.rx.payload.eq(byte)]

        # The decoder's CRC unit takes exactly the frame's bytes after its sync byte, and
        # says whether they check: an oracle, the harness's ``crc_good``, stands for its
        # verdict (the CRC's algebra is beyond the solver at these depths).
        check = dut.check_unit
        header_end = 1 + REQUEST_HEADER_BYTES
        decided = Mux(header_ok, frame_bytes, header_end)
        m.d.comb += [
            dut.crc_good.eq(crc_good),
            Assert(check.start == (send & (index == 0)), CRC_TAKES_FRAME),
            Assert(check.valid == (send & (index != 0) & (index < decided)), CRC_TAKES_FRAME),
            Assert(~check.valid | (check.data == byte), CRC_TAKES_FRAME),
        ]
        with m.If(send):
            m.d.sync += [index.eq(index + 1), spacing.eq(0)]
            with m.If(index == frame_bytes - 1):
                m.d.sync += sending.eq(0)
            with m.If(~header_ok & (index >= 1 + REQUEST_HEADER_BYTES)):
                m.d.comb += Assume(byte != REQUEST_SYNC)
        with m.If(sending & (index == stop_at)):
            m.d.sync += sending.eq(0)

        # Answers: taken with a ready never low two cycles running, parsed and checked.
        tx = dut.tx
        ready = free(1, name="ready")
        was_low = Signal()
        m.d.sync += was_low.eq(~ready)
        m.d.comb += [tx.ready.eq(ready), Assume(ready | ~was_low)]
        received = Signal(range(32))
        with_data = (status == LinkStatus.OK) & (header.command == Command.READ)
        answer_bytes = 1 + ANSWER_HEADER_BYTES + Mux(with_data, 4, 0) + CRC_BYTES
        expected = Signal(AnswerHeader)
        m.d.comb += [expected.sequence.eq(header.sequence), expected.status.eq(status),
                     expected.count.eq(header.count)]
        taken = tx.valid & tx.ready
        m.d.comb += Assert(~tx.valid | awaiting, ONE_ANSWER)
        with m.If(taken):
            m.d.sync += received.eq(received + 1)
            with m.If(received == 0):
                m.d.comb += Assert(tx.payload == ANSWER_SYNC, ONE_ANSWER)
            with m.Elif(received <= ANSWER_HEADER_BYTES):
                # An abandoned frame's header may be incomplete: only its status is known.
                status_byte = received == 1 + AnswerHeader["status"].offset // 8
                m.d.comb += Assert(
                    ~(status_byte | (status != LinkStatus.TIMEOUT))
                    | (tx.payload == Value.cast(expected).word_select((received - 1)[:2], 8)),
                    ANSWER_IS_FRAMES)
            with m.If(received == answer_bytes - 1):
                m.d.sync += awaiting.eq(0)
        done = Signal()
        m.d.sync += done.eq(taken & (received == answer_bytes - 1))

        # An answer starts within a bound of the frame's last byte.
        waited = Signal(range(timeout + 8))
        with m.If(awaiting & ~sending & (waited != timeout + 7)):
            m.d.sync += waited.eq(waited + 1)
        m.d.comb += Assert(~awaiting | sending | (received != 0) | tx.valid
                           | (waited < timeout + 3), ANSWERED_IN_TIME)
        m.d.comb += Assert(~(send & (index == 0)) | check.start, IDLE_AGAIN)

        # The next frame once the answer is complete.
        m.d.comb += start.eq(~awaiting & ~done)
        with m.If(start):
            m.d.sync += [sending.eq(1), awaiting.eq(1), received.eq(0), index.eq(0),
                         waited.eq(0)]
        with m.If(done & (status == LinkStatus.OK)):
            m.d.sync += last_executed.eq(header.sequence)

        # Writes: only the words of a frame that executes, each once, at its address.
        writes = Signal(range(3))
        with m.If(start):
            m.d.sync += writes.eq(0)
        with m.If(dut.bus.w_en):
            m.d.sync += writes.eq(writes + 1)
            m.d.comb += [
                Assert(~awaiting | stopped | crc_good, NO_WRITE_BAD_CRC),
                Assert(~awaiting | stopped | length_ok, NO_WRITE_BAD_LENGTH),
                Assert(awaiting & (status != LinkStatus.TIMEOUT) & known
                       & (header.command == Command.WRITE), NO_WRITE_OTHERWISE),
                Assert(~repeated, NO_REPEAT),
                Assert((writes == 0) & (dut.bus.addr == header.address[:len(dut.bus.addr)])
                       & (dut.bus.w_data == words[:32]), WRITES_FRAME),
            ]
        m.d.comb += Assert(~done | ~executes | (writes == 1), EXECUTES)
        m.d.comb += dut.bus.r_data.eq(free(32, name="r_data"))
        if self.hint is not None:
            frame = types.SimpleNamespace(header=header, crc_good=crc_good, stop_at=stop_at,
                                          last_executed=last_executed)
            m.d.comb += Assume(~awaiting | self.hint(frame))


#: The depth of the link's proof: a WRITE of one word, two cycles a byte, is executed in
#: cycle 37; a frame abandoned early is answered, and the next one starts, in time.
LINK_DEPTH = 38


def whole_write(frame):
    """A WRITE of one word, sent whole."""
    return ((frame.header.command == Command.WRITE) & (frame.header.count == 1)
            & (frame.stop_at >= 1 + REQUEST_HEADER_BYTES + 4 + CRC_BYTES))


@pytest.mark.parametrize("decoder, rejects, hint", [
    (OracleDecoder, None, None),
    (CRCBypassed, [NO_WRITE_BAD_CRC], lambda frame: whole_write(frame) & ~frame.crc_good
     & (frame.last_executed != frame.header.sequence)),
    (RepeatsWrites, [NO_REPEAT], lambda frame: whole_write(frame) & frame.crc_good
     & (frame.last_executed == frame.header.sequence)),
    (NeverTimesOut, [ANSWERED_IN_TIME], None),
], ids=["ok", "crc-broken", "repeat-broken", "timeout-broken"])
def test_link_decoder(decoder, rejects, hint):
    """By BMC: the decoder's states are too many for an induction without invariants of its
    own; a broken decoder is rejected by a counterexample of the same assertions, searched
    among the frames that break it (``hint``) to find it sooner."""
    check(LinkHarness(decoder, hint=hint), mode="bmc", depth=LINK_DEPTH,
          broken=rejects is not None, rejects=rejects)


DRAIN_READS_LANDED = "the drain reads a group only once the accumulator has counted it"
DRAIN_READS_IN_ORDER = "the drain reads the groups in order, each once"
DRAIN_WRITES_PLACE = ("each group is written once, in order, at its place: out_base + "
                      "b * out_stride + r, to the memory to_results names")
DRAIN_NONE_LOST = "running falls only once every group is written"


class DrainHarness(Harness):
    """An :class:`~hw.chain.OutputDrain` started at any time it is not running, with any
    settings (held), whose accumulator counts up to C rows a cycle, any number, up to the
    layer's ``rows`` (a multiple of C) times ``inputs`` (both at most ``most``), and never
    more than ``ring`` rows ahead of the drain's reads. Asserted: the drain reads the groups
    in order, each once, none before it has landed; it writes them in order, each once, at its
    place and to the memory ``to_results`` names (nothing with ``keep_sums``); ``running``
    stays high until the last is written."""
    def __init__(self, cfg, drain, *, most, ring):
        self.cfg = cfg
        self.drain = drain
        self.most = most
        self.ring = ring

    def properties(self, m):
        cfg = self.cfg
        ports = cfg.output_ports
        dut = m.submodules.dut = self.drain(cfg)
        settings = self.free_const(m, dut.settings.shape(), name="settings")
        settings = dut.settings.shape()(settings)
        inputs = self.free_const(m, dut.inputs.shape(), name="inputs")
        m.d.comb += [dut.settings.eq(settings), dut.inputs.eq(inputs),
                     Assume((settings.rows != 0) & (settings.rows % ports == 0)
                            & (settings.rows <= self.most) & (inputs <= self.most)
                            & (settings.out_base % 4 == 0) & (settings.out_stride % 4 == 0)
                            & (settings.out_base + (inputs - 1) * settings.out_stride
                               + settings.rows <= 1 << len(settings.out_base))),
                     dut.read_words.eq(self.free(dut.read_words.shape(), name="read_words"))]
        for port_name in ("param_write", "table_write"):
            port = getattr(dut, port_name)
            for name in ("beat", "word", "data", "en"):
                member = getattr(port, name)
                m.d.comb += member.eq(self.free(member.shape(), name=f"{port_name}_{name}"))
        start = self.free(1, name="start")
        was_running = Signal()
        m.d.sync += was_running.eq(dut.running)
        m.d.comb += [dut.start.eq(start), Assume(~start | ~was_running)]

        total = settings.rows * inputs
        landed = Signal(8)          # rows the accumulator has counted since the start
        read = Signal(8)            # rows the drain has read
        written = Signal(8)         # groups written
        row = Signal(8)             # the next write's row in its input, and its input
        which = Signal(8)
        count = self.free(range(ports + 1), name="count")
        m.d.comb += [Assume(count <= ports), Assume(landed + count <= total),
                     Assume(landed + count <= read + self.ring), dut.rows_landed.eq(landed)]
        m.d.sync += landed.eq(landed + count)

        byte_bits = (cfg.acts_per_word - 1).bit_length()
        place = Signal(16)
        m.d.comb += place.eq(settings.out_base + which * settings.out_stride + row)
        act, result = dut.act_write, dut.result_write
        with m.If(dut.read_en):
            m.d.comb += [Assert(read + ports <= landed, DRAIN_READS_LANDED),
                         Assert(dut.read_row == read[:len(dut.read_row)], DRAIN_READS_IN_ORDER)]
            m.d.sync += read.eq(read + ports)
        with m.If(act.en | result.en):
            m.d.comb += [
                Assert(~(act.en & result.en), DRAIN_WRITES_PLACE),
                Assert(~settings.keep_sums & (written * ports < total), DRAIN_WRITES_PLACE),
                Assert(Mux(settings.to_results, result.en, act.en), DRAIN_WRITES_PLACE),
                Assert((written * ports < read), DRAIN_WRITES_PLACE),
            ]
            for port in (act, result):
                with m.If(port.en):
                    m.d.comb += [
                        Assert(port.addr == place[byte_bits:][:len(port.addr)],
                               DRAIN_WRITES_PLACE),
                        Assert(port.mask == (((1 << ports) - 1) << place[:byte_bits])
                               [:cfg.acts_per_word], DRAIN_WRITES_PLACE)]
            m.d.sync += [written.eq(written + 1), row.eq(row + ports)]
            with m.If(row + ports == settings.rows):
                m.d.sync += [row.eq(0), which.eq(which + 1)]
        started = Signal()
        with m.If(started & ~dut.running):
            m.d.comb += [Assert(read == total, DRAIN_NONE_LOST),
                         Assert(settings.keep_sums | (written * ports == total),
                                DRAIN_NONE_LOST)]
        with m.If(start):
            m.d.sync += [landed.eq(0), read.eq(0), written.eq(0), row.eq(0), which.eq(0),
                         started.eq(1)]


class DrainsEarly(OutputDrain):
    """Broken: the drain sees a group more than the accumulator has counted."""
    def elaborate(self, platform):
        outer = self.rows_landed
        self.rows_landed = inner = Signal.like(outer)
        try:
            m = super().elaborate(platform)
        finally:
            self.rows_landed = outer
        m.d.comb += inner.eq(outer + self.cfg.output_ports)
        return m


class StopsEarly(OutputDrain):
    """Broken: ``running`` falls once the last group is read, before it is written."""
    def elaborate(self, platform):
        outer = self.running
        self.running = inner = Signal()
        try:
            m = super().elaborate(platform)
        finally:
            self.running = outer
        m.d.comb += outer.eq(inner & ~self.act_write.en & ~self.result_write.en)
        return m


@pytest.mark.parametrize("cfg, drain, rejects", [
    (TINY, OutputDrain, None),
    (dataclasses.replace(TINY_4, output_ports=2), OutputDrain, None),
    (TINY, DrainsEarly, [DRAIN_READS_LANDED]),
    (TINY, StopsEarly, [DRAIN_NONE_LOST]),
], ids=["C1", "C2", "early-broken", "stops-broken"])
def test_output_drain(cfg, drain, rejects):
    """P = 2, C = 1 and P = 4, C = 2: up to 2 C inputs of up to 2 C rows; a run of four groups
    (15 cycles from a group landing to its write) ends within the depth. The values written
    are not followed (the output stage has its own proof)."""
    check(DrainHarness(cfg, drain, most=2 * cfg.output_ports, ring=4), mode="bmc", depth=24,
          broken=rejects is not None, rejects=rejects)
