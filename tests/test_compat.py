import json

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.vendor import LatticePlatform

from gen.compat import missing_interfaces, nextpnr_device_options, no_zero_memory_init


def test_amaranth_still_has_the_private_interfaces_gen_uses():
    missing = missing_interfaces()
    assert not missing, (
        "The installed Amaranth changed private interfaces that gen/compat.py uses; port "
        "gen/compat.py to it (or find a public way):\n  " + "\n  ".join(missing))


def test_missing_interfaces_names_what_changed(monkeypatch):
    monkeypatch.setattr(rtlil.ModuleEmitter, "emit_memory", lambda self, cell: None)
    monkeypatch.delattr(LatticePlatform, "_nextpnr_device_options")
    assert missing_interfaces() == [
        "amaranth.back.rtlil.ModuleEmitter.emit_memory: signature is (self, cell), "
        "not (self, cell_idx, cell)",
        "amaranth.vendor.LatticePlatform._nextpnr_device_options: not found "
        "(type object 'LatticePlatform' has no attribute '_nextpnr_device_options')"]


class _Memories(wiring.Component):
    """A memory of all-zero init and one of another init, each with a read port."""
    addr: In(2)
    zero: Out(8)
    other: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.zero = zero = Memory(shape=8, depth=4, init=[])
        m.submodules.other = other = Memory(shape=8, depth=4, init=[0xa5, 0, 0, 0x5a])
        for memory, data in ((zero, self.zero), (other, self.other)):
            port = memory.read_port()
            m.d.comb += [port.addr.eq(self.addr), data.eq(port.data)]
        return m


def test_no_zero_memory_init_leaves_out_only_all_zero_contents():
    original = rtlil.ModuleEmitter.emit_memory
    plain = rtlil.convert(_Memories())
    assert plain.count("cell $meminit_v2") == 2
    with no_zero_memory_init():
        text = rtlil.convert(_Memories())
    assert text.count("cell $meminit_v2") == 1
    assert rtlil.ModuleEmitter.emit_memory is original


def _amaranth_nextpnr_command(platform):
    """The nextpnr command of Amaranth's own build script for a design on ``platform``."""

    class Empty(wiring.Component):
        def elaborate(self, platform):
            return Module()

    plan = platform.prepare(Empty({}), name="top")
    commands = json.loads(plan.files["build_top.json"])["commands"]
    return next(command for command in commands if command[0].startswith("nextpnr"))


@pytest.mark.parametrize("board", ["ulx3s", "icebreaker"])
def test_nextpnr_device_options_are_those_amaranth_passes(board):
    pytest.importorskip("amaranth_boards")
    from boards import BOARDS

    platform = BOARDS[board].platform()
    options = nextpnr_device_options(platform)
    command = _amaranth_nextpnr_command(platform)
    start = command.index(options[0])
    assert command[start:start + len(options)] == options
