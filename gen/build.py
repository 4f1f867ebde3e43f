"""Bitstreams for a board with the open FPGA toolchain from PyPI, and their reports.

Synthesis runs in YoWASP's Yosys, place-and-route in YoWASP's nextpnr, packing in its
``ecppack`` or ``icepack``: nothing beyond the project's own install. Each build also writes
an implementation report (``report.json`` for tools, ``report.md`` for people) from nextpnr's
own report: resources in total and per PE, Fmax against the board clock, and the critical
path's start and end.
"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from tqdm.auto import tqdm

from boards import BoardTop
from hw.accel import Accelerator
from hw.board import Board
from hw.dense import DenseArray
from hw.replicas import KEEP_REPLICAS

from .compat import nextpnr_device_options, no_zero_memory_init
from .tools import ToolError, tool as _tool


__all__ = ["DEFAULT_SEED", "ENGINES", "ToolError", "build_bitstream", "extract_sources",
           "resources", "write_report"]


#: What a build can place behind the board's link: the accelerator, or its dense baseline.
ENGINES = {"sparse": Accelerator, "dense": DenseArray}


def _run(step, command, cwd, log, bar, heartbeat=5.0):
    """Runs ``command``, its output going to ``log``; shows nextpnr's latest ``Info:`` line on
    the progress ``bar`` every ``heartbeat`` seconds."""
    started = time.monotonic()
    last_line = [""]
    with open(cwd / log, "w") as log_file:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)

        def pump():
            for line in process.stdout:
                log_file.write(line)
                if line.startswith("Info:") and line.strip() != "Info:":
                    last_line[0] = line.strip()[len("Info:"):].strip()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        while reader.is_alive():
            reader.join(timeout=heartbeat)
            if reader.is_alive():
                bar.set_postfix_str(last_line[0][:70])
        process.wait()
    if process.returncode != 0:
        raise ToolError(f"{step} failed (exit {process.returncode}); see {cwd / log}")
    return time.monotonic() - started


#: nextpnr's placement seed when none is given: the builds the README reports used it.
DEFAULT_SEED = 1


def _flow(platform, name, report, seed=DEFAULT_SEED):
    """The commands of the flow of ``platform``'s family, in order: (step, command, log);
    nextpnr places with ``seed``."""
    if platform.family == "ecp5":
        return [
            ("synthesis", [_tool("yosys"), "-q", "-l", f"{name}.rpt", f"{name}.ys"],
             f"{name}.synth.log"),
            ("place and route", [
                _tool("nextpnr-ecp5"), *nextpnr_device_options(platform),
                "--speed", str(platform.speed), "--json", f"{name}.json",
                "--lpf", f"{name}.lpf", "--textcfg", f"{name}.config",
                "--report", report, "--detailed-timing-report", "--timing-allow-fail",
                # The static placer's results route, where the heap placer's did not converge;
                # timing-driven rip-up lets router2 take critical nets off their detours.
                "--placer", "static", "--router", "router2", "--tmg-ripup",
                "--seed", str(seed)],
             f"{name}.pnr.log"),
            ("packing", [_tool("ecppack"), "--input", f"{name}.config",
                         "--bit", f"{name}.bit"], f"{name}.pack.log"),
        ], f"{name}.bit"
    if platform.family == "iCE40":
        return [
            ("synthesis", [_tool("yosys"), "-q", "-l", f"{name}.rpt", f"{name}.ys"],
             f"{name}.synth.log"),
            ("place and route", [
                _tool("nextpnr-ice40"), *nextpnr_device_options(platform),
                "--json", f"{name}.json", "--pcf", f"{name}.pcf", "--asc", f"{name}.asc",
                "--report", report, "--detailed-timing-report", "--timing-allow-fail",
                # router1 looped without end on a small netlist with 543 wires overused;
                # router2 routed it in 24 s, and gives up rather than loop.
                "--router", "router2", "--seed", str(seed)],
             f"{name}.pnr.log"),
            ("packing", [_tool("icepack"), f"{name}.asc", f"{name}.bin"], f"{name}.pack.log"),
        ], f"{name}.bin"
    raise ToolError(f"No open flow for the {platform.family} family")


#: nextpnr's cell types for each resource the report counts, per FPGA family.
_RESOURCES = {
    "ecp5":  {"luts": ["TRELLIS_COMB"], "ffs": ["TRELLIS_FF"], "dsps": ["MULT18X18D"],
              "brams": ["DP16KD"]},
    "iCE40": {"luts": ["ICESTORM_LC"], "ffs": [], "dsps": ["ICESTORM_DSP"],
              "brams": ["ICESTORM_RAM"], "sprams": ["ICESTORM_SPRAM"]},
}


def resources(family, utilization, ffs=None):
    """Used and available counts of LUTs, FFs, DSPs and block RAMs from nextpnr's report."""
    result = {}
    for kind, cells in _RESOURCES[family].items():
        used = sum(utilization.get(cell, {}).get("used", 0) for cell in cells)
        available = sum(utilization.get(cell, {}).get("available", 0) for cell in cells)
        result[kind] = {"used": used, "available": available}
    if ffs is not None:
        result["ffs"] = {"used": ffs, "available": result["luts"]["available"]}
    return result


