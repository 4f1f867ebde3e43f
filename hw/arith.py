"""Small arithmetic shared by the blocks."""

from amaranth.hdl import Cat, ClockSignal, Instance, Signal, signed


__all__ = ["popcount", "registered_product"]


def popcount(bits):
    """Count of set bits, summed as a balanced tree so each adder is only as wide as needed."""
    counts = [bits[i] for i in range(len(bits))]
    while len(counts) > 1:
        pairs = [counts[i] + counts[i + 1] for i in range(0, len(counts) - 1, 2)]
        counts = pairs + counts[len(pairs) * 2:]
    return counts[0]


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
