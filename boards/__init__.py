"""Board targets: an amaranth-boards platform per board, and the design placed on it.

Each platform (one file per board) makes the ``sync`` clock domain and names the board's
clock, UART, reset button and LED. :class:`BoardTop` connects :class:`hw.board.Board` to them.
:data:`BOARDS` maps the names ``python -m gen --board`` accepts to the platform and to the
largest configuration that fits the board (see the README for how it was found).
"""

import dataclasses

from amaranth.hdl import Elaboratable, Module

from hw.config import AccelConfig
from hw.uart import LINK_BAUD_RATE, baud_divisor
from gen.manifest import link_rate

from .icebreaker import ICEBreakerPlatform
from .ulx3s import ULX3SPlatform


__all__ = ["BOARDS", "BoardTarget", "BoardTop", "BAUD_RATE", "board_target"]


#: Baud rate of the host link on every board (:data:`hw.uart.LINK_BAUD_RATE`).
BAUD_RATE = LINK_BAUD_RATE


@dataclasses.dataclass(frozen=True)
class BoardTarget:
    """A board, its default accelerator configuration and its link's nominal rate."""
    platform: type
    config: AccelConfig
    baud_rate: float = BAUD_RATE

    @property
    def name(self):
        return self.platform.name

    @property
    def clock_hz(self):
        return self.platform.clock_hz

    @property
    def link(self):
        """The link's speed as the manifest states it (:func:`gen.manifest.link_rate`)."""
        return link_rate(self.config, self.clock_hz, self.baud_rate)


def board_target(platform, baud_rate=BAUD_RATE, **fields):
    """A :class:`BoardTarget` for ``platform`` whose UART runs at ``baud_rate`` (the divisor
    from its clock: :func:`hw.uart.baud_divisor`, which refuses a rate it makes more than
    2.5 % off) and whose link abandons a frame after 10 ms without a byte."""
    divisor = baud_divisor(platform.clock_hz, baud_rate)
    link_timeout = int(platform.clock_hz // 100)  # 10 ms without a byte abandons a frame.
    return BoardTarget(platform, AccelConfig(baud_divisor=divisor, link_timeout=link_timeout,
                                             **fields), baud_rate)


BOARDS = {
    target.name: target for target in (
        # 64 DSP multipliers of 156 (and 4 for the output stages of resident networks); the
        # weight memory (1024 beats of 64 lanes of 14 bits, 53 block RAMs: twice the kept
        # weights of the 512 beats of 20-bit lanes that took 40) and the 64 activation
        # memories take most of the block RAMs used.
        # The compact buffers are one LUT RAM deep (16 entries: tiles of up to 1024 inputs).
        board_target(ULX3SPlatform, pes=64, max_k=1536, max_m=1536, weight_depth=1024,
                     max_group_width=16, compact_depth=16),
        # 4 PEs (P = 8 takes 6036 of the 5280 logic cells and 41 of the 30 block RAMs, P = 16
        # 10413 and 78: the gap decoder alone is 3808 flip-flops at P = 16), two SB_MAC16
        # blocks in their 8x8 mode. The weight memory is the four SPRAM blocks (a beat of 4
        # lanes of 14 bits is 64 bits: 4096 beats, 16 times the block RAMs' 256). A frame
        # buffer of 256 words (2 block RAMs, not 8). No resident networks: their logic does
        # not fit beside the rest.
        board_target(ICEBreakerPlatform, pes=4, max_k=512, max_m=512, weight_depth=4096,
                     weight_ports=1, max_group_width=16, pattern_depth=256, max_layers=0,
                     frame_words=256),
    )
}


class BoardTop(Elaboratable):
    """:class:`hw.board.Board` (or any component with the same ports) on a platform's pins.

    The UART goes to the board's USB serial chip and ``busy`` to LED 0.
    """
    def __init__(self, board):
        self.board = board

    def elaborate(self, platform):
        m = Module()
        m.submodules.board = board = self.board
        uart = platform.request("uart", 0)
        led = platform.request("led", 0)
        m.d.comb += [board.rx.eq(uart.rx.i), uart.tx.o.eq(board.tx), led.o.eq(board.busy)]
        return m
