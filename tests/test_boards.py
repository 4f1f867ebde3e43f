"""Board targets and bitstream builds with the open toolchain from PyPI.

The builds here are small configurations, each well under two minutes (plus YoWASP's
one-time compilation of its tools on a fresh machine); the big ones are in ``bench/boards.py``.
"""

import dataclasses
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest

from boards import BAUD_RATE, BOARDS, board_target
from hw.uart import baud_divisor
from hw.accel import multiplier_count
from hw.config import AccelConfig
from boards.icebreaker import ice40_pll_dividers
from boards.ulx3s import ecp5_pll_dividers


def test_ice40_pll_dividers():
    # icepll -i 12 -o 30, and -o 36.
    assert ice40_pll_dividers(12e6, 30e6) == (0, 79, 5, 1)
    assert ice40_pll_dividers(12e6, 36e6) == (0, 47, 4, 1)
    for output_hz in (33e6, 39e6, 48e6):
        divr, divf, divq, _ = ice40_pll_dividers(12e6, output_hz)
        assert 12e6 * (divf + 1) / (divr + 1) / 2 ** divq == output_hz
        assert 533e6 <= 12e6 / (divr + 1) * (divf + 1) <= 1066e6
    with pytest.raises(ValueError, match=r"^iCE40 PLL cannot make 30\.1 MHz from 12 MHz "
                                         r"exactly$"):
        ice40_pll_dividers(12e6, 30.1e6)


def test_pll_dividers():
    assert ecp5_pll_dividers(25e6, 100e6) == (1, 4, 6)
    clki, clkfb, clkop = ecp5_pll_dividers(25e6, 60e6)
    assert 25e6 * clkfb / clki == 60e6 and 400e6 <= 60e6 * clkop <= 800e6
    with pytest.raises(ValueError, match=r"^ECP5 PLL cannot make 0.001 MHz from 25 MHz "
                                         r"exactly$"):
        ecp5_pll_dividers(25e6, 1e3)


def test_board_configurations_match_their_clocks():
    for target in BOARDS.values():
        assert target.config.baud_divisor == baud_divisor(target.clock_hz, BAUD_RATE)
        assert multiplier_count(target.config, target.platform().family) <= \
            target.platform.dsp_blocks


@pytest.mark.parametrize("board, divisor, rate, error", [
    ("ulx3s", 33, 3030303, 0.010101), ("icebreaker", 10, 3000000, 0.0),
])
def test_the_link_runs_at_3_mbaud(board, divisor, rate, error):
    link = BOARDS[board].link
    assert BAUD_RATE == 3_000_000
    assert (link["baud_divisor"], round(link["baud_rate"]), link["baud_error"]) == \
        (divisor, rate, error)
    assert link["clock_hz"] == BOARDS[board].platform.clock_hz
    assert link["nominal_baud_rate"] == BAUD_RATE


def test_a_board_rate_its_clock_cannot_make_is_refused():
    slower = board_target(BOARDS["icebreaker"].platform, baud_rate=1_000_000, pes=4)
    assert (slower.config.baud_divisor, slower.link["baud_error"]) == (30, 0.0)
    with pytest.raises(ValueError, match=r"^4500000 baud from 30 MHz: the divisor 7 makes "
                                         r"4285714 baud, -4\.8% off, more than the 2\.5% a "
                                         r"UART tolerates$"):
        board_target(BOARDS["icebreaker"].platform, baud_rate=4_500_000, pes=4)


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
    assert manifest["link"] == {"clock_hz": 30e6, "baud_divisor": 10, "baud_rate": 3e6,
                                "nominal_baud_rate": 3_000_000, "baud_error": 0.0}


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
    cfg = AccelConfig(**sparse["config"])
    family = BOARDS[board].platform().family
    assert resources["dsps"]["used"] == multiplier_count(cfg, family)
    assert sparse["fmax_mhz"] > 0 and sparse["critical_path"]["delay_ns"] > 0
    markdown = (out / "report.md").read_text()
    assert f"P = {pes}" in markdown and "LUTs" in markdown
    if baseline:
        dense = report["dense"]
        assert dense["resources"]["dsps"]["used"] == multiplier_count(
            dataclasses.replace(cfg, max_layers=0), family)
        ratio = report["sparse_over_dense"]["luts"]
        assert ratio == pytest.approx(resources["luts"]["used"] / dense["resources"]["luts"]
                                      ["used"], abs=0.01)
        assert "sparse / dense" in markdown
    return sparse


