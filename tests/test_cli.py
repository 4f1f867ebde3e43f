import subprocess
import sys

import pytest


@pytest.mark.parametrize("args, message", [
    (["--pattern", "5:4"], "argument --pattern: N:M pattern needs 1 <= N < M <= 16, not '5:4'"),
    (["--pattern", "2:4", "--sparsity", "0.5"],
     "argument --sparsity: pattern '2:4' fixes its own sparsity"),
    (["--port", "/dev/ttyUSB0"], "argument --manifest: required with --port"),
    (["--batch", "0"], "argument --batch: must be at least 1"),
])
def test_host_cli_refuses_bad_arguments(args, message):
    result = subprocess.run([sys.executable, "-m", "host", *args], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert result.stderr.strip().endswith(message)


def test_host_prints_the_measured_and_estimated_times(tmp_path):
    """The 384x384 query on the default simulated board: its times measured, each board's
    estimated at the board's clock and link rate, and the plot."""
    plot = tmp_path / "costs.png"
    result = subprocess.run([sys.executable, "-m", "host", "--layer", "query", "--no-progress",
                             "--plot", str(plot)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["time", "compute", "link", "total"] in lines
    rows = {words[0]: " ".join(words) for words in lines if words}
    assert "measured: wall-clock" in rows["simulated"]
    assert rows["simulated"].endswith("compute at 100 MHz")
    assert "estimated: P = 64," in rows["ulx3s"] and "at 100 MHz" in rows["ulx3s"]
    assert "at 3030303 baud" in rows["ulx3s"]
    assert "estimated: P = 4," in rows["icebreaker"] and "at 12 MHz" in rows["icebreaker"]
    assert "at 3000000 baud" in rows["icebreaker"]
    assert rows["result"] == "result bit-exact with the golden model"
    assert plot.read_bytes().startswith(b"\x89PNG")
