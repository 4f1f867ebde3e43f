import re
from pathlib import Path

import pytest
from amaranth.hdl import Fragment, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from gen.manifest import manifest
from hw.accel import Accelerator
from hw.bus import (ACCELERATOR_REGISTERS, BUS_READ_LATENCY, BUS_WIDTH, DENSE_REGISTERS,
                    Access, BusSignature, Control, Reg, Region, RegisterBank, RegisterMap,
                    Status)
from hw.config import AccelConfig
from hw.decode import BeatDecoder
from hw.sequencer import BeatSource
from host.bus import address, register_address
from host.cycles import COUNTER_REGS, RunCounters
from tests.sim_streams import SimulatorPort


CFG = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=16)


def test_addresses_follow_declaration_and_groups_are_contiguous():
    regs = RegisterMap("test")
    regs.add("A", Access.W, 1, "a")
    with regs.group("pair"):
        regs.add("B", Access.R, 8, "b")
        regs.add("C", Access.RW, lambda cfg: cfg.pes, "c")
    regs.add("D", Access.R, 32, "d")
    assert [register.address for register in regs] == [0, 1, 2, 3]
    assert [register.name for register in regs.members("pair")] == ["B", "C"]
    assert regs["C"].width_for(CFG) == 4
    assert regs.address_width == 2
    assert {reg.name: reg.value for reg in regs.enum("TestReg")} == {"A": 0, "B": 1, "C": 2,
                                                                     "D": 3}


def test_a_register_or_group_is_declared_once():
    regs = RegisterMap("test")
    regs.add("A", Access.W, 1, "a")
    with pytest.raises(ValueError, match=r"^Register 'A' is already in the test map$"):
        regs.add("A", Access.R, 1, "again")
    with regs.group("g"):
        pass
    with pytest.raises(ValueError, match=r"^Group 'g' is already in the test map$"):
        with regs.group("g"):
            pass


def test_every_map_reads_its_counters_and_identity_as_blocks():
    counters = ACCELERATOR_REGISTERS.members("counters")
    assert [register.name for register in counters] == [reg.name for reg in COUNTER_REGS]
    assert len(counters) == len(RunCounters.__dataclass_fields__)
    for group in ("identity", "counters", "layer"):
        addresses = [register.address for register in ACCELERATOR_REGISTERS.members(group)]
        assert addresses == list(range(addresses[0], addresses[0] + len(addresses)))
    assert [reg.name for reg in Reg] == [register.name for register in ACCELERATOR_REGISTERS]


def test_the_manifest_lists_exactly_what_the_engine_implements():
    listed = manifest(CFG)["registers"]
    bank = RegisterBank(CFG, ACCELERATOR_REGISTERS)
    assert set(listed) == {register.name for register in ACCELERATOR_REGISTERS}
    assert "ROW_GROUPS" not in listed and "ROW_GROUPS" in DENSE_REGISTERS
    for name, entry in listed.items():
        assert entry["address"] == Reg[name].value
        port = bank.port(name)
        assert entry["access"] == ACCELERATOR_REGISTERS[name].access.value
        width = {"r": lambda: len(port.r_data), "w": lambda: len(port.w_data),
                 "rw": lambda: len(port.value)}[entry["access"]]()
        assert entry["width"] == width
    Fragment.get(bank, None)


@pytest.mark.parametrize("cfg", [CFG, AccelConfig(pes=16, max_k=300, weight_depth=900),
                                 AccelConfig(pes=1, max_k=3, weight_depth=1)])
def test_the_layer_registers_are_as_wide_as_the_ports_they_drive(cfg):
    """The accelerator connects each layer register to a block's port of the same width."""
    decode, source = BeatDecoder(cfg), BeatSource(cfg)
    ports = {"N_BEATS": source.n_beats, "PATTERN_BEATS": source.pattern_beats,
             "FORMAT": decode.format, "INDEX_BITS": decode.index_bits,
             "TILE_LIST_BEATS": decode.list_beats, "TILE_BEATS": decode.tile_beats,
             "N_LANES": decode.n_lanes}
    for name, port in ports.items():
        assert ACCELERATOR_REGISTERS[name].width_for(cfg) == Value.cast(port).shape().width, name
    for block in (decode, source):
        Fragment.get(block, None)           # elaborated, as the accelerator would


class _BankHarness(wiring.Component):
    """A register bank of a small map, its registers wired to signals the test reads."""
    def __init__(self, cfg, registers):
        self.cfg, self.registers = cfg, registers
        super().__init__({"bus": In(BusSignature(cfg)), "lock": In(1),
                          "strobes": Out(8), "last_data": Out(BUS_WIDTH)})

    def elaborate(self, platform):
        m = Module()
        bank = m.submodules.bank = RegisterBank(self.cfg, self.registers)
        wiring.connect(m, wiring.flipped(self.bus), bank.bus)
        m.d.comb += [bank.lock.eq(self.lock), bank.port("STATUS").r_data.eq(0x5A),
                     bank.outputs.data.eq(0)]
        # An R register that reads back the RW one, to show when a write lands.
        m.d.comb += bank.port("ECHO").r_data.eq(bank.port("SETTING").value)
        strobe = bank.port("GO")
        with m.If(strobe.w_stb):
            m.d.sync += [self.strobes.eq(self.strobes + 1), self.last_data.eq(strobe.w_data)]
        return m


