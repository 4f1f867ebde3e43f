"""``SparseAccel``: run a layer on the accelerator, on a board or on the simulated board."""

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from hw.config import AccelConfig
from hw.uart import LINK_BAUD_RATE, baud_divisor

from .golden import wrap
from .link import Link, SimulatedBoard
from .model import like_input
from .network import Layer, Network, _tensor_array, weights_and_bias
from .protocol import AcceleratorError, check_identity, load_layer, run_input
from .patterns import parse_pattern, prune
from .planner import cheapest_pattern
from .quant import check_finite, quantize_activations, quantize_weights
from .resident import (load_network, network_cycles, place_network, run_network,
                       sums_capacity, write_layer_table)
from .tiling import tile_layer


__all__ = ["SIM_CONFIG", "RunStats", "SparseAccel", "AcceleratorError", "LoadedNetwork",
           "NetworkStats", "LayerStats", "LoadedModel", "ModelStats", "OpStats"]


#: The configuration of the simulated board ``SparseAccel()`` starts: 64 PEs, memories for
#: every all-MiniLM-L6-v2 linear at 50 % (and a resident FFN pair of two of them, with
#: activation memories for a batch of seven), a UART at one cycle per bit.
SIM_CONFIG = AccelConfig(pes=64, max_k=1536, max_m=1536, weight_depth=9728,
                         max_group_width=16, act_depth=32768, param_depth=4096,
                         baud_divisor=1, link_timeout=20000)


@dataclass
class RunStats:
    """What the last :meth:`SparseAccel.run` cost.

    ``cycles`` are the accelerator's compute cycles over all tiles and inputs, ``ideal_cycles``
    the kept weights over P (the array's limit), ``eta`` their ratio. ``bytes_sent`` and
    ``bytes_received`` count the link's traffic; ``link_seconds`` is the wall-clock time of
    the transfers, ``run_seconds`` of the runs, waiting included. ``pattern`` names the
    pattern whose format carried the weights (the cheapest one when none was given).
    """
    cycles: int = 0
    ideal_cycles: float = 0.0
    nnz: int = 0
    tiles: int = 0
    inputs: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    retries: int = 0
    link_seconds: float = 0.0
    run_seconds: float = 0.0
    counters: list = None
    pattern: str = ""

    @property
    def eta(self):
        return self.ideal_cycles / self.cycles if self.cycles else 0.0

    def compute_seconds(self, clock_hz):
        """The accelerator's compute time at a clock of ``clock_hz``."""
        return self.cycles / clock_hz


