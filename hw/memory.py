"""Block memories whose reads never race their writes."""

from amaranth.hdl import Signal
from amaranth.lib.memory import Memory


__all__ = ["BlockMemory", "registered_read", "write_copy"]


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
