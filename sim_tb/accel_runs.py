"""Runs encoded layers on the generated accelerator in simulation, for tests and benches."""

import json
from dataclasses import dataclass

import numpy as np

from hw.top import host_bus
from host.cycles import RunCounters
from host.encode import encode
from sim_tb.runner import build, run_bench


__all__ = ["LayerRun", "accel_build", "run_layers", "partial_write", "run_network_batch",
           "small_network"]


@dataclass
class LayerRun:
    """What one run on the simulated accelerator gave back."""
    layer: object          # the EncodedLayer that ran
    status: int
    sums: np.ndarray       # one per non-empty row, in the hardware's order
    counters: RunCounters
    sim_cycles: int        # cycles simulated for this run, loading and reading included
    wall_seconds: float    # wall-clock time of those cycles
    irq: tuple = ()        # with irq: the irq port after the run, IRQ_PENDING and irq after
                           # a clear

    @property
    def outputs(self):
        """The layer's full output vector."""
        return self.layer.scatter(self.sums)


_builds = {}


def accel_build(cfg, bus="native"):
    """The simulator build of the top for ``cfg`` behind the host bus named ``bus``
    (:data:`hw.top.HOST_BUSES`), made once per process."""
    if (cfg, bus) not in _builds:
        _builds[cfg, bus] = build(host_bus(bus).top(cfg), "sparse_accel")
    return _builds[cfg, bus]


def _bench(cfg, layers, bus, **options):
    stimulus = {"config": json.dumps(cfg.to_dict()), "runs": len(layers), "bus": bus,
                **options}
    for run, (q, x, pattern) in enumerate(layers):
        stimulus[f"q{run}"], stimulus[f"x{run}"] = np.asarray(q), np.asarray(x)
        stimulus[f"pattern{run}"] = str(pattern)
    return run_bench(accel_build(cfg, bus), "sparse_accel", "bench_accel", stimulus)


def run_layers(cfg, layers, *, bus="native", seed=0, irq=False):
    """Load and run ``[(q, x, pattern), ...]`` back to back on one accelerator without reset,
    each layer encoded in its pattern's format, through the host's run protocol
    (:mod:`host.protocol`) inside the bench (:mod:`sim_tb.bench_accel`), over the host bus
    ``bus`` with its port's random wait states from ``seed``; with ``irq``, the interrupt
    checked after each run (:attr:`LayerRun.irq`)."""
    response = _bench(cfg, layers, bus, seed=seed, irq=int(irq))
    return [LayerRun(
        layer=encode(q, cfg, pattern),
        status=int(response[f"status{run}"]),
        sums=response[f"sums{run}"],
        counters=RunCounters(*(int(value) for value in response[f"counters{run}"])),
        sim_cycles=int(response[f"sim_cycles{run}"]),
        wall_seconds=float(response[f"wall_seconds{run}"]),
        irq=tuple(int(value) for value in response.get(f"irq{run}", ())),
    ) for run, (q, x, pattern) in enumerate(layers)]


def partial_write(cfg, bus, *, seed=0):
    """Over the host bus ``bus`` (a byte-addressed one), write 5 to ``N_ROWS`` and then two
    bytes of 7 to it; returns whether the bus refused the second write (1 or 0) and
    ``N_ROWS`` after it."""
    response = _bench(cfg, [], bus, seed=seed, partial=1)
    refused, n_rows = (int(value) for value in response["partial"])
    return refused, n_rows


def run_network_batch(cfg, network_seed, inputs, *, bus="native", seed=0):
    """Place :func:`small_network` of ``network_seed`` on ``cfg``, load it and run the batch
    of quantized ``inputs`` through it over the host bus ``bus`` (:mod:`sim_tb.bench_network`);
    returns the last layer's outputs, each layer's :class:`RunCounters` and the ``irq``
    port after the run (the interrupt enabled)."""
    stimulus = {"config": json.dumps(cfg.to_dict()), "bus": bus, "seed": seed,
                "network_seed": network_seed, "inputs": np.asarray(inputs)}
    response = run_bench(accel_build(cfg, bus), "sparse_accel", "bench_network", stimulus)
    return (response["outputs"], [RunCounters(*(int(value) for value in row))
                                  for row in response["counters"]], int(response["irq"]))


def small_network(seed, patterns=("unstructured", "2:4", "dense"),
                  shapes=((20, 12), (9, 20), (6, 9))):
    """A calibrated three-layer :class:`host.network.Network` of random weights, one layer
    per pattern (unstructured at 50 %), ReLU and GELU between them."""
    from host.network import Layer, Network
    rng = np.random.default_rng(seed)
    activations = ("relu", "gelu", None)
    layers = [Layer(rng.normal(size=shape), rng.normal(size=shape[0]) * 0.1, pattern=pattern,
                    sparsity=0.5 if pattern == "unstructured" else None,
                    activation=activations[index] if index + 1 < len(shapes) else None)
              for index, (shape, pattern) in enumerate(zip(shapes, patterns))]
    network = Network(layers)
    network.calibrate(rng.normal(size=(32, shapes[0][1])))
    return network
