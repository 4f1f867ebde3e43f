"""The YoWASP tools the generator runs: where they are, and the error when one fails."""

import shutil
import sys
from pathlib import Path


__all__ = ["ToolError", "tool"]


class ToolError(RuntimeError):
    """A step of the FPGA flow failed; the message names it and the log to read."""


def tool(name):
    """A YoWASP tool installed beside this Python, or on ``PATH``."""
    beside = Path(sys.executable).parent / f"yowasp-{name}"
    if beside.exists():
        return str(beside)
    found = shutil.which(f"yowasp-{name}")
    if found is None:
        raise ToolError(f"yowasp-{name} is not installed; "
                        f"install the project with `pip install -e .[test]`")
    return found