def _ice40_ffs(netlist_path):
    """Flip-flops of an iCE40 netlist (nextpnr packs them into logic cells uncounted)."""
    netlist = json.loads(Path(netlist_path).read_text())
    return sum(1 for module in netlist["modules"].values()
               for cell in module.get("cells", {}).values() if cell["type"].startswith("SB_DFF"))


def _critical_path(report):
    paths = report.get("critical_paths", [])
    if not paths or not paths[0].get("path"):
        return None
    path = paths[0]["path"]
    return {"from": path[0]["from"]["cell"], "to": path[-1]["to"]["cell"],
            "delay_ns": round(sum(step["delay"] for step in path), 3),
            "logic_ns": round(sum(step["delay"] for step in path
                                  if step["type"] != "routing"), 3)}


def _prepare(platform, cfg, out, engine):
    name = f"{engine}_{platform.name}"
    top = BoardTop(Board(cfg, engine=ENGINES[engine]))
    # Amaranth leaves the iCE40's DSP blocks out unless asked.
    options = {"synth_opts": "-dsp"} if platform.family == "iCE40" else {}
    with no_zero_memory_init():
        plan = platform.prepare(top, name=name, script_after_read=KEEP_REPLICAS, **options)
    plan.extract(out)
    return name


def extract_sources(platform, cfg, out, *, engine="sparse"):
    """Writes the board's synthesis sources (RTLIL, Yosys script, pin constraints) only."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return _prepare(platform, cfg, out, engine)


def build_bitstream(platform, cfg, out, *, engine="sparse", seed=DEFAULT_SEED,
                    progress=None, bar=False):
    """Synthesizes, places, routes and packs ``cfg`` for ``platform`` into the folder ``out``.

    ``engine`` is ``"sparse"`` (the accelerator) or ``"dense"`` (the baseline MAC array);
    ``seed`` is nextpnr's placement seed (the Fmax margin moves with it).
    ``progress(message)`` is told each step; with ``bar``, a progress bar of the steps on
    stderr shows the tool's latest line. Returns the report's dictionary; raises
    :class:`ToolError` if a step fails.
    """
    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"{engine}_{platform.name}: elaborating {cfg.pes} PEs")
    started = time.monotonic()
    name = _prepare(platform, cfg, out, engine)
    commands, bitstream = _flow(platform, name, f"{name}.report.json", seed)
    seconds = {"elaboration": round(time.monotonic() - started, 1)}
    with tqdm(commands, desc=name, unit="step", disable=not bar, leave=False,
              file=sys.stderr) as steps:
        for step, command, log in steps:
            say(f"{name}: {step}")
            steps.set_postfix_str(step)
            seconds[step] = round(_run(f"{name}: {step}", command, out, log, steps), 1)
    pnr = json.loads((out / f"{name}.report.json").read_text())
    ffs = _ice40_ffs(out / f"{name}.json") if platform.family == "iCE40" else None
    clocks = {clock: {"achieved_mhz": round(figures["achieved"], 2),
                      "constraint_mhz": round(figures["constraint"], 2)}
              for clock, figures in pnr.get("fmax", {}).items()}
    fmax = min((clock["achieved_mhz"] for clock in clocks.values()), default=None)
    report = {
        "board": platform.name,
        "device": "-".join(str(part) for part in (platform.device, platform.package,
                                                     getattr(platform, "speed", None)) if part),
        "engine": engine,
        "seed": seed,
        "config": cfg.to_dict(),
        "clock_mhz": platform.clock_hz / 1e6,
        "fmax_mhz": fmax,
        "timing_met": fmax is not None and fmax >= platform.clock_hz / 1e6,
        "clocks": clocks,
        "critical_path": _critical_path(pnr),
        "resources": resources(platform.family, pnr["utilization"], ffs),
        "seconds": seconds,
        "bitstream": bitstream,
    }
    (out / f"{name}.json").unlink(missing_ok=True)  # the netlist: hundreds of MB at P = 64
    return report


def _row(label, resources, pes):
    cells = []
    for kind in ("luts", "ffs", "dsps", "brams"):
        used, available = resources[kind]["used"], resources[kind]["available"]
        cells.append(f"{used} / {available} ({used / pes:.1f} per PE)")
    return f"| {label} | " + " | ".join(cells) + " |"


def write_report(out, sparse, dense=None, *, link=None, blocks=None, progress=None):
    """Writes ``report.json`` and ``report.md`` for a sparse build and its dense baseline,
    and ``resources.png`` beside them (when matplotlib is installed; ``progress(message)``
    is told when it is not). ``link`` is the board's link speed
    (:func:`gen.manifest.link_rate`); ``blocks`` the accelerator's resources per block
    (:func:`gen.estimate.estimate`), which the report adds as a table."""
    from .estimate import estimate_table
    from .plots import PlotsUnavailable, resources_plot
    say = progress or (lambda message: None)
    out = Path(out)
    ratios = None
    if dense is not None:
        ratios = {kind: round(sparse["resources"][kind]["used"] /
                              max(1, dense["resources"][kind]["used"]), 2)
                  for kind in ("luts", "ffs", "dsps", "brams")}
    document = {"sparse": sparse, "dense": dense, "sparse_over_dense": ratios, "link": link,
                "blocks": blocks}
    (out / "report.json").write_text(json.dumps(document, indent=2) + "\n")

    pes = sparse["config"]["pes"]
    lines = [
        f"# Implementation report: {sparse['board']}, P = {pes}",
        "",
        f"Device {sparse['device']}, clock {sparse['clock_mhz']:g} MHz. "
        f"Bitstream: `{sparse['bitstream']}`.",
        "",
        *([f"Link: {link['baud_rate']:.0f} baud (divisor {link['baud_divisor']}, "
           f"{link['baud_error']:+.2%} off {link['nominal_baud_rate']:.0f} baud).", ""]
          if link and link["clock_hz"] else []),
        "| design | LUTs | FFs | DSPs | block RAMs | Fmax (MHz) |",
        "|---|---|---|---|---|---|",
    ]
    for label, build in (("sparse accelerator", sparse), ("dense MAC array", dense)):
        if build is not None:
            lines.append(_row(label, build["resources"], pes) + f" {build['fmax_mhz']} |")
    if ratios is not None:
        lines.append("| sparse / dense | " + " | ".join(
            f"{ratios[kind]:.2f}x" for kind in ("luts", "ffs", "dsps", "brams")) + " | |")
    lines.append("")
    if "sprams" in sparse["resources"]:
        sprams = sparse["resources"]["sprams"]
        lines += [f"Single-port RAM blocks (SPRAM): {sprams['used']} / {sprams['available']}.",
                  ""]
    for label, build in (("Sparse accelerator", sparse), ("Dense MAC array", dense)):
        if build is None:
            continue
        path = build["critical_path"]
        verdict = "met" if build["timing_met"] else "NOT met"
        lines.append(f"{label}: timing {verdict} at {build['clock_mhz']:g} MHz "
                     f"(Fmax {build['fmax_mhz']} MHz).")
        if path is not None:
            lines.append(f"Critical path, {path['delay_ns']} ns ({path['logic_ns']} ns logic): "
                         f"`{path['from']}` -> `{path['to']}`.")
        steps = ", ".join(f"{step} {seconds:g} s" for step, seconds in build["seconds"].items())
        lines.append(f"Build time: {steps}.")
        lines.append("")
    lines.append("LUTs are nextpnr's logic cells (ECP5: LUT4 sites, two per carry cell; iCE40: "
                 "logic cells). The dense MAC array has the same UART, link and memory depths, "
                 "P multipliers, a registered adder tree and one accumulator, and no sparsity "
                 "support (`hw.dense`).")
    if blocks is not None:
        lines += ["", "## Resources per block", "",
                  f"The accelerator's blocks as Yosys synthesizes them alone, before place and "
                  f"route (`python -m gen --estimate`, {blocks['seconds']} s); nextpnr packs "
                  f"LUTs into its logic cells differently.", "", estimate_table(blocks)]
    try:
        resources_plot(document, out / "resources.png")
        lines += ["", "![Resources used, in % of the device](resources.png)"]
    except PlotsUnavailable as error:
        say(f"no resources.png: {error}")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return document
