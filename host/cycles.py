"""The cycle model: the counters the accelerator reports for a run, predicted exactly."""

from dataclasses import dataclass, fields

from hw.layouts import Reg

from .golden import padded_inputs


__all__ = ["RunCounters", "COUNTER_REGS", "predict_run"]


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


def predict_run(cfg, layer, x):
    """Counters of running ``layer`` (an :class:`~host.encode.EncodedLayer`) on input ``x``.

    The datapath never stalls on its own: beats enter the PE array one per cycle, and a run of
    ``n > 0`` beats ends ``cfg.latency`` cycles after the last one; a run of no beats takes one
    cycle. Every lane that carries the layer (filler lanes of grouped formats included) reads
    one activation.
    """
    beats = layer.n_beats
    cycles = beats + cfg.latency if beats else 1
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
