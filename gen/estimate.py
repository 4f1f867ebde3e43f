"""Resources per block from Yosys's ECP5 synthesis alone, before place and route.

``python -m gen --estimate`` writes the top as RTLIL with its hierarchy, synthesizes it with
YoWASP's Yosys (``synth_ecp5 -noflatten``: every block stays a module; with ``-noabc9``, the
classic ABC mapping, since Yosys 0.55's ABC9 exits on a design left hierarchical) and counts
each module's cells with ``stat -json``. A block's figures include the blocks inside it. LUTs are
Yosys's LUT4s plus two for each CCU2C (a carry cell is two LUT4s of a slice); distributed
RAM (``TRELLIS_DPR16X4``) is counted on its own. nextpnr packs and optimizes further, so
these are estimates: a board build's report gives the placed figures.
"""

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

from amaranth.back import rtlil

from .compat import no_zero_memory_init
from .tools import ToolError, tool


__all__ = ["KINDS", "estimate", "estimate_table"]


#: ECP5 cells counted for each kind of resource, with the LUT4s each one takes.
KINDS = {
    "luts":  {"LUT4": 1, "CCU2C": 2},
    "ffs":   {"TRELLIS_FF": 1},
    "dsps":  {"MULT18X18D": 1},
    "brams": {"DP16KD": 1},
    "lutrams": {"TRELLIS_DPR16X4": 1},
}

_SCRIPT = """read_rtlil {source}
synth_ecp5 -noflatten -noabc9 -top {top}
tee -q -o {stat} stat -json
"""


def _module_name(name):
    return name[1:] if name.startswith("\\") else name


def _totals(modules, name, cache):
    """Cells of module ``name`` and of every module inside it, by type."""
    if name not in cache:
        total = Counter()
        for cell, count in modules[name].get("num_cells_by_type", {}).items():
            inner = _module_name(cell)
            if inner in modules:
                sub = _totals(modules, inner, cache)
                for kind, number in sub.items():
                    total[kind] += number * count
            else:
                total[cell] += count
        cache[name] = total
    return cache[name]


def _figures(cells):
    return {kind: sum(cells.get(cell, 0) * weight for cell, weight in types.items())
            for kind, types in KINDS.items()}


def estimate(component, top, out, *, depth=2, progress=None):
    """Synthesize ``component`` as module ``top`` in the folder ``out`` and return
    ``{"seconds": ..., "blocks": [...]}``: a row per block down to ``depth`` levels below
    the top (``name`` its path, ``level``, and the :data:`KINDS` counts), the top's own
    logic as ``"(own)"`` rows of each level, in the design's order. Raises
    :class:`~gen.tools.ToolError` if Yosys fails."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    started = time.monotonic()
    with no_zero_memory_init():
        text = rtlil.convert(component, name=top, emit_src=False)
    (out / f"{top}.il").write_text(text)
    (out / "estimate.ys").write_text(_SCRIPT.format(source=f"{top}.il", top=top,
                                                    stat="stat.json"))
    say("synthesizing with Yosys (synth_ecp5 -noflatten -noabc9)")
    with open(out / "estimate.log", "w") as log:
        result = subprocess.run([tool("yosys"), "-q", "estimate.ys"], cwd=out, stdout=log,
                                stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise ToolError(f"synthesis failed (exit {result.returncode}); "
                        f"see {out / 'estimate.log'}")
    stat = json.loads((out / "stat.json").read_text())
    modules = {_module_name(name): entry for name, entry in stat["modules"].items()}
    cache = {}
    blocks = []

    def visit(name, path, level):
        blocks.append({"name": path, "level": level,
                       **_figures(_totals(modules, name, cache))})
        if level == depth:
            return
        own = Counter({cell: count for cell, count in
                       modules[name].get("num_cells_by_type", {}).items()
                       if _module_name(cell) not in modules})
        children = [(cell, _module_name(cell)) for cell in
                    modules[name].get("num_cells_by_type", {})
                    if _module_name(cell) in modules]
        if children:
            blocks.append({"name": f"{path}/(own)", "level": level + 1, **_figures(own)})
        for _, child in sorted(children, key=lambda pair: pair[1]):
            visit(child, f"{path}/{child.rsplit('.', 1)[-1].split('$')[0]}", level + 1)

    visit(top, top, 0)
    return {"seconds": round(time.monotonic() - started, 1), "blocks": blocks}


def estimate_table(result):
    """The estimate as a Markdown table."""
    header = "| block | " + " | ".join(KINDS) + " |"
    lines = [header, "|---|" + "---:|" * len(KINDS)]
    for block in result["blocks"]:
        name = "&nbsp;&nbsp;" * block["level"] + block["name"].rsplit("/", 1)[-1]
        lines.append(f"| {name} | " + " | ".join(str(block[kind]) for kind in KINDS) + " |")
    return "\n".join(lines) + "\n"