class SparseAccel:
    """A sparse accelerator on a serial link.

    ``SparseAccel()`` builds (once, cached) and starts the simulated board, and stops it on
    :meth:`close`. ``SparseAccel("/dev/ttyUSB0", manifest="build/manifest.json")`` talks to a
    board; any pyserial URL works. The board's ID, version and configuration hash must match
    the manifest.

    Parameters
    ----------
    port : str, optional
    manifest : path or dict, optional
        Required with ``port``; the simulated board brings its own.
    config : AccelConfig
        The simulated board's configuration.
    baudrate : int, optional
        For a real serial port: by default the manifest's (its link's ``nominal_baud_rate``,
        which ``python -m gen --board`` writes).
    real_divisor : bool
        The simulated board's UART at the divisor of a board at its clock (33 cycles a bit
        at 100 MHz for 3 Mbaud) instead of one cycle a bit: the link as slow, in cycles,
        as a board's (a board built apart, ``config`` with that ``baud_divisor``).
    trace : path, optional
        Write the simulated board's signals, every cycle, to this ``.vcd`` or ``.fst`` file
        (a harness built with Verilator's tracing, cached apart); it is complete after
        :meth:`close`. Slow: for short runs.
    timeout : float
        Seconds to wait for an answer.
    run_timeout : float
        Seconds to wait for a run to finish.
    retries : int
        Times a request is repeated after a corrupted or missing answer.
    progress : bool, optional
        Progress bars (tqdm, on stderr) on transfers and runs that last; by default when
        stderr is a terminal. ``False`` shows nothing.
    """
    def __init__(self, port=None, *, manifest=None, config=SIM_CONFIG, baudrate=None,
                 real_divisor=False, trace=None, timeout=2.0, run_timeout=30.0, retries=4,
                 progress=None):
        import serial
        self._board = None
        self.progress = sys.stderr.isatty() if progress is None else bool(progress)
        if port is None:
            from gen.simboard import CLOCK_HZ, build_sim_board, trace_format
            if real_divisor:
                config = replace(config, baud_divisor=baud_divisor(CLOCK_HZ, LINK_BAUD_RATE))
            traced = None if trace is None else trace_format(trace)
            say = None if progress is False else \
                (lambda message: tqdm.write(message, file=sys.stderr))
            folder = build_sim_board(config, trace=traced, progress=say)
            self._board = SimulatedBoard(folder, trace=trace)
            port, manifest = self._board.url, self._board.manifest
        elif real_divisor or trace is not None:
            raise ValueError("real_divisor and trace are options of the simulated board, "
                             "not of a board on a port")
        elif manifest is None:
            raise ValueError("A board needs its manifest: SparseAccel(port, manifest=...)")
        if not isinstance(manifest, dict):
            manifest = json.loads(Path(manifest).read_text())
        self.manifest = manifest
        self.cfg = AccelConfig(**manifest["config"])
        if baudrate is None:
            baudrate = (manifest.get("link") or {}).get("nominal_baud_rate")
            if baudrate is None:
                self.close()
                raise ValueError("The manifest states no baud rate (it was generated for no "
                                 "board): pass baudrate=")
        try:
            self._serial = serial.serial_for_url(port, baudrate=round(baudrate), timeout=0.02)
            self.link = Link(self._serial, frame_words=self.cfg.frame_words, timeout=timeout,
                             retries=retries)
            self.run_timeout = run_timeout
            check_identity(self.link, self.cfg, self.manifest["config_hash"])
        except BaseException:
            self.close()
            raise
        self.last_run = None
        self._loaded = 0

    def close(self):
        """Close the link, and stop the simulated board if this object started it."""
        if getattr(self, "_serial", None) is not None:
            self._serial.close()
            self._serial = None
        if self._board is not None:
            self._board.close()
            self._board = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Running layers.

    def run(self, layer, x, pattern=None, *, sparsity=None, scores=None, plan=None, name=None):
        """``layer @ x`` on the accelerator, dequantized.

        ``layer`` is a weight matrix (M, K) or a ``torch.nn.Linear`` (its bias is added on
        the host); ``x`` one input (K,) or a batch (B, K). With ``pattern`` (a name such as
        ``"2:4"``, see :mod:`host.patterns`) the layer is pruned first; without one, exactly
        its non-zero weights are kept, in the format that runs them fastest
        (:func:`host.planner.cheapest_pattern`: a dense matrix runs dense, a 2:4 one 2:4).
        ``pattern="auto"`` takes the choice of a
        :class:`host.planner.Plan` for the layer ``name``: its pruned weights (the plan must
        have been made for these weights) in its format. Weights are quantized per row, each
        input with its own scale. Layers larger than the accelerator's memories are split
        into tiles (:func:`host.tiling.tile_layer`). Returns (M,) or (B, M) float64;
        :attr:`last_run` holds the :class:`RunStats`.
        """
        weights, bias = weights_and_bias(layer)
        source, x = x, _tensor_array(x)
        if x.ndim not in (1, 2):
            raise ValueError(f"x must be one input (K,) or a batch (B, K), not shape {x.shape}")
        if x.shape[-1] != weights.shape[1]:
            raise ValueError(f"x has {x.shape[-1]} inputs, but the layer takes "
                             f"{weights.shape[1]}")
        check_finite("x", np.asarray(x, dtype=np.float64))
        if (plan is not None or name is not None) and pattern != "auto":
            raise ValueError("plan and name go with pattern='auto'")
        if pattern is None:
            if sparsity is not None or scores is not None:
                raise ValueError("sparsity and scores need a pattern")
            pruned = weights            # in its cheapest format, chosen once quantized
        elif pattern == "auto":
            if plan is None or name is None:
                raise ValueError("pattern='auto' takes a planner's choice: pass plan= "
                                 "(a host.planner.Plan) and the layer's name=")
            if sparsity is not None or scores is not None:
                raise ValueError("pattern='auto' takes its sparsity from the plan")
            chosen = plan.choice(name)
            if not np.array_equal(plan.dense[name], weights):
                raise ValueError(f"The plan was made for other weights of layer {name!r}")
            pattern = parse_pattern(chosen.format)
            pruned = plan.weights(name)
        else:
            pattern = parse_pattern(pattern)
            pruned = prune(weights, pattern, sparsity=sparsity, scores=scores)
        q, weight_scale = quantize_weights(pruned, self.cfg.quant_max)
        if pattern is None:
            pattern = cheapest_pattern(self.cfg, q)[0]
        batch = np.atleast_2d(x)
        xq, input_scale = quantize_activations(batch, self.cfg.quant_max)

        # The layer overwrites the weight memory: a resident network is gone.
        self._loaded += 1
        stats = RunStats(inputs=len(batch), counters=[], pattern=pattern.name)
        acc = np.zeros((len(batch), q.shape[0]), dtype=np.int64)
        tiles = list(tile_layer(q, self.cfg, pattern))
        stats.tiles = len(tiles)
        sent_before, received_before = self.link.bytes_sent, self.link.bytes_received
        retries_before = self.link.retries_made
        stream_bytes = sum(_stream_bytes(tile.layer) for tile in tiles)
        with self._bar(stream_bytes, "weights", "B") as sent, \
                self._bar(len(tiles) * len(xq), "tile x input", "run") as runs:
            for tile in tiles:
                started = time.monotonic()
                load_layer(self.link, self.cfg, tile.layer, progress=sent.update)
                stats.link_seconds += time.monotonic() - started
                for b, inputs in enumerate(xq):
                    acc[b, tile.row0:tile.row0 + tile.rows] += self._run_tile(tile, inputs,
                                                                              stats)
                    runs.update()
                stats.nnz += tile.layer.nnz
        stats.ideal_cycles = stats.nnz * len(batch) / self.cfg.pes
        stats.bytes_sent = self.link.bytes_sent - sent_before
        stats.bytes_received = self.link.bytes_received - received_before
        stats.retries = self.link.retries_made - retries_before
        self.last_run = stats
        y = weight_scale[None, :] * input_scale[:, None] * wrap(acc, self.cfg.acc_width)
        if bias is not None:
            y = y + bias
        return like_input(y[0] if x.ndim == 1 else y, source)

    def load(self, model, pattern=None, *, sparsity=None, scores=None, calibration=None,
             activation=None):
        """Load a calibrated :class:`~host.network.Network` (or one matrix, with its
        ``pattern``, ``sparsity``, ``scores`` and ``activation`` as for a
        :class:`~host.network.Layer`, calibrated on ``calibration`` inputs) into the
        accelerator's memories once; returns a :class:`LoadedNetwork` to call on inputs.

        Everything is checked and placed before anything is sent: a network that does not
        fit raises :class:`~host.encode.LayerTooBig` naming the resource and the sizes.
        Loading another network makes the handles of the ones before stale.
        """
        from .model import Model
        if isinstance(model, Model):
            if pattern is not None or sparsity is not None or scores is not None \
                    or calibration is not None or activation is not None:
                raise ValueError("A Model brings its own patterns and calibration")
            return self._load_model(model)
        if isinstance(model, Network):
            if pattern is not None or sparsity is not None or scores is not None \
                    or calibration is not None or activation is not None:
                raise ValueError("A Network brings its own patterns and calibration")
            network = model
        else:
            network = Network([Layer(model, pattern=pattern, sparsity=sparsity,
                                     scores=scores, activation=activation)])
            if calibration is None:
                raise ValueError("A single matrix needs calibration= inputs (B, K) for its "
                                 "static scales")
            network.calibrate(calibration)
        if not network.calibrated:
            raise ValueError("The network is not calibrated: call calibrate(X_cal) first")
        placement = place_network(self.cfg, network)
        before = self.link.bytes_sent
        total = sum(_stream_bytes(layer.encoded) for layer in placement.layers)
        with self._bar(total, "weights", "B") as sent:
            load_network(self.link, placement, progress=sent.update)
        self._loaded += 1
        return LoadedNetwork(self, network, placement, self._loaded,
                             load_bytes=self.link.bytes_sent - before)

    def _load_model(self, model):
        """Every segment of an imported model resident at once, one after the other in the
        memories; each run writes its segment's layer table entries."""
        if not model.calibrated:
            raise ValueError("The model is not calibrated: call calibrate(X_cal) first")
        placements, start = [], (0, 0, 0, 0)
        shared = len(model.segments) > 1
        for segment in model.segments:
            placement = place_network(self.cfg, segment.network, start=start, shared=shared)
            placements.append(placement)
            start = placement.end
        before = self.link.bytes_sent
        total = sum(_stream_bytes(layer.encoded) for placement in placements
                    for layer in placement.layers)
        with self._bar(total, "weights", "B") as sent:
            for placement in placements:
                load_network(self.link, placement, progress=sent.update)
        self._loaded += 1
        segments = [LoadedNetwork(self, segment.network, placement, self._loaded)
                    for segment, placement in zip(model.segments, placements)]
        return LoadedModel(model, segments, load_bytes=self.link.bytes_sent - before)

    def _bar(self, total, what, unit):
        """A tqdm bar on stderr of ``total`` ``unit``, shown when :attr:`progress` and only
        once it has lasted half a second."""
        return tqdm(total=total, desc=what, unit=unit, unit_scale=unit == "B",
                    disable=not self.progress, delay=0.5, leave=False, file=sys.stderr)

    def _run_tile(self, tile, inputs, stats):
        """Load one input for a loaded tile, run it and return its rows' sums."""
        started = time.monotonic()
        run = run_input(self.link, self.cfg, tile.layer,
                        inputs[tile.col0:tile.col0 + tile.layer.shape[1]],
                        timeout=self.run_timeout)
        stats.run_seconds += run.wait_seconds
        stats.link_seconds += time.monotonic() - started - run.wait_seconds
        stats.counters.append(run.counters)
        stats.cycles += run.counters.cycles
        return tile.layer.scatter(run.sums)


