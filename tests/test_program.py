"""Loading a bitstream with openFPGALoader: the command it runs (a fake executable on
``PATH`` records it) and the message where it is not installed (as on this machine)."""

import os
import subprocess
import sys

import pytest

from boards.program import program_command

# A stand-in for openFPGALoader: records its arguments, one a line, and exits with $FAKE_EXIT.
FAKE = """#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_LOG"
exit "${FAKE_EXIT:-0}"
"""

NOT_INSTALLED = (
    "openFPGALoader is not installed: install it from your distribution (`apt install "
    "openfpgaloader` on Debian and Ubuntu, `brew install openfpgaloader` on macOS) or from "
    "https://trabucayre.github.io/openFPGALoader/guide/install.html, or set OPENFPGALOADER "
    "to its path")


def run(module, *args, path, **env):
    """``python -m module args`` with ``PATH`` only ``path`` and no ``OPENFPGALOADER``."""
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("PATH", "OPENFPGALOADER")}
    environment.update(PATH=str(path), **env)
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                          text=True, env=environment, timeout=120)


@pytest.fixture
def bitstream(tmp_path):
    path = tmp_path / "sparse_ulx3s.bit"
    path.write_bytes(b"\xff" * 64)
    return path


@pytest.fixture
def fake_loader(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    loader = folder / "openFPGALoader"
    loader.write_text(FAKE)
    loader.chmod(0o755)
    return folder


@pytest.mark.parametrize("board, flash, expected", [
    ("ulx3s", False, ["--board", "ulx3s"]),
    ("ulx3s", True, ["--board", "ulx3s", "--write-flash"]),
    ("icebreaker", False, ["--board", "ice40_generic"]),
])
def test_the_command_it_runs(tmp_path, bitstream, fake_loader, board, flash, expected):
    log = tmp_path / "arguments"
    result = run("boards.program", "--board", board, str(bitstream),
                 *(["--flash"] if flash else []), path=fake_loader, FAKE_LOG=str(log))
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [*expected, str(bitstream)]


def test_openfpgaloader_named_by_its_variable(tmp_path, bitstream, fake_loader):
    log = tmp_path / "arguments"
    result = run("boards.program", "--board", "ulx3s", str(bitstream), path=tmp_path,
                 OPENFPGALOADER=str(fake_loader / "openFPGALoader"), FAKE_LOG=str(log))
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == ["--board", "ulx3s", str(bitstream)]


def test_a_failing_load_exits_1(tmp_path, bitstream, fake_loader):
    result = run("boards.program", "--board", "ulx3s", str(bitstream), path=fake_loader,
                 FAKE_LOG=str(tmp_path / "arguments"), FAKE_EXIT="3")
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: openFPGALoader failed (exit 3): "
                                     f"{fake_loader / 'openFPGALoader'} --board ulx3s "
                                     f"{bitstream}")


def test_without_openfpgaloader_it_says_how_to_get_it(tmp_path, bitstream):
    result = run("boards.program", "--board", "ulx3s", str(bitstream), path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {NOT_INSTALLED}"


def test_gen_checks_for_openfpgaloader_before_building(tmp_path):
    result = run("gen", "--board", "icebreaker", "--build", "--program", "--out",
                 str(tmp_path / "out"), path=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: --program: {NOT_INSTALLED}"
    assert not (tmp_path / "out").exists()


def test_gen_program_needs_build(tmp_path):
    result = run("gen", "--board", "icebreaker", "--program", "--out", str(tmp_path),
                 path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("argument --program: needs --build")


def test_bad_boards_and_files_are_refused(tmp_path, bitstream):
    with pytest.raises(ValueError, match=r"^No openFPGALoader board for 'arty' \(boards: "
                                         r"icebreaker, ulx3s\)$"):
        program_command("arty", bitstream)
    with pytest.raises(ValueError, match=r"^No bitstream at '.*/missing\.bit'$"):
        program_command("ulx3s", tmp_path / "missing.bit")
