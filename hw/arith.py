"""Small arithmetic shared by the blocks."""

from amaranth.hdl import Cat, ClockSignal, Instance, Signal, signed


__all__ = ["popcount", "registered_product"]


def popcount(m, bits, *, name):
    """Count of set bits of ``bits``, registered: a balanced adder tree, each adder only as
    wide as needed, with a register after every second level. The count is
    ``max(1, ceil(log2(len(bits)) / 2))`` cycles late."""
    counts = [bits[i] for i in range(len(bits))]
    level = 0
    while True:
        if len(counts) == 1 or level % 2 == 0 and level:
            registered = [Signal(len(count), name=f"{name}_{level}_{i}", reset_less=True)
                          for i, count in enumerate(counts)]
            m.d.sync += [reg.eq(count) for reg, count in zip(registered, counts)]
            counts = registered
            if len(counts) == 1:
                return counts[0]
        pairs = [counts[i] + counts[i + 1] for i in range(0, len(counts) - 1, 2)]
        counts = pairs + counts[len(pairs) * 2:]
        level += 1


#: Operand width of the ECP5's multiplier blocks (MULT18X18D).
ECP5_MULTIPLIER_WIDTH = 18


def registered_product(m, platform, a, b, enable):
    """The signed product of ``a`` and ``b`` two cycles after them, in ``len(a) + len(b)``
    bits: an operand register, the multiplier and a product register, loading while
    ``enable`` is high.

    On an ECP5 the registers are the multiplier block's own (a MULT18X18D with registered
    inputs and output), so the multiplication never leaves the block and the fabric only
    routes to and from registers; elsewhere (simulation, other families) they are fabric
    registers around a ``*`` that synthesis maps to a multiplier block.
    """
    product = Signal(signed(len(a) + len(b)), reset_less=True)
    if getattr(platform, "family", None) != "ecp5" or \
            max(len(a), len(b)) > ECP5_MULTIPLIER_WIDTH:
        operands = [Signal.like(a, reset_less=True), Signal.like(b, reset_less=True)]
        with m.If(enable):
            m.d.sync += [operands[0].eq(a), operands[1].eq(b),
                         product.eq(operands[0] * operands[1])]
        return product
    ports = {}
    for name, value in (("A", a), ("B", b)):
        extended = Cat(value, value[-1].replicate(ECP5_MULTIPLIER_WIDTH - len(value)))
        ports.update({f"i_{name}{bit}": extended[bit] for bit in range(ECP5_MULTIPLIER_WIDTH)})
        ports[f"i_SIGNED{name}"] = 1
        ports[f"i_SOURCE{name}"] = 0
    ports.update({f"i_C{bit}": 0 for bit in range(ECP5_MULTIPLIER_WIDTH)})
    full = Signal(2 * ECP5_MULTIPLIER_WIDTH)
    ports.update({f"o_P{bit}": full[bit] for bit in range(len(full))})
    m.submodules += Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTB_CLK="CLK0", p_REG_OUTPUT_CLK="CLK0",
        p_GSR="DISABLED",
        i_CLK0=ClockSignal(), i_CE0=enable, i_RST0=0,
        **ports)
    m.d.comb += product.eq(full[:len(product)])
    return product
