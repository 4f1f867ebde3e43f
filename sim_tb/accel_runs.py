"""Runs encoded layers on the generated accelerator in simulation, for tests and benches."""

from dataclasses import dataclass

import numpy as np

from hw.accel import Accelerator
from hw.layouts import Reg, Status
from host.bus import layer_writes, output_address, register_address
from host.cycles import COUNTER_REGS, RunCounters
from host.encode import encode
from host.golden import wrap
from sim_tb.runner import build, run_bench


__all__ = ["LayerRun", "run_layers"]


@dataclass
class LayerRun:
    """What one run on the simulated accelerator gave back."""
    layer: object          # the EncodedLayer that ran
    status: int
    sums: np.ndarray       # one per non-empty row, in the hardware's order
    counters: RunCounters
    sim_cycles: int        # cycles simulated for this run, loading and reading included
    wall_seconds: float    # wall-clock time of those cycles

    @property
    def outputs(self):
        """The layer's full output vector."""
        return self.layer.scatter(self.sums)


_builds = {}


def accel_build(cfg):
    """The simulator build of the accelerator for ``cfg``, made once per process."""
    if cfg not in _builds:
        _builds[cfg] = build(Accelerator(cfg), "sparse_accel")
    return _builds[cfg]


def run_layers(cfg, layers):
    """Load and run ``[(q, x, pattern), ...]`` back to back on one accelerator without reset;
    each layer is encoded in its pattern's format."""
    stimulus = {
        "runs": len(layers),
        "control": register_address(cfg, Reg.CONTROL),
        "status": register_address(cfg, Reg.STATUS),
        "done_bit": Status.DONE.value,
        "counters": [register_address(cfg, reg) for reg in COUNTER_REGS],
    }
    encoded = []
    for run, (q, x, pattern) in enumerate(layers):
        layer = encode(q, cfg, pattern)
        encoded.append(layer)
        stimulus[f"addresses{run}"], stimulus[f"words{run}"] = layer_writes(cfg, layer, x)
        stimulus[f"outputs{run}"] = output_address(cfg, np.arange(len(layer.rows)))
    response = run_bench(accel_build(cfg), "sparse_accel", "bench_accel", stimulus)
    return [LayerRun(
        layer=layer,
        status=int(response[f"status{run}"]),
        sums=wrap(response[f"sums{run}"], cfg.acc_width),
        counters=RunCounters(*(int(value) for value in response[f"counters{run}"])),
        sim_cycles=int(response[f"sim_cycles{run}"]),
        wall_seconds=float(response[f"wall_seconds{run}"]),
    ) for run, layer in enumerate(encoded)]
