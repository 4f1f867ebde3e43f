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
