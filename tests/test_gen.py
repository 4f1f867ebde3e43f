import json
import subprocess
import sys

import pytest

from gen.__main__ import main
from hw.config import AccelConfig
from hw.bus import Reg


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
    assert manifest["latency"] == cfg.latency
    assert manifest["registers"]["CYCLES"]["address"] == Reg.CYCLES.value
    assert manifest["layouts"]["unstructured_beat"]["column"] == {
        "offset": 32, "width": 5, "signed": False, "per_lane": True}
    assert manifest["layouts"]["pattern"]["last"] == {
        "offset": 0, "width": 1, "signed": False, "per_lane": True}
    assert manifest["layouts"]["pattern"]["base"] == {
        "offset": 4, "width": 5, "signed": False, "per_lane": False}


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
                   "--weight-depth", "--out"):
        assert option in result.stdout
