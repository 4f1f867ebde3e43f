import json
import re
import subprocess
import sys

import pytest

from gen.__main__ import main
from gen.emit import generate
from hw.accel import pipeline_latency
from hw.axil import AxiLiteAccelerator
from hw.config import FIELD_SPECS, AccelConfig
from hw.bus import Reg, Region
from hw.top import host_bus
from host.bus import address


# Runs `python -m gen` with amaranth-boards (the boards extra) not importable, as in a base
# install.
WITHOUT_BOARDS = """
import runpy, sys
from importlib.abc import MetaPathFinder

class NoBoards(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "amaranth_boards":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoBoards())
runpy.run_module("gen", run_name="__main__", alter_sys=True)
"""


def test_writes_verilog_and_manifest(tmp_path):
    main(["--pes", "4", "--max-k", "20", "--max-m", "10", "--weight-depth", "8",
          "--out", str(tmp_path / "a"), "--quiet"])
    main(["--pes", "4", "--max-k", "20", "--max-m", "10", "--weight-depth", "8",
          "--out", str(tmp_path / "b"), "--quiet"])
    first = (tmp_path / "a" / "sparse_accel.v").read_text()
    assert "module sparse_accel(" in first
    assert first == (tmp_path / "b" / "sparse_accel.v").read_text()
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    cfg = AccelConfig(pes=4, max_k=20, max_m=10, weight_depth=8)
    assert manifest["config"] == cfg.to_dict()
    assert manifest["config_hash"] == cfg.config_hash
    assert manifest["latency"] == pipeline_latency(cfg)
    assert manifest["link"] == {"clock_hz": None, "baud_divisor": 868, "baud_rate": None,
                                "nominal_baud_rate": None, "baud_error": None}
    assert manifest["registers"]["CYCLES"]["address"] == Reg.CYCLES.value
    assert manifest["layouts"]["beat"]["weight"] == {
        "offset": 0, "width": 8, "signed": True, "per_lane": True}
    assert manifest["layouts"]["beat"]["index_5"] == {
        "offset": 52, "width": 1, "signed": False, "per_lane": True}
    assert manifest["layouts"]["pattern"]["last"] == {
        "offset": 0, "width": 1, "signed": False, "per_lane": True}
    assert manifest["layouts"]["pattern"]["base"] == {
        "offset": 4, "width": 5, "signed": False, "per_lane": True}