def _bank_map():
    regs = RegisterMap("bank test")
    regs.add("GO", Access.W, 12, "strobe")
    regs.add("STATUS", Access.R, 8, "constant")
    regs.add("SETTING", Access.RW, 20, "stored")
    regs.add("ECHO", Access.R, 20, "the setting, read back")
    return regs


def test_the_bank_strobes_stores_reads_and_ignores_writes_while_locked():
    regs = _bank_map()
    dut = _BankHarness(CFG, regs)
    at = {register.name: int(address(CFG, Region.REGS, register.address)) for register in regs}
    with SimulatorPort(dut) as port:
        assert port.read(at["STATUS"], 1)[0] == 0x5A
        port.write([at["GO"], at["SETTING"]], [0xABCDE, 0xFFFFF123])
        assert port.read(at["SETTING"], 2).tolist() == [0xFF123, 0xFF123]
        port.write([at["STATUS"]], [7])                     # read-only: no effect
        assert port.read(at["STATUS"], 1)[0] == 0x5A
        assert port.read(at["GO"], 1)[0] == 0               # write-only: reads 0
    strobes = {}

    async def testbench(ctx):
        ctx.set(dut.lock, 1)
        for addr, data in [(at["GO"], 1), (at["SETTING"], 9)]:
            ctx.set(dut.bus.addr, addr)
            ctx.set(dut.bus.w_data, data)
            ctx.set(dut.bus.w_en, 1)
            await ctx.tick()
        ctx.set(dut.bus.w_en, 0)
        ctx.set(dut.lock, 0)
        ctx.set(dut.bus.addr, at["SETTING"])
        ctx.set(dut.bus.r_en, 1)
        await ctx.tick()
        ctx.set(dut.bus.r_en, 0)
        await ctx.tick().repeat(BUS_READ_LATENCY - 1)
        strobes["locked"] = (ctx.get(dut.strobes), ctx.get(dut.bus.r_data))
        ctx.set(dut.bus.addr, at["GO"])
        ctx.set(dut.bus.w_data, 0x123)
        ctx.set(dut.bus.w_en, 1)
        await ctx.tick()
        ctx.set(dut.bus.w_en, 0)
        await ctx.tick()
        strobes["open"] = (ctx.get(dut.strobes), ctx.get(dut.last_data))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    assert strobes["locked"] == (0, 0)
    assert strobes["open"] == (1, 0x123)


def test_a_setting_reads_back_right_after_its_write():
    """A stored register has its new value by the time a read that follows its write at once
    samples it (two cycles after the write, within BUS_WRITE_LATENCY)."""
    with SimulatorPort(Accelerator(CFG)) as port:
        for number, register in enumerate(ACCELERATOR_REGISTERS.members("layer")):
            value = number % ((1 << register.width_for(CFG)) - 1) + 1
            address = register_address(CFG, Reg[register.name])
            port.write([address], [value])
            assert port.read(address, 1)[0] == value, register.name


def test_the_readme_register_table_is_the_map():
    """The README's table names every register once, with its access, in map order."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("## Host bus and registers")[1].split("\n\n| register |")[1]
    rows = [line for line in table.split("\n\n")[0].splitlines()[2:]]
    listed = []
    for row in rows:
        names, access = row.split("|")[1:3]
        listed += [(name, access.strip().lower()) for name in re.findall(r"`(\w+)`", names)]
    assert listed == [(register.name, register.access.value)
                      for register in ACCELERATOR_REGISTERS]


def test_the_interrupt_rises_when_a_run_is_done_and_falls_when_cleared():
    dut = Accelerator(CFG)
    at = {name: register_address(CFG, Reg[name])
          for name in ("IRQ_ENABLE", "IRQ_PENDING", "IRQ_CLEAR", "CONTROL", "STATUS")}
    with SimulatorPort(dut) as port:
        assert (port.get(dut.irq), port.read(at["IRQ_PENDING"], 1)[0]) == (0, 0)
        port.write([at["CONTROL"]], [Control.RUN.value])      # a run of no beats
        while not port.read(at["STATUS"], 1)[0] & Status.DONE.value:
            pass
        assert (port.get(dut.irq), port.read(at["IRQ_PENDING"], 1)[0]) == (0, 1)
        port.write([at["IRQ_ENABLE"]], [1])
        port.read(at["IRQ_ENABLE"], 1)
        assert port.get(dut.irq) == 1
        port.write([at["IRQ_CLEAR"]], [0])                      # bit 0 clears, not a write
        assert port.get(dut.irq) == 1
        port.write([at["IRQ_CLEAR"]], [1])
        port.read(at["IRQ_PENDING"], 1)
        assert (port.get(dut.irq), port.read(at["IRQ_PENDING"], 1)[0]) == (0, 0)
        port.write([at["CONTROL"]], [Control.RUN.value])
        while not port.read(at["STATUS"], 1)[0] & Status.DONE.value:
            pass
        assert port.get(dut.irq) == 1