def _stream_bytes(layer):
    """Bytes of bus words that stream ``layer``'s weights (:func:`host.bus.weight_writes`):
    its packed words, and two register writes for each run of beats of one size."""
    sizes = layer.packed_words
    runs = 1 + np.count_nonzero(np.diff(sizes)) if len(sizes) else 0
    return 4 * (int(sizes.sum()) + 2 * runs)


@dataclass
class LayerStats:
    """One layer of a :class:`NetworkStats`: its format, shape, kept weights (``nnz``, of
    the pruned layer), counters (:class:`~host.cycles.RunCounters`, summed over the runs),
    ``ideal_cycles`` (``nnz`` times the inputs over P) and eta."""
    format: str
    shape: tuple
    nnz: int
    cycles: int
    beats: int
    busy_lanes: int
    nonzero_products: int
    stalls: int
    act_reads: int
    ideal_cycles: float

    @property
    def eta(self):
        return self.ideal_cycles / self.cycles if self.cycles else 0.0


@dataclass
class NetworkStats:
    """What the last call of a :class:`LoadedNetwork` cost: ``cycles`` of the network runs
    (``NETWORK_CYCLES``: the layers and the sequencer's few cycles between them),
    ``ideal_cycles`` (kept weights times inputs over P), ``eta``, the link's
    ``bytes_sent``, ``bytes_received`` and ``round_trips`` (frames, the status polls apart,
    counted in ``polls``), ``runs`` (a batch larger than the memories hold is split) and
    ``layers``, one :class:`LayerStats` each."""
    inputs: int = 0
    runs: int = 0
    cycles: int = 0
    ideal_cycles: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    round_trips: int = 0
    polls: int = 0
    link_seconds: float = 0.0
    layers: list = None

    @property
    def eta(self):
        return self.ideal_cycles / self.cycles if self.cycles else 0.0