@pytest.mark.parametrize("args, message", [
    (["--pes", "48"], "argument --pes: PE count must be a power of two from 1 to 1024, not 48"),
    (["--data-width", "7"], "argument --data-width: Data width must be 4, 8 or 16 bits, not 7"),
    (["--max-k", "0"], "argument --max-k: max_k must be from 1 to 65536, not 0"),
])
def test_bad_values_exit_2_naming_the_option(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "gen", *args, "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(message)
    assert not any(tmp_path.iterdir())


def test_help_documents_every_option():
    result = subprocess.run([sys.executable, "-m", "gen", "--help"], capture_output=True,
                            text=True, check=True)
    for option in ("--pes", "--data-width", "--acc-width", "--max-k", "--max-m",
                   "--weight-depth", "--out", "--board"):
        assert option in result.stdout
    text = " ".join(result.stdout.split())
    for name, spec in FIELD_SPECS.items():
        assert f"{spec.help} (default: " in text, name


def test_unknown_board_exits_2_naming_the_boards(tmp_path):
    from boards import BOARDS

    result = subprocess.run([sys.executable, "-m", "gen", "--board", "nosuch",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "argument --board: invalid choice: 'nosuch' (choose from "
        + ", ".join(repr(name) for name in sorted(BOARDS)) + ")")


def test_generates_without_the_boards_extra(tmp_path):
    result = subprocess.run([sys.executable, "-c", WITHOUT_BOARDS, "--pes", "4",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sparse_accel.v").exists()
    assert (tmp_path / "manifest.json").exists()


def test_board_without_the_boards_extra_names_it(tmp_path):
    result = subprocess.run([sys.executable, "-c", WITHOUT_BOARDS, "--pes", "4",
                             "--board", "ulx3s", "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        'argument --board: needs amaranth-boards, which the boards extra installs: '
        'pip install -e ".[boards]"')
    assert not any(tmp_path.iterdir())


SMALL = ["--pes", "4", "--max-k", "20", "--max-m", "10", "--weight-depth", "8", "--quiet"]

#: The ports each host bus puts on the top, besides clk, rst, irq and busy.
BUS_PORTS = {
    "native": {"bus__addr", "bus__w_data", "bus__w_en", "bus__r_en", "bus__r_data"},
    "wishbone": {"wb_adr", "wb_dat_w", "wb_dat_r", "wb_sel", "wb_cyc", "wb_stb", "wb_we",
                 "wb_ack", "wb_err", "wb_stall"},
    "axi-lite": {f"s_axil_{name}" for name in (
        "awaddr", "awprot", "awvalid", "awready", "wdata", "wstrb", "wvalid", "wready",
        "bresp", "bvalid", "bready", "araddr", "arprot", "arvalid", "arready", "rdata",
        "rresp", "rvalid", "rready")},
}


@pytest.mark.parametrize("bus", ["native", "wishbone", "axi-lite"])
def test_each_bus_is_the_top_sparse_accel_and_the_manifest_says_which(bus, tmp_path):
    for out in ("a", "b"):
        main([*SMALL, "--bus", bus, "--out", str(tmp_path / out)])
    for name in ("sparse_accel.v", "manifest.json", "sparse_accel.h", "registers.csv",
                 "registers.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()
    verilog = (tmp_path / "a" / "sparse_accel.v").read_text()
    header = re.search(r"^module sparse_accel\((.*?)\);", verilog, re.M | re.S)
    ports = {port.strip() for port in header.group(1).split(",")}
    assert ports == BUS_PORTS[bus] | {"clk", "rst", "irq", "busy"}
    described = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert described["host_bus"]["name"] == bus
    assert described["host_bus"]["byte_addressed"] == (bus != "native")
    cfg = AccelConfig(pes=4, max_k=20, max_m=10, weight_depth=8)
    byte_map = described["byte_map"]
    assert byte_map["registers"]["IRQ_CLEAR"] == 4 * Reg.IRQ_CLEAR.value
    assert byte_map["regions"]["OUTPUTS"]["base"] == 4 * int(address(cfg, Region.OUTPUTS, 0))
    assert byte_map["addr_width"] == described["bus"]["addr_width"] + 2


def test_an_unknown_bus_exits_2_naming_the_choices(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gen", "--bus", "pci", "--out",
                             str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "argument --bus: invalid choice: 'pci' (choose from 'native', 'wishbone', 'axi-lite')")
    assert not any(tmp_path.iterdir())


def test_a_bus_other_than_native_with_a_board_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gen", "--bus", "wishbone", "--board",
                             "ulx3s", "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "argument --bus: 'wishbone' with --board: a board reaches the accelerator through its "
        "link, on the native bus")


def test_host_bus_names_are_checked():
    assert host_bus("axi-lite").component is AxiLiteAccelerator
    with pytest.raises(ValueError,
                       match=r"^Unknown bus 'ahb': choose from native, wishbone, axi-lite$"):
        host_bus("ahb")
    with pytest.raises(TypeError, match=r"^Bus name must be a string, not 3$"):
        host_bus(3)
    with pytest.raises(ValueError, match=r"^Unknown bus 'AXI': choose from "):
        generate(AccelConfig(pes=4, max_k=20, max_m=10, weight_depth=8), "unused", bus="AXI")


def test_the_manifest_refuses_a_divisor_off_its_rate():
    from gen.manifest import manifest
    with pytest.raises(ValueError, match=r"^Baud divisor 868 of 100 MHz makes 115207 baud, "
                                         r"-96\.2% off 3000000 baud, more than the 2\.5% a "
                                         r"UART tolerates$"):
        manifest(AccelConfig(), clock_hz=100e6, baud_rate=3_000_000)
    with pytest.raises(ValueError, match=r"^A baud rate \(115200\) needs the clock it is made "
                                         r"from$"):
        manifest(AccelConfig(), baud_rate=115200)
    assert manifest(AccelConfig(), clock_hz=100e6, baud_rate=115200)["link"]["baud_error"] == \
        pytest.approx(0.0000640, abs=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--seed", "3"], "argument --seed: needs --build"),
    (["--board", "icebreaker", "--build", "--seed", "-1"],
     "argument --seed: must be from 0 to 2**31 - 1, not -1"),
])
def test_a_seed_needs_a_build_and_a_range(args, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "gen", *args, "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(message)


@pytest.mark.parametrize("board", ["ulx3s", "icebreaker"])
def test_the_seed_reaches_nextpnr(board):
    from boards import BOARDS
    from gen.build import DEFAULT_SEED, _flow
    platform = BOARDS[board].platform()
    for seed, expected in ((None, str(DEFAULT_SEED)), (7, "7")):
        commands, _ = _flow(platform, "top", "report.json",
                            *(() if seed is None else (seed,)))
        place = dict((step, command) for step, command, _ in commands)["place and route"]
        assert place[place.index("--seed") + 1] == expected
