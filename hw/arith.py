"""Small arithmetic shared by the blocks."""

from amaranth.hdl import Cat, ClockSignal, Instance, Signal, signed

from .config import platform_family


__all__ = ["popcount", "registered_product", "registered_products"]


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

#: Operand width of the iCE40's multiplier blocks (SB_MAC16).
ICE40_MULTIPLIER_WIDTH = 16


def _sign_extended(value, width):
    return Cat(value, value[-1].replicate(width - len(value)))


def _ecp5_product(m, a, b, enable, product):
    ports = {}
    for name, value in (("A", a), ("B", b)):
        extended = _sign_extended(value, ECP5_MULTIPLIER_WIDTH)
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


def _ice40_product(m, a, b, enable, product):
    # The 16x16 multiplier with its operand registers (A_REG, B_REG), its output through
    # the block's registered adders with nothing added (C = D = 0, OUTPUT_SELECT 1): the
    # mapping Yosys itself makes of a registered product, held while ``enable`` is low.
    hold = ~enable
    full = Signal(2 * ICE40_MULTIPLIER_WIDTH)
    m.submodules += Instance(
        "SB_MAC16",
        p_NEG_TRIGGER=0, p_MODE_8x8=0, p_A_SIGNED=1, p_B_SIGNED=1,
        p_A_REG=1, p_B_REG=1, p_C_REG=0, p_D_REG=0,
        p_TOP_8x8_MULT_REG=0, p_BOT_8x8_MULT_REG=0,
        p_PIPELINE_16x16_MULT_REG1=0, p_PIPELINE_16x16_MULT_REG2=0,
        p_TOPOUTPUT_SELECT=1, p_TOPADDSUB_LOWERINPUT=2, p_TOPADDSUB_UPPERINPUT=1,
        p_TOPADDSUB_CARRYSELECT=3,
        p_BOTOUTPUT_SELECT=1, p_BOTADDSUB_LOWERINPUT=2, p_BOTADDSUB_UPPERINPUT=1,
        p_BOTADDSUB_CARRYSELECT=0,
        i_CLK=ClockSignal(), i_CE=1,
        i_A=_sign_extended(a, ICE40_MULTIPLIER_WIDTH),
        i_B=_sign_extended(b, ICE40_MULTIPLIER_WIDTH),
        i_C=0, i_D=0, i_AHOLD=hold, i_BHOLD=hold, i_CHOLD=0, i_DHOLD=0,
        i_OHOLDTOP=hold, i_OHOLDBOT=hold, i_IRSTTOP=0, i_IRSTBOT=0, i_ORSTTOP=0, i_ORSTBOT=0,
        i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0,
        i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
        o_O=full)
    m.d.comb += product.eq(full[:len(product)])


#: Operand width of each of the two multipliers of an SB_MAC16 in its 8x8 mode.
ICE40_HALF_WIDTH = 8


def _ice40_product_pair(m, pairs, enable, products):
    # The block's two 8x8 multipliers (MODE_8x8): the top one multiplies A[15:8] by B[15:8],
    # the bottom one A[7:0] by B[7:0], both signed. Each product is registered in the block
    # (TOP_8x8_MULT_REG, BOT_8x8_MULT_REG) and leaves through it (OUTPUT_SELECT 2), after
    # the operand registers (A_REG, B_REG). Those product registers have no hold input: the
    # whole block is held by its clock enable instead.
    (a_bot, b_bot), (a_top, b_top) = pairs
    full = Signal(2 * ICE40_MULTIPLIER_WIDTH)
    m.submodules += Instance(
        "SB_MAC16",
        p_NEG_TRIGGER=0, p_MODE_8x8=1, p_A_SIGNED=1, p_B_SIGNED=1,
        p_A_REG=1, p_B_REG=1, p_C_REG=0, p_D_REG=0,
        p_TOP_8x8_MULT_REG=1, p_BOT_8x8_MULT_REG=1,
        p_PIPELINE_16x16_MULT_REG1=0, p_PIPELINE_16x16_MULT_REG2=0,
        p_TOPOUTPUT_SELECT=2, p_TOPADDSUB_LOWERINPUT=0, p_TOPADDSUB_UPPERINPUT=0,
        p_TOPADDSUB_CARRYSELECT=0,
        p_BOTOUTPUT_SELECT=2, p_BOTADDSUB_LOWERINPUT=0, p_BOTADDSUB_UPPERINPUT=0,
        p_BOTADDSUB_CARRYSELECT=0,
        i_CLK=ClockSignal(), i_CE=enable,
        i_A=Cat(_sign_extended(a_bot, ICE40_HALF_WIDTH), _sign_extended(a_top, ICE40_HALF_WIDTH)),
        i_B=Cat(_sign_extended(b_bot, ICE40_HALF_WIDTH), _sign_extended(b_top, ICE40_HALF_WIDTH)),
        i_C=0, i_D=0, i_AHOLD=0, i_BHOLD=0, i_CHOLD=0, i_DHOLD=0,
        i_OHOLDTOP=0, i_OHOLDBOT=0, i_IRSTTOP=0, i_IRSTBOT=0, i_ORSTTOP=0, i_ORSTBOT=0,
        i_OLOADTOP=0, i_OLOADBOT=0, i_ADDSUBTOP=0, i_ADDSUBBOT=0,
        i_CI=0, i_ACCUMCI=0, i_SIGNEXTIN=0,
        o_O=full)
    half = ICE40_MULTIPLIER_WIDTH
    m.d.comb += [products[0].eq(full[:len(products[0])]),
                 products[1].eq(full[half:half + len(products[1])])]