class LoadedNetwork:
    """A network resident on the accelerator (:meth:`SparseAccel.load`). Call it on inputs
    (B, K) or (K,) for its outputs (B, M) or (M,), float64: the last layer's INT8 outputs
    times its scale, or with ``output="int32"`` its sums (bias included) times
    ``s_w * s_in``, bit-exact with :meth:`Network.golden`. :attr:`last_run` holds the
    :class:`NetworkStats` of the last call."""

    def __init__(self, accel, network, placement, generation, *, load_bytes=0):
        self.accel, self.network, self.placement = accel, network, placement
        self.generation = generation
        self.load_bytes = load_bytes
        self.last_run = None
        self._output = "int8"

    @property
    def batch_capacity(self):
        """Inputs one run takes; a larger batch is split into runs."""
        return self.placement.batch_capacity

    def __call__(self, x, output="int8"):
        accel = self.accel
        if accel._loaded != self.generation or getattr(accel, "_serial", None) is None:
            raise AcceleratorError("This network is no longer loaded: another network or "
                                   "a layer was loaded after it, or the accelerator was "
                                   "closed")
        if output not in ("int8", "int32"):
            raise ValueError(f"output must be 'int8' or 'int32', not {output!r}")
        xq = self.network.quantize_input(x)
        single = xq.ndim == 1
        xq = np.atleast_2d(xq)
        link = accel.link
        before = (link.bytes_sent, link.bytes_received, link.transactions)
        started = time.monotonic()
        cfg, placement = accel.cfg, self.placement
        if output != self._output:
            # The last layer's entry keeps its sums, or writes its INT8 outputs again.
            write_layer_table(link, placement, layers=[len(placement.layers) - 1],
                              keep_sums=output == "int32")
            self._output = output
        capacity = placement.batch_capacity if output == "int8" else sums_capacity(placement)
        stats = NetworkStats(inputs=len(xq), layers=[])
        totals = [np.zeros(6, np.int64) for _ in placement.layers]
        outputs = []
        for first in range(0, len(xq), capacity):
            chunk = xq[first:first + capacity]
            run = run_network(link, placement, chunk, output=output,
                              timeout=accel.run_timeout)
            outputs.append(run.outputs)
            stats.runs += 1
            stats.polls += run.polls
            stats.cycles += network_cycles(run.counters)
            for total, counters in zip(totals, run.counters):
                total += np.array([counters.cycles, counters.beats, counters.busy_lanes,
                                   counters.nonzero_products, counters.stalls,
                                   counters.act_reads])
        for layer, source, total in zip(placement.layers, self.network.layers, totals):
            # The kept weights of the pruned layer (some may quantize to zero).
            nnz = int(np.count_nonzero(source.weights))
            stats.layers.append(LayerStats(
                layer.quantized.pattern.name, layer.quantized.q.shape, nnz, *map(int, total),
                ideal_cycles=nnz * len(xq) / cfg.pes))
        stats.ideal_cycles = sum(layer.ideal_cycles for layer in stats.layers)
        stats.bytes_sent = link.bytes_sent - before[0]
        stats.bytes_received = link.bytes_received - before[1]
        stats.round_trips = link.transactions - before[2] - stats.polls
        stats.link_seconds = time.monotonic() - started
        self.last_run = stats
        last = self.network.quantized[-1]
        scale = last.s_out if output == "int8" else last.s_w * last.s_in
        y = np.concatenate(outputs) * scale
        return y[0] if single else y


