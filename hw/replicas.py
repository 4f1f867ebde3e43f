"""Register replicas: copies of one register, each driving a part of its fan-out.

A register whose output reaches every lane, or a row of block RAMs across the chip, is one
long net whatever the logic behind it. The usual cure is several copies of the register,
each placed by its own part of the sinks. Synthesis merges registers that compute the same
thing (Yosys's ``opt_merge``), so copies must be marked: :func:`replicas` makes signals with
the :data:`REPLICA` attribute, and the board flow runs :data:`KEEP_REPLICAS`, which marks the
flip-flops that drive them ``keep`` before synthesis. A replica is assigned exactly as the
register it copies would be; outside the board flow the copies may merge, which changes
nothing but the placement.
"""

from amaranth.hdl import Signal


__all__ = ["KEEP_REPLICAS", "LANES_PER_COPY", "REPLICA", "lane_copies", "replicas",
           "replicate"]


#: Lanes served by one copy of a register that reaches every lane.
LANES_PER_COPY = 8

#: The attribute marking a replica's signal.
REPLICA = "replica"

#: The Yosys command, run after reading the design, that keeps replicas apart: it marks
#: ``keep`` every flip-flop cell whose output is a signal carrying :data:`REPLICA`.
KEEP_REPLICAS = f"setattr -set keep 1 a:{REPLICA} %ci1:+$dff[Q] c:* %i"


def replicas(shape, count, *, name, **kwargs):
    """``count`` signals of ``shape`` named ``{name}_{k}``, marked as replicas of one another.

    The other keyword arguments are :class:`~amaranth.hdl.Signal`'s (``init``,
    ``reset_less``)."""
    return [Signal(shape, name=f"{name}_{copy}", attrs={REPLICA: 1}, **kwargs)
            for copy in range(count)]


def replicate(m, value, count, *, name, reset_less=False):
    """``count`` replicas of a register loaded with ``value`` every cycle (``value`` a cycle
    late). Returns the list."""
    copies = replicas(len(value), count, name=name, reset_less=reset_less)
    m.d.sync += [copy.eq(value) for copy in copies]
    return copies


def lane_copies(pes):
    """Copies of a register that reaches every one of ``pes`` lanes: lane ``i`` uses copy
    ``i // LANES_PER_COPY``."""
    return -(-pes // LANES_PER_COPY)
