"""The run protocol: load an encoded layer and run inputs on it, over any bus port.

A *bus port* is anything with the two methods of :class:`BusPort`: the serial link
(:class:`host.link.Link`), the Amaranth-simulator adapter of the tests and the cocotb
bench's port all are. The driver, the tests and the benches run layers through the
functions here, so the protocol (what is written, in which order, how completion is
detected, how the sums and the counters are read) lives in one place.
"""

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hw.bus import ACCEL_ID, ACCELERATOR_REGISTERS, DENSE_REGISTERS, Reg, Region, Status
from hw.config import FORMAT_VERSION

from .bus import (activation_words, address, input_writes, output_address, register_address,
                  setting_writes, weight_writes)
from .cycles import COUNTER_REGS, RunCounters
from .golden import padded_inputs, wrap


__all__ = ["BusPort", "AcceleratorError", "Run", "check_identity", "load_layer", "run_input",
           "run_layer", "status_error", "wait_done", "run_dense", "dense_address"]


class BusPort(Protocol):
    """Word access to the accelerator's bus."""

    def write(self, addresses, words):
        """Write ``words[i]`` to bus address ``addresses[i]``, in order."""

    def read(self, address, count):
        """Read ``count`` words from consecutive bus addresses from ``address``; returns
        them as an array of ``uint32``."""


class AcceleratorError(RuntimeError):
    """The accelerator is not the one the manifest describes, or a run did not finish."""


@dataclass
class Run:
    """What one run gave back: its ``status`` (:class:`hw.bus.Status` bits), the ``sums`` of
    the layer's non-empty rows in the hardware's order (wrapped to ``acc_width``), its
    ``counters``, and the seconds spent waiting for it to finish (``wait_seconds``)."""
    status: int
    sums: np.ndarray
    counters: RunCounters
    wait_seconds: float = 0.0


def check_identity(port, cfg, config_hash):
    """Raise :class:`AcceleratorError` unless the engine on ``port`` has the accelerator's
    ID, this host's ``FORMAT_VERSION`` and ``config_hash``."""
    identity = ACCELERATOR_REGISTERS.members("identity")
    found = port.read(register_address(cfg, Reg[identity[0].name]), len(identity))
    expected = {"ID": ACCEL_ID, "VERSION": FORMAT_VERSION, "CONFIG_HASH": config_hash}
    for register, value in zip(identity, found.tolist()):
        if value != expected[register.name]:
            raise AcceleratorError(
                f"The board's {register.name.lower()} is {value:#x}, but the manifest says "
                f"{expected[register.name]:#x}: load the bitstream built with this manifest")


def load_layer(port, cfg, layer, *, progress=None, chunk=64 * 1024):
    """Stream an encoded layer's weights into the weight memory and describe it (format
    registers, pattern table, sizes). ``progress(bytes)`` is called after each ``chunk`` of
    weight words."""
    addresses, words = weight_writes(cfg, layer)
    for start in range(0, len(words), chunk):
        port.write(addresses[start:start + chunk], words[start:start + chunk])
        if progress is not None:
            progress(4 * len(words[start:start + chunk]))
    port.write(*setting_writes(cfg, layer))


def status_error(status):
    """The message of what a finished run's ``status`` reports wrong, or ``None``."""
    if status & Status.ROW_ERROR.value:
        return ("The run closed a different number of rows than it was given: the weights "
                "in the board's memory are not the layer that was sent")
    if status & Status.OVERRUN.value:
        return ("A beat closed more rows than the output stage writes in a cycle: the weight "
                "stream is not laid out as host.encode lays it out")
    return None


def wait_done(port, status_address, timeout=None):
    """Poll the status register at ``status_address`` until it shows ``DONE``, at most
    ``timeout`` seconds if given (then :class:`AcceleratorError`); returns the status."""
    started = time.monotonic()
    status = 0
    while not status & Status.DONE.value:
        if timeout is not None and time.monotonic() - started > timeout:
            raise AcceleratorError(f"The run did not finish in {timeout} s "
                                   f"(status {status:#x})")
        status = int(port.read(status_address, 1)[0])
    return status


def run_input(port, cfg, layer, x, *, timeout=None, check=True):
    """Write one quantized input ``x`` for the loaded ``layer``, run it, and read its
    sums and counters back as a :class:`Run`.

    Waits for ``DONE`` (at most ``timeout`` seconds, if given, then
    :class:`AcceleratorError`); with ``check``, a status that reports an error raises
    :class:`AcceleratorError` too.
    """
    port.write(*input_writes(cfg, layer, x))
    port.write([register_address(cfg, Reg.CONTROL)], [1])
    started = time.monotonic()
    status = wait_done(port, register_address(cfg, Reg.STATUS), timeout)
    waited = time.monotonic() - started
    if check and (message := status_error(status)) is not None:
        raise AcceleratorError(message)
    sums = port.read(int(output_address(cfg, 0)), len(layer.rows))
    counters = port.read(register_address(cfg, COUNTER_REGS[0]), len(COUNTER_REGS))
    return Run(status=status, sums=wrap(np.asarray(sums, dtype=np.int64), cfg.acc_width),
               counters=RunCounters(*(int(value) for value in counters)),
               wait_seconds=waited)


def run_layer(port, cfg, layer, inputs, **kwargs):
    """Load ``layer`` and run each of ``inputs`` on it; a list of :class:`Run`. The keyword
    arguments are :func:`run_input`'s."""
    load_layer(port, cfg, layer)
    return [run_input(port, cfg, layer, x, **kwargs) for x in inputs]


def run_dense(port, cfg, q, x, *, timeout=None):
    """Load a layer (M, K) of quantized weights ``q`` and one input ``x`` into the dense
    baseline (:class:`hw.dense.DenseArray`, :data:`hw.bus.DENSE_REGISTERS`), run it, and
    return its M sums (wrapped to ``acc_width``). Each row is ``ceil(K / P)`` beats of P
    weights, the input zero-padded to match."""
    q, x = np.asarray(q, dtype=np.int64), np.asarray(x, dtype=np.int64)
    rows, columns = q.shape
    groups = -(-columns // cfg.pes)
    weights = np.zeros((rows, groups * cfg.pes), dtype=np.int64)
    weights[:, :columns] = q
    inputs = activation_words(cfg, padded_inputs(x, groups * cfg.pes))
    stream = activation_words(cfg, weights.reshape(-1))
    port.write([dense_address(cfg, "WEIGHT_POINTER")], [0])
    port.write(np.full(len(stream), address(cfg, Region.WEIGHTS, 0)), stream)
    port.write(address(cfg, Region.ACTIVATIONS, np.arange(len(inputs))), inputs)
    port.write([dense_address(cfg, name) for name in ("N_BEATS", "ROW_GROUPS", "CONTROL")],
               [rows * groups, groups, 1])
    wait_done(port, dense_address(cfg, "STATUS"), timeout)
    sums = port.read(int(address(cfg, Region.OUTPUTS, 0)), rows)
    return wrap(np.asarray(sums, dtype=np.int64), cfg.acc_width)


def dense_address(cfg, name):
    """Bus address of the dense baseline's register ``name``."""
    return int(address(cfg, Region.REGS, DENSE_REGISTERS[name].address))
