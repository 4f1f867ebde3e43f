# amaranth: UnusedElaboratable=no
"""Formal proofs (SymbiYosys, see ``tests/formal.py``) of the stream blocks, the UART and the
link decoder, each beside a deliberately broken variant that the same proof must reject."""

import types

import pytest
from amaranth.hdl import Assert, Assume, Cat, Signal, Value

from hw.config import AccelConfig
from hw.decode import BeatDecoder
from hw.gaps import GapDecoder
from hw.layouts import Format
from hw.output import OutputStage
from hw.streams import StreamRegister
from hw.uart import UARTRx, UARTTx
from tests.formal import Harness, prove


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


def check(harness, *, mode, depth, broken):
    proof = prove(harness, mode=mode, depth=depth)
    print(proof)
    if broken:
        assert proof.status == "FAIL", proof
        assert proof.failed
    else:
        assert proof.status == "PASS", proof.log[-3000:]
    return proof


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
