"""The link decoder in Amaranth's simulator: frames in, bus cycles and answers out."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.config import AccelConfig
from hw.link import CRC_BYTES, LINK_CRC, RESPONSE_SYNC, Command, LinkDecoder, LinkStatus
from host.link import request_frame


CFG = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8)


def exchange(frames, *, read_data=0x1234_5678, timeout=64):
    """Feed request bytes to a decoder, four cycles apart, waiting after each chunk until it
    has answered or gone quiet; return its bus writes and its answer bytes."""
    dut = LinkDecoder(CFG, timeout)
    writes, answer = [], bytearray()

    async def bench(ctx):
        ctx.set(dut.tx.ready, 1)
        ctx.set(dut.bus.r_data, read_data)

        async def tick(byte=None):
            ctx.set(dut.rx.valid, byte is not None)
            ctx.set(dut.rx.payload, byte or 0)
            tx_valid = ctx.get(dut.tx.valid)
            if ctx.get(dut.bus.w_en):
                writes.append((ctx.get(dut.bus.addr), ctx.get(dut.bus.w_data)))
            if tx_valid:
                answer.append(ctx.get(dut.tx.payload))
            await ctx.tick()
            return tx_valid

        for frame in frames:
            for byte in frame:       # a UART delivers a byte every 10 bit times at most
                await tick(byte)
                for _ in range(3):
                    await tick()
            quiet = 0
            while quiet < timeout + 64:
                quiet = 0 if await tick() else quiet + 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return writes, bytes(answer)


def answers(data, read_words=0):
    """Split answer bytes into (sequence, status, words), checking every CRC; an OK answer
    carries ``read_words`` words."""
    out = []
    while data:
        assert data[0] == RESPONSE_SYNC
        status = LinkStatus(data[2])
        words = read_words if status == LinkStatus.OK else 0
        size = 5 + 4 * words + CRC_BYTES
        assert LINK_CRC.compute(data[1:size]) == LINK_CRC.residue()
        out.append((data[1], status, np.frombuffer(data[5:5 + 4 * words], "<u4").tolist()))
        data = data[size:]
    return out


def test_a_write_is_executed_once_and_answered():
    frame = request_frame(7, Command.WRITE, 0x40, 3, [1, 2, 3])
    writes, answer = exchange([frame, frame])
    assert writes == [(0x40, 1), (0x41, 2), (0x42, 3)]
    assert answers(answer) == [(7, LinkStatus.OK, []), (7, LinkStatus.OK, [])]


def test_a_read_returns_the_bus_words():
    writes, answer = exchange([request_frame(9, Command.READ, 0x10, 2)])
    assert writes == []
    assert answers(answer, read_words=2) == [(9, LinkStatus.OK, [0x1234_5678, 0x1234_5678])]


@pytest.mark.parametrize("damage, status", [
    (lambda f: f[:-1] + bytes([f[-1] ^ 1]), LinkStatus.BAD_CRC),
    (lambda f: f[:12] + bytes([f[12] ^ 0x80]) + f[13:], LinkStatus.BAD_CRC),
    (lambda f: f[:3] + b"\x00\x00" + f[5:], LinkStatus.BAD_LENGTH),
    (lambda f: f[:2] + b"\x99" + f[3:], LinkStatus.BAD_COMMAND),
    (lambda f: f[:10] + f[11:], LinkStatus.TIMEOUT),
])
def test_a_bad_frame_writes_nothing_and_the_next_one_works(damage, status):
    bad = damage(request_frame(3, Command.WRITE, 0x40, 2, [5, 6]))
    good = request_frame(4, Command.WRITE, 0x50, 1, [8])
    writes, answer = exchange([b"\x00\x11garbage", bad])
    assert writes == []
    assert [s for _, s, _ in answers(answer)] == [status]
    writes, answer = exchange([b"\x00\x11garbage", bad, b"\x00" * 80, good])
    assert writes == [(0x50, 8)]
    assert answers(answer)[-1] == (4, LinkStatus.OK, [])
