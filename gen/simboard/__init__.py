"""The simulated board: the board-level Verilog compiled with Verilator into a TCP server."""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from hw.board import Board
from hw.uart import LINK_BAUD_RATE, MAX_BAUD_ERROR, baud_error

from ..emit import emit_verilog
from ..manifest import manifest
from ..verilator import verilator_environment, verilator_root


__all__ = ["BOARD_NAME", "CLOCK_HZ", "TRACE_FORMATS", "board_manifest", "build_sim_board",
           "cache_root", "fst_buildable", "trace_format"]


BOARD_NAME = "sparse_board"
HARNESS = Path(__file__).with_name("main.cpp")

#: The clock the simulated board's manifest states, the ULX3S's: its cycles and its link's
#: divisor read as that board's.
CLOCK_HZ = 100e6

#: Trace formats of the harness: Verilator's option and the harness's define for each.
TRACE_FORMATS = {"vcd": ("--trace", "SIM_TRACE_VCD"), "fst": ("--trace-fst", "SIM_TRACE_FST")}


def board_manifest(cfg):
    """The simulated board's manifest: its link at :data:`CLOCK_HZ`, meant to run at
    :data:`hw.uart.LINK_BAUD_RATE` when its divisor makes that rate (a board's divisor),
    else at the rate it makes (one cycle a bit: 100 Mbaud)."""
    made_for_boards = abs(baud_error(CLOCK_HZ, cfg.baud_divisor, LINK_BAUD_RATE)) \
        <= MAX_BAUD_ERROR
    return manifest(cfg, clock_hz=CLOCK_HZ,
                    baud_rate=LINK_BAUD_RATE if made_for_boards else None)


def fst_buildable(compiler="c++"):
    """Whether ``compiler`` finds the headers Verilator's FST writer includes."""
    try:
        result = subprocess.run([compiler, "-x", "c++", "-E", "-o", os.devnull, "-"],
                                input="#include <lz4.h>\n#include <zlib.h>\n", text=True,
                                capture_output=True)
    except OSError:
        return False
    return result.returncode == 0


def trace_format(path):
    """The trace format a file name asks for: ``"vcd"`` or ``"fst"``, by its suffix."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in TRACE_FORMATS:
        raise ValueError(f"A trace file ends in .vcd or .fst, not {str(path)!r}")
    return suffix


def cache_root():
    """Where simulated boards are built: ``$SPARSE_ACCEL_CACHE`` or
    ``~/.cache/sparse-accel``."""
    return Path(os.environ.get("SPARSE_ACCEL_CACHE",
                               Path.home() / ".cache" / "sparse-accel"))


def _sources_digest(cfg):
    """A hash of everything the simulated board is built from: the configuration, the
    gateware's and the generator's source files, and the harness."""
    digest = hashlib.sha256(json.dumps(board_manifest(cfg), sort_keys=True).encode())
    gen = Path(__file__).resolve().parent.parent
    roots = [gen.parent / "hw", Path(__file__).parent, gen / "emit.py", gen / "verilator.py"]
    for root in roots:
        for path in sorted(root.rglob("*") if root.is_dir() else [root]):
            if path.suffix in (".py", ".cpp"):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_sim_board(cfg, *, trace=None, progress=None):
    """Build (once; cached by a hash of its sources) the simulated board for ``cfg``; with
    ``trace`` (``"vcd"`` or ``"fst"``) a harness that can write the board's signals to a
    file of that format, cached apart from the one that cannot.

    Returns the folder holding the executable ``sparse_board`` and ``manifest.json``.
    """
    say = progress or (lambda message: None)
    if trace is not None and trace not in TRACE_FORMATS:
        raise ValueError(f"trace must be 'vcd' or 'fst', not {trace!r}")
    if trace == "fst" and not fst_buildable():
        raise RuntimeError("An FST trace needs the lz4 and zlib headers, which the C++ "
                           "compiler does not find (Debian: apt install liblz4-dev zlib1g-dev); "
                           "a .vcd trace needs neither")
    traced = f"-trace-{trace}" if trace else ""
    folder = cache_root() / f"board-{cfg.pes}pe-{_sources_digest(cfg)}{traced}"
    executable = folder / BOARD_NAME
    if executable.exists():
        return folder
    # One build at a time for a folder: a second process waits for the first's board.
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if executable.exists():
            return folder
        return _build(cfg, folder, trace, say)


def _build(cfg, folder, trace, say):
    verilog = emit_verilog(Board(cfg, core_domain="core"), BOARD_NAME)
    say(f"building the simulated board ({cfg.pes} PEs) with Verilator; this takes a few "
        f"minutes once")
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / f"{BOARD_NAME}.v").write_text(verilog)
    (work / "manifest.json").write_text(json.dumps(board_manifest(cfg), indent=2) + "\n")
    tracing = []
    if trace:
        option, define = TRACE_FORMATS[trace]
        tracing = [option, "-CFLAGS", f"-D{define}"]
    env = verilator_environment()
    tool = verilator_root() / "bin" / "verilator"
    command = [str(tool), "--cc", "--exe", "--build", "-j", "2", "-O3", "--x-assign", "fast",
               "--x-initial", "fast", "-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
               "-Wno-CASEINCOMPLETE", "--top-module", BOARD_NAME, "-o", BOARD_NAME,
               "-CFLAGS", "-O2", *tracing, "--Mdir", "obj", f"{BOARD_NAME}.v", str(HARNESS)]
    with open(work / "build.log", "w") as log:
        result = subprocess.run(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode:
        tail = (work / "build.log").read_text()[-3000:]
        raise RuntimeError(f"Verilator could not build the simulated board:\n{tail}")
    shutil.move(work / "obj" / BOARD_NAME, work / BOARD_NAME)
    shutil.rmtree(work / "obj")
    if folder.exists():
        shutil.rmtree(folder)
    work.rename(folder)
    say(f"built the simulated board in {folder}")
    return folder
