"""Runs encoded layers on the generated accelerator in simulation, for tests and benches."""

import json
from dataclasses import dataclass

import numpy as np

from hw.accel import Accelerator
from host.cycles import RunCounters
from host.encode import encode
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
    """Load and run ``[(q, x, pattern), ...]`` back to back on one accelerator without reset,
    each layer encoded in its pattern's format, through the host's run protocol
    (:mod:`host.protocol`) inside the bench (:mod:`sim_tb.bench_accel`)."""
    stimulus = {"config": json.dumps(cfg.to_dict()), "runs": len(layers)}
    for run, (q, x, pattern) in enumerate(layers):
        stimulus[f"q{run}"], stimulus[f"x{run}"] = np.asarray(q), np.asarray(x)
        stimulus[f"pattern{run}"] = str(pattern)
    response = run_bench(accel_build(cfg), "sparse_accel", "bench_accel", stimulus)
    return [LayerRun(
        layer=encode(q, cfg, pattern),
        status=int(response[f"status{run}"]),
        sums=response[f"sums{run}"],
        counters=RunCounters(*(int(value) for value in response[f"counters{run}"])),
        sim_cycles=int(response[f"sim_cycles{run}"]),
        wall_seconds=float(response[f"wall_seconds{run}"]),
    ) for run, (q, x, pattern) in enumerate(layers)]