@dataclass
class OpStats:
    """One node of a :class:`ModelStats`: where it ran, and on the accelerator its
    :class:`LayerStats` (``layer``) and its segment's link bytes (``segment_bytes``)."""
    node: str
    op: str
    where: str
    layer: LayerStats = None
    segment: int = None
    segment_bytes: int = 0


@dataclass
class ModelStats:
    """What the last call of a :class:`LoadedModel` cost: per node (``ops``), and in all:
    accelerator ``cycles``, ``ideal_cycles``, ``eta``, link bytes and ``round_trips`` (the
    polls apart), ``runs`` and the host ops' seconds."""
    ops: list
    cycles: int = 0
    ideal_cycles: float = 0.0
    bytes_sent: int = 0
    bytes_received: int = 0
    round_trips: int = 0
    polls: int = 0
    runs: int = 0
    host_seconds: float = 0.0

    @property
    def eta(self):
        return self.ideal_cycles / self.cycles if self.cycles else 0.0

    def table(self):
        """The table of which op ran where, its cycles and its bytes, as Markdown."""
        lines = ["| node | op | where | cycles | eta | link bytes |", "|---|---|---|---|---|---|"]
        for op in self.ops:
            if op.layer is None:
                lines.append(f"| {op.node} | {op.op} | {op.where} | | | |")
            else:
                lines.append(f"| {op.node} | {op.op} | accelerator (segment {op.segment}) | "
                             f"{op.layer.cycles} | {op.layer.eta:.3f} | "
                             f"{op.segment_bytes} (segment) |")
        return "\n".join(lines)


