"""Verilog emission and the files ``python -m gen`` writes."""

import json
from pathlib import Path

from amaranth.back import verilog

from hw.top import host_bus
from .compat import no_zero_memory_init
from .exports import c_header, registers_csv, registers_json
from .manifest import manifest


__all__ = ["emit_verilog", "generate", "TOP_NAME"]


#: Module name of the accelerator in the emitted Verilog.
TOP_NAME = "sparse_accel"


def emit_verilog(component, name):
    """Verilog text of an Amaranth component, its ports named after its signature."""
    with no_zero_memory_init():
        return verilog.convert(component, name=name, emit_src=False)


def generate(cfg, out, *, bus="native", progress=None, clock_hz=None, baud_rate=None):
    """Write ``{TOP_NAME}.v`` (the accelerator behind the host bus named ``bus``, one of
    :data:`hw.top.HOST_BUSES`), ``manifest.json``, ``{TOP_NAME}.h``, ``registers.csv`` and
    ``registers.json`` for ``cfg`` into the folder ``out``; the manifest states the board's
    ``clock_hz`` and link ``baud_rate`` when given (:func:`~gen.manifest.link_rate`).

    The output depends only on ``cfg`` and ``bus``: two runs write identical files. Returns
    the paths written, by kind.
    """
    top = host_bus(bus)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    described = manifest(cfg, top.name, clock_hz=clock_hz, baud_rate=baud_rate)

    say(f"elaborating {cfg.pes} PEs behind the {top.name} bus")
    paths = {"verilog": out / f"{TOP_NAME}.v"}
    paths["verilog"].write_text(emit_verilog(top.top(cfg), TOP_NAME))
    say(f"wrote {paths['verilog']}")

    texts = {"manifest": ("manifest.json", json.dumps(described, indent=2) + "\n"),
             "header": (f"{TOP_NAME}.h", c_header(described)),
             "registers_csv": ("registers.csv", registers_csv(described)),
             "registers_json": ("registers.json", registers_json(described))}
    for kind, (name, text) in texts.items():
        paths[kind] = out / name
        paths[kind].write_text(text)
        say(f"wrote {paths[kind]}")
    return paths