#: The multiplier blocks instantiated for each FPGA family: ``(operand width, builder)``.
_MULTIPLIER_BLOCKS = {
    "ecp5":  (ECP5_MULTIPLIER_WIDTH, _ecp5_product),
    "ice40": (ICE40_MULTIPLIER_WIDTH, _ice40_product),
}


def registered_product(m, platform, a, b, enable):
    """The signed product of ``a`` and ``b`` two cycles after them, in ``len(a) + len(b)``
    bits: an operand register, the multiplier and a product register, loading while
    ``enable`` is high.

    On an ECP5 or an iCE40 the registers are the multiplier block's own (a MULT18X18D, an
    SB_MAC16), instantiated, so the multiplication never leaves the block and the fabric
    only routes to and from registers; elsewhere (simulation, other families) they are
    fabric registers around a ``*`` that synthesis maps to a multiplier block.
    Instantiating also keeps Yosys's iCE40 DSP mapper from folding the adder after two
    products into one block and dropping the other product (seen with Yosys 0.55).
    """
    product = Signal(signed(len(a) + len(b)), reset_less=True)
    family = platform_family(platform)
    width, build = _MULTIPLIER_BLOCKS.get(family, (0, None))
    if build is not None and max(len(a), len(b)) <= width and len(product) <= 2 * width:
        build(m, a, b, enable, product)
        return product
    operands = [Signal.like(a, reset_less=True), Signal.like(b, reset_less=True)]
    with m.If(enable):
        m.d.sync += [operands[0].eq(a), operands[1].eq(b),
                     product.eq(operands[0] * operands[1])]
    return product


def registered_products(m, platform, operands, enable):
    """The signed products of each ``(a, b)`` of ``operands``, as :func:`registered_product`
    gives them (two cycles late, loading while ``enable`` is high).

    On an iCE40, operands of at most 8 bits go two to a multiplier block: the SB_MAC16 in
    its 8x8 mode (instantiated, since Yosys infers only its 16x16 mode), so the UP5K's 8
    blocks make 16 products a cycle; an odd last pair of operands takes a block alone.
    Elsewhere, and for wider operands, each product is :func:`registered_product`'s.
    """
    family = platform_family(platform)
    narrow = all(max(len(a), len(b)) <= ICE40_HALF_WIDTH for a, b in operands)
    if family != "ice40" or not narrow:
        return [registered_product(m, platform, a, b, enable) for a, b in operands]
    products = [Signal(signed(len(a) + len(b)), reset_less=True) for a, b in operands]
    for first in range(0, len(operands), 2):
        pair = list(operands[first:first + 2])
        if len(pair) == 1:
            pair.append((Signal(signed(1)), Signal(signed(1))))
            outputs = [products[first], Signal(signed(2))]
        else:
            outputs = products[first:first + 2]
        _ice40_product_pair(m, pair, enable, outputs)
    return products
