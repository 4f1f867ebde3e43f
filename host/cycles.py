"""The cycle model: the counters the accelerator reports for a run, predicted exactly."""

from dataclasses import dataclass, fields


from hw.accel import pipeline_latency
from hw.bus import Reg

from .golden import padded_inputs


__all__ = ["RunCounters", "COUNTER_REGS", "run_cycles", "predict_run"]


@dataclass(frozen=True)
class RunCounters:
    """The performance counters of one run: the ``counters`` group of
    :data:`hw.bus.ACCELERATOR_REGISTERS`, in its order."""
    cycles: int
    beats: int
    busy_lanes: int
    nonzero_products: int
    stalls: int
    act_reads: int


#: The register that holds each counter, in the order of :class:`RunCounters`' fields.
COUNTER_REGS = tuple(Reg[field.name.upper()] for field in fields(RunCounters))


def run_cycles(cfg, layer):
    """Cycles of a run of ``layer``: one per beat and the accelerator's pipeline latency
    (:func:`hw.accel.pipeline_latency`) more, or one for a layer of no beats."""
    return layer.n_beats + pipeline_latency(cfg) if layer.n_beats else 1


def predict_run(cfg, layer, x):
    """Counters of running ``layer`` (an :class:`~host.encode.EncodedLayer`) on input ``x``.

    Beats enter the PE array one per cycle (:func:`run_cycles`). Every lane that carries a
    kept weight of an unstructured layer, every lane of a grouped layer (filler lanes
    included), and every list lane of a tile-wise layer reads one activation.
    """
    beats = layer.n_beats
    cycles = run_cycles(cfg, layer)
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