# Small configurations, each built in well under two minutes. The iCEBreaker's 30 MHz is met
# with room to spare; whether the ULX3S meets 100 MHz is for bench.boards to measure, so its
# build only has to complete, with the dense baseline beside it.
@pytest.mark.parametrize("board, pes, baseline, options", [
    ("icebreaker", 2, False, ["--no-baseline"]),
    # Without the resident-network hardware (built here on the iCEBreaker, and at P = 64
    # by bench.boards): its output stages would double this small build's place and route.
    ("ulx3s", 4, True, ["--allow-timing-fail", "--max-layers", "0"]),
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


def yosys(folder, module, ports, script, output):
    """Runs Yosys's ``script`` in ``folder`` on the Amaranth ``module`` with ``ports``, read
    first as ``top``; returns the text ``script`` writes to ``output``."""
    from amaranth.back import rtlil

    from gen.build import _tool

    (folder / "top.il").write_text(rtlil.convert(module, ports=ports))
    result = subprocess.run([_tool("yosys"), "-q", "-p", f"read_rtlil top.il; {script}"],
                            cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return (folder / output).read_text()


def test_replicas_survive_synthesis(tmp_path):
    """The board flow keeps a register's replicas apart; plain synthesis would merge them."""
    from amaranth.hdl import Module, Signal

    from hw.replicas import KEEP_REPLICAS, replicate

    i, o = Signal(4), Signal(4)
    m = Module()
    copies = replicate(m, i, 3, name="copy")
    m.d.sync += o.eq(copies[0] ^ (copies[1] + copies[2]))

    def flip_flops(script):
        stat = yosys(tmp_path, m, [i, o],
                     f"{script} synth_ecp5 -top top; tee -o stat.txt stat", "stat.txt")
        counts = [line.split() for line in stat.splitlines()]
        return next(int(count) for cell, count in (words for words in counts if len(words) == 2)
                    if cell == "TRELLIS_FF")

    assert flip_flops("") == 4 + 4
    assert flip_flops(f"{KEEP_REPLICAS};") == 3 * 4 + 4


def test_ice40_multiplier_block_computes_the_product(tmp_path):
    """The iCE40 multiplier block ``hw.arith`` instantiates, simulated by Yosys on its own
    cell model: the registered signed product two cycles after the operands, held while
    the enable is low. (Yosys has no model of the ECP5's MULT18X18D, only a black box.)"""
    from amaranth.hdl import Module, Signal, signed

    from hw.arith import registered_product

    platform = SimpleNamespace(family="iCE40")        # what registered_product looks at
    a, b, enable = Signal(signed(8), name="a"), Signal(signed(8), name="b"), Signal(name="en")
    m = Module()
    product = Signal(signed(16), name="p")
    m.d.comb += product.eq(registered_product(m, platform, a, b, enable))

    # Operands at steps 1 to 4, enabled; at step 5 the enable is low and all is held.
    operands = [(-7, 93), (127, -128), (-128, -128), (55, 3), (1, 1)]
    sets = " ".join(f"-set-at {step} a {x} -set-at {step} b {y} -set-at {step} en {int(step < 5)}"
                    for step, (x, y) in enumerate(operands, start=1))
    table = yosys(tmp_path, m, [a, b, enable, product],
                  "read_verilog +/ice40/cells_sim.v; hierarchy -top top; proc; flatten; "
                  f"async2sync; opt_clean; tee -o sat.txt sat -seq 6 -set-init-zero {sets} "
                  "-show p", "sat.txt")
    seen = {}
    for line in table.splitlines():
        words = line.split()
        if len(words) == 5 and words[1] == "\\p":
            seen[int(words[0])] = int(words[4], 2) - (1 << 16) * (words[4][0] == "1")
    products = [x * y for x, y in operands]
    assert [seen[step] for step in (3, 4, 5, 6)] == products[:3] + [products[2]]


def test_ice40_multiplier_pairs_compute_their_products(tmp_path):
    """The iCE40 multiplier blocks in their 8x8 mode (``hw.arith.registered_products``),
    simulated by Yosys on its cell model: three lanes take two blocks (a pair and one alone),
    each lane's signed product two cycles after its operands, all held while the enable is
    low; 4-bit operands are sign-extended into the 8-bit multipliers."""
    from amaranth.hdl import Module, Signal, signed

    from hw.arith import registered_products

    platform = SimpleNamespace(family="iCE40")
    widths = (8, 8, 4)
    a = [Signal(signed(w), name=f"a{lane}") for lane, w in enumerate(widths)]
    b = [Signal(signed(w), name=f"b{lane}") for lane, w in enumerate(widths)]
    enable = Signal(name="en")
    m = Module()
    products = [Signal(signed(2 * w), name=f"p{lane}") for lane, w in enumerate(widths)]
    m.d.comb += [p.eq(q) for p, q in zip(
        products, registered_products(m, platform, list(zip(a, b)), enable))]
    rng = __import__("numpy").random.default_rng(5)
    steps = []
    for step in range(1, 6):
        values = [(int(rng.integers(-(1 << w - 1), 1 << w - 1)),
                   int(rng.integers(-(1 << w - 1), 1 << w - 1))) for w in widths]
        if step == 1:
            values = [(-128, -128), (127, -128), (-8, -8)]
        steps.append(values)
    sets = " ".join(f"-set-at {step} a{lane} {x} -set-at {step} b{lane} {y}"
                    for step, values in enumerate(steps, start=1)
                    for lane, (x, y) in enumerate(values))
    sets += " " + " ".join(f"-set-at {step} en {int(step < 5)}" for step in range(1, 6))
    shown = " ".join(f"-show p{lane}" for lane in range(len(widths)))
    table = yosys(tmp_path, m, [*a, *b, enable, *products],
                  "read_verilog +/ice40/cells_sim.v; hierarchy -top top; proc; flatten; "
                  f"async2sync; opt_clean; tee -o stat.txt stat; "
                  f"tee -a sat.txt sat -seq 6 -set-init-zero {sets} {shown}", "sat.txt")
    seen = {}
    for line in table.splitlines():
        words = line.split()
        if len(words) == 5 and words[1].startswith("\\p"):
            lane, bits = int(words[1][2:]), words[4]
            seen[int(words[0]), lane] = int(bits, 2) - (1 << len(bits)) * (bits[0] == "1")
    stat = (tmp_path / "stat.txt").read_text()
    assert "SB_MAC16" not in stat     # flattened: the model, not a black box
    for lane in range(len(widths)):
        expected = [x * y for x, y in (values[lane] for values in steps)]
        assert [seen[step, lane] for step in (3, 4, 5, 6)] == expected[:3] + [expected[2]]


def test_ice40_pairs_take_half_the_blocks():
    from amaranth.hdl import Fragment, Module, Signal, signed

    from hw.arith import registered_products

    def blocks(width, lanes):
        m = Module()
        pairs = [(Signal(signed(width)), Signal(signed(width))) for _ in range(lanes)]
        registered_products(m, SimpleNamespace(family="iCE40"), pairs, Signal())
        return sum(1 for sub, *_ in Fragment.get(m, None).subfragments
                   if getattr(sub, "type", None) == "SB_MAC16")

    assert [blocks(8, 16), blocks(8, 3), blocks(4, 2), blocks(16, 4)] == [8, 2, 1, 4]


def test_a_flow_step_shows_the_tools_lines_and_names_its_log_when_it_fails(tmp_path):
    from tqdm.auto import tqdm
    from gen.build import ToolError, _run
    script = "import time; print('Info: placing', flush=True); time.sleep(0.5); exit(3)"
    with tqdm(total=1, disable=True) as bar:
        shown = []
        bar.set_postfix_str = shown.append
        with pytest.raises(ToolError, match=r"^sparse_x: synthesis failed \(exit 3\); see "
                                            r".*/synth\.log$"):
            _run("sparse_x: synthesis", [sys.executable, "-c", script], tmp_path, "synth.log",
                 bar, heartbeat=0.1)
    assert "placing" in shown
    assert (tmp_path / "synth.log").read_text() == "Info: placing\n"
