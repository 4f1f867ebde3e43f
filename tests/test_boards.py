"""Board targets and bitstream builds with the open toolchain from PyPI.

The builds here are small configurations, each well under two minutes (plus YoWASP's
one-time compilation of its tools on a fresh machine); the big ones are in ``bench/boards.py``.
"""

import json
import subprocess
import sys

import pytest

from boards import BOARDS
from boards.ulx3s import ecp5_pll_dividers


def test_pll_dividers():
    assert ecp5_pll_dividers(25e6, 100e6) == (1, 4, 6)
    clki, clkfb, clkop = ecp5_pll_dividers(25e6, 60e6)
    assert 25e6 * clkfb / clki == 60e6 and 400e6 <= 60e6 * clkop <= 800e6
    with pytest.raises(ValueError, match=r"^ECP5 PLL cannot make 0.001 MHz from 25 MHz "
                                         r"exactly$"):
        ecp5_pll_dividers(25e6, 1e3)


def test_board_configurations_match_their_clocks():
    for target in BOARDS.values():
        assert target.config.baud_divisor == round(target.platform.clock_hz / 115200)
        assert target.config.pes <= target.platform.dsp_blocks


def gen(*args):
    return subprocess.run([sys.executable, "-m", "gen", *args], capture_output=True, text=True)


def test_board_sources_without_build(tmp_path):
    result = gen("--board", "icebreaker", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in ("sparse_accel.v", "manifest.json", "sparse_icebreaker.il",
                 "sparse_icebreaker.ys", "sparse_icebreaker.pcf"):
        assert (tmp_path / name).exists()
    assert not list(tmp_path.glob("*.bin"))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["config"] == BOARDS["icebreaker"].config.to_dict()


def test_build_needs_a_board(tmp_path):
    result = gen("--build", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("argument --build: needs --board")


def check_report(out, board, pes, baseline):
    report = json.loads((out / "report.json").read_text())
    sparse = report["sparse"]
    assert sparse["board"] == board and sparse["config"]["pes"] == pes
    assert (out / sparse["bitstream"]).stat().st_size > 10000
    resources = sparse["resources"]
    assert 0 < resources["luts"]["used"] <= resources["luts"]["available"]
    assert resources["dsps"]["used"] == pes
    assert sparse["fmax_mhz"] > 0 and sparse["critical_path"]["delay_ns"] > 0
    markdown = (out / "report.md").read_text()
    assert f"P = {pes}" in markdown and "LUTs" in markdown
    if baseline:
        dense = report["dense"]
        assert dense["resources"]["dsps"]["used"] == pes
        ratio = report["sparse_over_dense"]["luts"]
        assert ratio == pytest.approx(resources["luts"]["used"] / dense["resources"]["luts"]
                                      ["used"], abs=0.01)
        assert "sparse / dense" in markdown
    return sparse


# Small configurations, each built in well under two minutes. The iCEBreaker's 12 MHz is met
# with room to spare; whether the ULX3S meets 100 MHz is for bench.boards to measure, so its
# build only has to complete, with the dense baseline beside it.
@pytest.mark.parametrize("board, pes, baseline, options", [
    ("icebreaker", 2, False, ["--no-baseline"]),
    ("ulx3s", 4, True, ["--allow-timing-fail"]),
])
def test_bitstream_of_a_small_configuration(tmp_path, board, pes, baseline, options):
    result = gen("--board", board, "--pes", str(pes), "--max-k", "64", "--max-m", "64",
                 "--weight-depth", "64", "--build", "--quiet", *options, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    sparse = check_report(tmp_path, board, pes, baseline)
    if board == "icebreaker":
        assert sparse["timing_met"]
    else:
        assert sparse["fmax_mhz"] > 50


def test_replicas_survive_synthesis(tmp_path):
    """The board flow keeps a register's replicas apart; plain synthesis would merge them."""
    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal

    from gen.build import _tool
    from hw.replicas import KEEP_REPLICAS, replicate

    i, o = Signal(4), Signal(4)
    m = Module()
    copies = replicate(m, i, 3, name="copy")
    m.d.sync += o.eq(copies[0] ^ (copies[1] + copies[2]))
    (tmp_path / "top.il").write_text(rtlil.convert(m, ports=[i, o]))

    def flip_flops(script):
        result = subprocess.run(
            [_tool("yosys"), "-q", "-p", f"read_rtlil top.il; {script} synth_ecp5 -top top; "
             "tee -o stat.txt stat"], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        counts = [line.split() for line in (tmp_path / "stat.txt").read_text().splitlines()]
        return next(int(count) for cell, count in (words for words in counts if len(words) == 2)
                    if cell == "TRELLIS_FF")

    assert flip_flops("") == 4 + 4
    assert flip_flops(f"{KEEP_REPLICAS};") == 3 * 4 + 4
