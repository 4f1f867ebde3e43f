"""``python -m gen --estimate``: resources per block from Yosys alone."""

import json

from gen.__main__ import main
from hw.accel import multiplier_count
from hw.config import AccelConfig
from gen.estimate import KINDS


def test_the_estimate_counts_every_block_and_the_wrapper(tmp_path):
    main(["--pes", "4", "--max-k", "20", "--max-m", "10", "--weight-depth", "8",
          "--bus", "wishbone", "--estimate", "--out", str(tmp_path), "--quiet"])
    result = json.loads((tmp_path / "estimate.json").read_text())
    blocks = {block["name"]: block for block in result["blocks"]}
    top, own, core = (blocks[name] for name in ("sparse_accel", "sparse_accel/(own)",
                                                 "sparse_accel/core"))
    for kind in KINDS:
        assert top[kind] == own[kind] + core[kind]
        inside = [block[kind] for name, block in blocks.items()
                  if name.startswith("sparse_accel/core/")]
        assert core[kind] == sum(inside)
    assert 0 < own["luts"] <= 300
    assert own["dsps"] == own["brams"] == 0
    cfg = AccelConfig(pes=4, max_k=20, max_m=10, weight_depth=8)
    assert core["dsps"] == multiplier_count(cfg)
    assert blocks["sparse_accel/core/pes"]["dsps"] == 4
    assert "sparse_accel/core/registers" in blocks
    table = (tmp_path / "estimate.md").read_text()
    assert table.splitlines()[0] == "| block | luts | ffs | dsps | brams | lutrams |"
    assert result["seconds"] > 0
