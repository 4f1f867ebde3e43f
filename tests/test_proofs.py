# amaranth: UnusedElaboratable=no
"""Formal proofs (SymbiYosys, see ``tests/formal.py``) of the stream blocks, the UART and the
link decoder, each beside a deliberately broken variant that the same proof must reject."""

import types

import pytest
from amaranth.hdl import Assert, Assume, Signal, Value

from hw.streams import StreamRegister
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


@pytest.mark.parametrize("broken", [False, True], ids=["", "broken"])
def test_stream_register(broken):
    cls = takes_while_stalled(StreamRegister) if broken else StreamRegister
    def invariants(dut, state):
        return [state.inside == dut.o.valid,
                ~state.following | (dut.o.payload == state.followed)]
    check(StreamHarness(cls(8), capacity=1, invariants=invariants), mode="prove", depth=4,
          broken=broken)
