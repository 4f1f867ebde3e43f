"""Verilog emission and the files ``python -m gen`` writes."""

import contextlib
import json
from pathlib import Path

from amaranth.back import rtlil, verilog

from hw.accel import Accelerator
from .manifest import manifest


__all__ = ["emit_verilog", "generate", "TOP_NAME"]


#: Module name of the accelerator in the emitted Verilog.
TOP_NAME = "sparse_accel"


@contextlib.contextmanager
def no_zero_memory_init():
    # Amaranth 0.5 emits every memory's initial contents bit by bit, even when they are all zero:
    # for the weight and activation memories of 64 PEs that is millions of constant bits and
    # over ten seconds. Memories of this design are written before they are read, so an
    # all-zero init is left out of the netlist; any other init is emitted as before.
    emitter = rtlil.ModuleEmitter
    original = emitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            original(self, cell_idx, cell)

    emitter.emit_memory = emit_memory
    try:
        yield
    finally:
        emitter.emit_memory = original


def emit_verilog(component, name):
    """Verilog text of an Amaranth component, its ports named after its signature."""
    with no_zero_memory_init():
        return verilog.convert(component, name=name, emit_src=False)


def generate(cfg, out, *, progress=None):
    """Write ``{TOP_NAME}.v`` and ``manifest.json`` for ``cfg`` into the folder ``out``.

    The output depends only on ``cfg``: two runs write identical files. Returns the paths
    written, by kind.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)

    say(f"elaborating {cfg.pes} PEs")
    verilog_path = out / f"{TOP_NAME}.v"
    verilog_path.write_text(emit_verilog(Accelerator(cfg), TOP_NAME))
    say(f"wrote {verilog_path}")

    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(manifest(cfg), indent=2) + "\n")
    say(f"wrote {manifest_path}")
    return {"verilog": verilog_path, "manifest": manifest_path}
