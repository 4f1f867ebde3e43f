"""The simulated board: the board-level Verilog compiled with Verilator into a TCP server."""

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from hw.board import Board

from ..emit import emit_verilog
from ..manifest import manifest
from ..verilator import verilator_environment, verilator_root


__all__ = ["BOARD_NAME", "build_sim_board", "cache_root"]


BOARD_NAME = "sparse_board"
HARNESS = Path(__file__).with_name("main.cpp")


def cache_root():
    """Where simulated boards are built: ``$SPARSE_ACCEL_CACHE`` or
    ``~/.cache/sparse-accel``."""
    return Path(os.environ.get("SPARSE_ACCEL_CACHE",
                               Path.home() / ".cache" / "sparse-accel"))


def _sources_digest(cfg):
    """A hash of everything the simulated board is built from: the configuration, the
    gateware's and the generator's source files, and the harness."""
    digest = hashlib.sha256(json.dumps(manifest(cfg), sort_keys=True).encode())
    gen = Path(__file__).resolve().parent.parent
    roots = [gen.parent / "hw", Path(__file__).parent, gen / "emit.py", gen / "verilator.py"]
    for root in roots:
        for path in sorted(root.rglob("*") if root.is_dir() else [root]):
            if path.suffix in (".py", ".cpp"):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_sim_board(cfg, *, progress=None):
    """Build (once; cached by a hash of its sources) the simulated board for ``cfg``.

    Returns the folder holding the executable ``sparse_board`` and ``manifest.json``.
    """
    say = progress or (lambda message: None)
    folder = cache_root() / f"board-{cfg.pes}pe-{_sources_digest(cfg)}"
    executable = folder / BOARD_NAME
    if executable.exists():
        return folder
    # One build at a time for a folder: a second process waits for the first's board.
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if executable.exists():
            return folder
        return _build(cfg, folder, say)


def _build(cfg, folder, say):
    verilog = emit_verilog(Board(cfg, core_domain="core"), BOARD_NAME)
    say(f"building the simulated board ({cfg.pes} PEs) with Verilator; this takes a few "
        f"minutes once")
    work = folder.with_name(folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / f"{BOARD_NAME}.v").write_text(verilog)
    (work / "manifest.json").write_text(json.dumps(manifest(cfg), indent=2) + "\n")
    env = verilator_environment()
    tool = verilator_root() / "bin" / "verilator"
    command = [str(tool), "--cc", "--exe", "--build", "-j", "2", "-O3", "--x-assign", "fast",
               "--x-initial", "fast", "-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
               "-Wno-CASEINCOMPLETE", "--top-module", BOARD_NAME, "-o", BOARD_NAME,
               "-CFLAGS", "-O2", "--Mdir", "obj", f"{BOARD_NAME}.v", str(HARNESS)]
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
