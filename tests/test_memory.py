import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.memory import BLOCK_BITS, BankedMemory


@pytest.mark.parametrize("depth", [100, 512, 1536, 1500])
def test_a_banked_memory_reads_what_was_written_two_cycles_later(depth):
    m = Module()
    memory = BankedMemory(m, shape=32, depth=depth, granularity=8, name="results")
    # 32-bit words: 512 to a block RAM of BLOCK_BITS.
    assert BLOCK_BITS // 32 >= 512 and memory.banks == max(1, -(-depth // 512))
    rng = np.random.default_rng(depth)
    addresses = rng.permutation(depth)[:200].tolist() + [0, depth - 1]
    words = {}

    async def bench(ctx):
        ctx.set(memory.read_en, 0)
        for address in addresses:
            value = int(rng.integers(0, 1 << 32))
            mask = int(rng.integers(1, 16))
            ctx.set(memory.write_addr, address)
            ctx.set(memory.write_data, value)
            ctx.set(memory.write_en, mask)
            await ctx.tick()
            old = words.get(address, 0)
            keep = sum(0xFF << (8 * lane) for lane in range(4) if not mask >> lane & 1)
            words[address] = (old & keep) | (value & ~keep & 0xFFFF_FFFF)
        ctx.set(memory.write_en, 0)
        ctx.set(memory.read_en, 1)
        order = list(words)
        rng.shuffle(order)
        answers = []
        for address in order + [0, 0]:
            ctx.set(memory.read_addr, address)
            await ctx.tick()
            answers.append(ctx.get(memory.read_data))
        # Each answer is on read_data two cycles after its address.
        assert answers[1:-1] == [words[a] for a in order]

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
