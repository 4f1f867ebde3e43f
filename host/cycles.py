"""The cycle model: the counters the accelerator reports for a run, predicted exactly."""

from dataclasses import dataclass, fields

import numpy as np

from hw.layouts import Reg

from .golden import padded_inputs


__all__ = ["RunCounters", "COUNTER_REGS", "beat_cycles", "predict_run"]


@dataclass(frozen=True)
class RunCounters:
    """The performance counters of one run (see :class:`hw.layouts.Reg`)."""
    cycles: int
    beats: int
    busy_lanes: int
    nonzero_products: int
    stalls: int
    act_reads: int


#: The register that holds each counter, in the order of :class:`RunCounters`' fields.
COUNTER_REGS = tuple(Reg[field.name.upper()] for field in fields(RunCounters))


def beat_cycles(cfg, layer):
    """Cycles each beat of ``layer`` spends in the output stage: ``max(1, ceil(n / C))``
    for a beat that closes ``n`` rows, C being ``cfg.output_ports``."""
    closes = np.asarray(layer.last, dtype=np.int64).reshape(layer.n_beats, -1).sum(axis=1)
    return np.maximum(1, -(-closes // cfg.output_ports))


def predict_run(cfg, layer, x):
    """Counters of running ``layer`` (an :class:`~host.encode.EncodedLayer`) on input ``x``.

    Beats enter the PE array one per cycle, except that a beat closing ``n`` rows holds the
    output stage for ``ceil(n / cfg.output_ports)`` cycles (see :func:`beat_cycles`); a run
    of beats ends ``cfg.latency`` cycles after its last beat's turn, and a run of no beats
    takes one cycle. Every lane that carries the layer (filler lanes of grouped formats
    included) reads one activation.
    """
    beats = layer.n_beats
    cycles = int(beat_cycles(cfg, layer).sum()) + cfg.latency if beats else 1
    kept = layer.weight != 0
    activation = padded_inputs(x, layer.activation_length)[layer.column]
    return RunCounters(
        cycles=cycles,
        beats=beats,
        busy_lanes=int(kept.sum()),
        nonzero_products=int((kept & (activation != 0)).sum()),
        stalls=cycles - beats,
        act_reads=layer.act_reads,
    )
