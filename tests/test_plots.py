"""The PNG plots: the build report's resources (from a report made up here, no build), the
formats bench's figures and a run's costs; and what happens without matplotlib."""

import subprocess
import sys

import pytest

from gen.build import write_report
from gen.plots import PlotsUnavailable, cost_plot, formats_plot, resources_plot

PNG = b"\x89PNG\r\n\x1a\n"
NO_MATPLOTLIB = "plots need matplotlib, which the plots extra installs: pip install -e \".[plots]\""


def resources(luts, ffs, dsps, brams):
    return {"luts": {"used": luts, "available": 83640}, "ffs": {"used": ffs, "available": 83640},
            "dsps": {"used": dsps, "available": 156}, "brams": {"used": brams, "available": 208}}


def build(engine, fmax, used):
    return {"board": "ulx3s", "device": "LFE5U-85F-CABGA381-6", "engine": engine,
            "config": {"pes": 64}, "clock_mhz": 100.0, "fmax_mhz": fmax,
            "timing_met": fmax >= 100, "clocks": {}, "critical_path": None,
            "resources": resources(*used), "seconds": {"synthesis": 1.0},
            "bitstream": f"{engine}_ulx3s.bit"}


LINK = {"clock_hz": 100e6, "baud_divisor": 33, "baud_rate": 100e6 / 33,
        "nominal_baud_rate": 3_000_000, "baud_error": 0.010101}


@pytest.fixture
def no_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name.partition(".")[0] == "matplotlib":
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


@pytest.mark.parametrize("baseline", [True, False])
def test_the_report_links_its_resources_plot(tmp_path, baseline):
    dense = build("dense", 110.0, (10000, 12000, 64, 90)) if baseline else None
    write_report(tmp_path, build("sparse", 94.5, (30000, 40000, 68, 150)), dense, link=LINK)
    assert (tmp_path / "resources.png").read_bytes().startswith(PNG)
    report = (tmp_path / "report.md").read_text()
    assert "![Resources used, in % of the device](resources.png)" in report.splitlines()
    assert "Link: 3030303 baud (divisor 33, +1.01% off 3000000 baud)." in report.splitlines()


def test_the_report_breaks_the_resources_down_per_block(tmp_path):
    blocks = {"seconds": 38.0, "blocks": [
        {"name": "sparse_accel", "level": 0, "luts": 900, "ffs": 800, "dsps": 4, "brams": 9,
         "lutrams": 0},
        {"name": "sparse_accel/gaps", "level": 1, "luts": 600, "ffs": 500, "dsps": 0,
         "brams": 0, "lutrams": 0}]}
    write_report(tmp_path, build("sparse", 94.5, (30000, 40000, 68, 150)), blocks=blocks)
    report = (tmp_path / "report.md").read_text().splitlines()
    assert "## Resources per block" in report
    assert "| &nbsp;&nbsp;gaps | 600 | 500 | 0 | 0 | 0 |" in report


def test_the_report_without_matplotlib_says_why_it_has_no_plot(tmp_path, no_matplotlib):
    said = []
    write_report(tmp_path, build("sparse", 94.5, (30000, 40000, 68, 150)), progress=said.append)
    assert said == [f"no resources.png: {NO_MATPLOTLIB}"]
    assert not (tmp_path / "resources.png").exists()
    assert "resources.png" not in (tmp_path / "report.md").read_text()


def test_plots_without_matplotlib_raise_a_clear_error(tmp_path, no_matplotlib):
    with pytest.raises(PlotsUnavailable, match=r"^plots need matplotlib, which the plots extra "
                                               r"installs: pip install -e \"\.\[plots\]\"$"):
        cost_plot("x", [("layer", 10, 9)], {"board": (1e-6, 1e-3)}, tmp_path / "x.png")


def test_formats_and_cost_plots(tmp_path):
    rows = [{"layer": layer, "pattern": pattern, "cycles": cycles, "eta": 0.9, "bytes": 1000}
            for layer in ("384x384", "1536x384")
            for pattern, cycles in (("dense", 2322), ("2:4", 1170), ("unstructured 50%", 1170))]
    assert formats_plot(rows, tmp_path / "formats.png").read_bytes().startswith(PNG)
    path = cost_plot("digits", [("0 2:4", 4128, 4096), ("1 2:4", 4128, 4096)],
                     {"simulated board (measured)": (8e-5, 0.1), "ulx3s": (8e-5, 0.016)},
                     tmp_path / "sub" / "costs.png")
    assert path.read_bytes().startswith(PNG)
    assert resources_plot({"sparse": build("sparse", 94.5, (1, 2, 3, 4)), "dense": None},
                          tmp_path / "r.png").stat().st_size > 1000


def test_host_plot_without_matplotlib_exits_2_before_running():
    code = ("import sys; sys.modules['matplotlib'] = None; from host.__main__ import main; "
            "main(['--network', 'digits', '--plot', 'out.png'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"argument --plot: {NO_MATPLOTLIB}")


def test_formats_bench_plot_without_matplotlib_exits_2_before_running():
    code = ("import sys; sys.modules['matplotlib'] = None; from bench.formats import main; "
            "main(['--plot', 'out.png'])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"argument --plot: {NO_MATPLOTLIB}")
