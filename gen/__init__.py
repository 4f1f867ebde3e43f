"""The generator: turns an :class:`~hw.config.AccelConfig` into Verilog and a manifest."""

from .emit import emit_verilog, generate
from .manifest import manifest


__all__ = ["emit_verilog", "generate", "manifest"]
