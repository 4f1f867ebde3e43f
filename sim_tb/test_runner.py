"""The bench runner's waveforms: ``WAVES=1`` builds apart and keeps each bench's trace."""

import re

import numpy as np
import pytest

from hw.reduce import ReductionTree
from host.golden import reduction_model
from sim_tb.runner import build, run_bench, waves
from sim_tb.test_blocks import block_config, run_block, tree_inputs


def test_waves_come_from_a_traced_build_of_their_own(monkeypatch):
    cfg = block_config(4)
    monkeypatch.setenv("WAVES", "0")
    plain = build(ReductionTree(cfg), "reduce")
    monkeypatch.setenv("WAVES", "1")
    traced = build(ReductionTree(cfg), "reduce")
    assert traced.name == plain.name + "-waves"
    before = set(traced.glob("waves-bench_blocks-*"))
    products = np.arange(8 * 4).reshape(8, 4) - 16
    last = np.zeros((8, 4), bool)
    last[:, 3] = True
    out = run_block("reduce", cfg, ReductionTree(cfg), tree_inputs(cfg, products, last))
    sums, _ = reduction_model(products, last, cfg.output_ports + 1)
    np.testing.assert_array_equal(out["sums"], sums)
    (kept,) = set(traced.glob("waves-bench_blocks-*")) - before
    header, _, changes = (kept / "dump.vcd").read_text().partition("$enddefinitions")
    variables = set(re.findall(r"\$var \w+ \d+ \S+ (\S+)", header))
    assert {"clk", "rst", "i__valid", "i__ready", "o__valid"} <= variables
    assert changes.count("\n#") > 8
    assert not list(plain.glob("waves-*"))


def test_waves_must_be_a_boolean(monkeypatch):
    monkeypatch.setenv("WAVES", "fst")
    with pytest.raises(ValueError, match=r"^WAVES must be 1 or 0, not 'fst'$"):
        waves()


def test_waves_refuse_an_untraced_build(monkeypatch, tmp_path):
    monkeypatch.setenv("WAVES", "1")
    with pytest.raises(ValueError, match=r"^WAVES=1 needs a traced build, not '.*/reduce-0123': "
                                         r"build it with WAVES=1 set$"):
        run_bench(tmp_path / "reduce-0123", "reduce", "bench_blocks", {})
