import subprocess
import sys

import pytest


@pytest.mark.parametrize("args, message", [
    (["--pattern", "5:4"], "argument --pattern: N:M pattern needs 1 <= N < M <= 16, not '5:4'"),
    (["--pattern", "2:4", "--sparsity", "0.5"],
     "argument --sparsity: pattern '2:4' fixes its own sparsity"),
    (["--port", "/dev/ttyUSB0"], "argument --manifest: required with --port"),
    (["--batch", "0"], "argument --batch: must be at least 1"),
    (["--baudrate", "115200"], "argument --baudrate: a positive rate, with --port"),
    (["--port", "loop://", "--manifest", "m.json", "--baudrate", "0"],
     "argument --baudrate: a positive rate, with --port"),
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
    assert "estimated: P = 4," in rows["icebreaker"] and "at 30 MHz" in rows["icebreaker"]
    assert "at 3000000 baud" in rows["icebreaker"]
    assert rows["result"] == "result bit-exact with the golden model"
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_host_on_a_port_whose_manifest_states_no_rate(tmp_path):
    """A board generated for no board's clock: ``--baudrate`` is required, and used."""
    import json
    from gen.simboard import build_sim_board
    from host.driver import SIM_CONFIG
    from host.link import SimulatedBoard
    with SimulatedBoard(build_sim_board(SIM_CONFIG)) as board:
        manifest = tmp_path / "manifest.json"
        manifest.write_text(json.dumps(dict(board.manifest, link=None)))
        command = [sys.executable, "-m", "host", "--layer", "query", "--no-progress",
                   "--port", board.url, "--manifest", str(manifest)]
        refused = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert refused.returncode == 2
        assert refused.stderr.strip().endswith(
            "argument --baudrate: required: the manifest states no baud rate (it was "
            "generated for no board)")
        result = subprocess.run(command + ["--baudrate", "3000000"], capture_output=True,
                                text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.split()[:1] == ["board"] and line.endswith(
        "compute unknown (the manifest states no clock)") for line in lines)
    assert lines[-1].strip() == "result             bit-exact with the golden model"
