"""Stream helpers shared by the blocks."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["StreamRegister", "pipeline_stage", "pipeline_stages"]


def pipeline_stage(m, advance, values, name, shape):
    """``values`` registered (without reset) while ``advance``: the registers of a stage of
    a pipeline that moves as one, as signals named ``name`` + index."""
    registers = [Signal(shape, name=f"{name}{index}", reset_less=True)
                 for index in range(len(values))]
    with m.If(advance):
        m.d.sync += [register.eq(value) for register, value in zip(registers, values)]
    return registers


def pipeline_stages(m, advance, value, stages, name):
    """``value`` through ``stages`` registers (without reset) that move while ``advance``:
    the list of them, named ``name`` + index, the last ``stages`` cycles late."""
    registers = [Signal(value.shape(), name=f"{name}{stage}", reset_less=True)
                 for stage in range(stages)]
    with m.If(advance):
        m.d.sync += [later.eq(earlier)
                     for earlier, later in zip([value, *registers], registers)]
    return registers


class StreamRegister(wiring.Component):
    """Passes a stream through a register, so that no path runs from ``i`` to ``o``'s
    payload: a payload is taken when the register is empty and offered from it in the
    next cycle. One payload every two cycles at most, enough for a UART.

    Members
    -------
    i : ``In(stream.Signature(shape))``
    o : ``Out(stream.Signature(shape))``
    """
    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
