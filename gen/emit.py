"""Verilog emission and the files ``python -m gen`` writes."""

import json
from pathlib import Path

from amaranth.back import verilog

from hw.accel import Accelerator
from .compat import no_zero_memory_init
from .manifest import manifest


__all__ = ["emit_verilog", "generate", "TOP_NAME"]


#: Module name of the accelerator in the emitted Verilog.
TOP_NAME = "sparse_accel"


def emit_verilog(component, name):
    """Verilog text of an Amaranth component, its ports named after its signature."""
    with no_zero_memory_init():
        return verilog.convert(component, name=name, emit_src=False)


def generate(cfg, out, *, progress=None, clock_hz=None, baud_rate=None):
    """Write ``{TOP_NAME}.v`` and ``manifest.json`` for ``cfg`` into the folder ``out``; the
    manifest states the board's ``clock_hz`` and link ``baud_rate`` when given
    (:func:`~gen.manifest.link_rate`).

    The output depends only on ``cfg``: two runs write identical files. Returns the paths
    written, by kind.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    described = manifest(cfg, clock_hz=clock_hz, baud_rate=baud_rate)

    say(f"elaborating {cfg.pes} PEs")
    verilog_path = out / f"{TOP_NAME}.v"
    verilog_path.write_text(emit_verilog(Accelerator(cfg), TOP_NAME))
    say(f"wrote {verilog_path}")

    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(described, indent=2) + "\n")
    say(f"wrote {manifest_path}")
    return {"verilog": verilog_path, "manifest": manifest_path}
