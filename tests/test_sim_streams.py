"""The Amaranth-simulator helpers' VCD output (``VCD=DIR``)."""

import re

from hw.streams import StreamRegister
from tests.sim_streams import run_stream


def test_vcd_names_a_folder_for_every_simulation(tmp_path, monkeypatch):
    monkeypatch.setenv("VCD", str(tmp_path / "waves"))
    payloads = [1, 2, 3, 250]
    assert run_stream(StreamRegister(8), payloads, seed=1) == payloads
    assert run_stream(StreamRegister(8), payloads, seed=2) == payloads
    stem = "test_sim_streams.py-test_vcd_names_a_folder_for_every_simulation"
    assert {path.name for path in (tmp_path / "waves").iterdir()} == {f"{stem}.vcd",
                                                                     f"{stem}-1.vcd"}
    first = tmp_path / "waves" / f"{stem}.vcd"
    header, _, changes = first.read_text().partition("$enddefinitions")
    variables = set(re.findall(r"\$var \w+ \d+ \S+ (\S+)", header))
    assert {"clk", "rst", "i__valid", "i__ready", "i__payload", "o__valid", "o__ready",
            "o__payload"} <= variables
    assert changes.count("#") > len(payloads)


def test_no_vcd_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("VCD", raising=False)
    monkeypatch.chdir(tmp_path)
    assert run_stream(StreamRegister(8), [7], seed=3) == [7]
    assert not list(tmp_path.rglob("*.vcd"))