class LoadedModel:
    """An imported :class:`~host.model.Model` resident on the accelerator
    (:meth:`SparseAccel.load`): call it on inputs (NumPy, or torch tensors: then the outputs
    are float32 tensors on the input's device) for the outputs, bit-exact with
    :meth:`Model.golden`. :attr:`last_run` holds the :class:`ModelStats`."""

    def __init__(self, model, segments, *, load_bytes=0):
        self.model, self.segments, self.load_bytes = model, segments, load_bytes
        self.last_run = None

    def __call__(self, x):
        from .model import to_numpy, like_input
        array = to_numpy(x)
        by_segment = {id(segment): loaded
                      for segment, loaded in zip(self.model.segments, self.segments)}
        stats_of = {}
        started = time.monotonic()
        device_seconds = [0.0]

        def run(segment, rows):
            loaded = by_segment[id(segment)]
            began = time.monotonic()
            out = loaded(rows)
            device_seconds[0] += time.monotonic() - began
            previous = stats_of.get(id(segment))
            stats_of[id(segment)] = _merge(previous, loaded.last_run)
            return out

        y = self.model._run(self.model._check(array), run)
        stats = ModelStats(ops=[])
        index_of = {id(segment): index for index, segment in enumerate(self.model.segments)}
        layer_of = {}
        for segment in self.model.segments:
            record = stats_of.get(id(segment))
            if record is None:
                continue
            stats.cycles += record.cycles
            stats.ideal_cycles += record.ideal_cycles
            stats.bytes_sent += record.bytes_sent
            stats.bytes_received += record.bytes_received
            stats.round_trips += record.round_trips
            stats.polls += record.polls
            stats.runs += record.runs
            for node, layer in zip(segment.nodes, record.layers):
                layer_of[node.name] = (layer, index_of[id(segment)],
                                       record.bytes_sent + record.bytes_received)
        for name, op, where, _ in self.model.table():
            layer, segment, link = layer_of.get(name, (None, None, 0))
            stats.ops.append(OpStats(name, op, where, layer, segment, link))
        stats.host_seconds = time.monotonic() - started - device_seconds[0]
        self.last_run = stats
        return like_input(y, x)


def _merge(before, record):
    """Two :class:`NetworkStats` of one segment's runs in one call, summed."""
    if before is None:
        return record
    merged = NetworkStats(inputs=before.inputs + record.inputs, runs=before.runs + record.runs,
                          cycles=before.cycles + record.cycles,
                          ideal_cycles=before.ideal_cycles + record.ideal_cycles,
                          bytes_sent=before.bytes_sent + record.bytes_sent,
                          bytes_received=before.bytes_received + record.bytes_received,
                          round_trips=before.round_trips + record.round_trips,
                          polls=before.polls + record.polls,
                          link_seconds=before.link_seconds + record.link_seconds, layers=[])
    for a, b in zip(before.layers, record.layers):
        merged.layers.append(LayerStats(a.format, a.shape, a.nnz, a.cycles + b.cycles,
                                        a.beats + b.beats, a.busy_lanes + b.busy_lanes,
                                        a.nonzero_products + b.nonzero_products,
                                        a.stalls + b.stalls, a.act_reads + b.act_reads,
                                        a.ideal_cycles + b.ideal_cycles))
    return merged
