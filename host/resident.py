"""Resident networks: a calibrated :class:`~host.network.Network` laid out in the
accelerator's memories, loaded once and run a batch at a time over any bus port.

:func:`place_network` decides where everything goes (the weight memory, the pattern table,
the layer table, the output stage's parameters and tables, the activation memories for a
batch) and refuses a network that does not fit, naming the resource, before anything is
sent. :func:`load_network` writes it; :func:`run_network` runs a batch: one write of the
inputs, one of ``BATCH`` and ``CONTROL``, the status polls, one read of the outputs and one
of the per-layer counters.

The layout. Every layer computes ``rows`` hardware rows per input, a multiple of the output
ports C, and the output stage writes hardware row ``j`` of input ``b`` at ``out_base + b *
out_stride + j``. So that the next layer finds its input where its format reads it (a
grouped layer's groups of M inputs at multiples of ``2**INDEX_BITS``), a layer's logical row
``r`` is placed at hardware row ``next.address(r)``, the rows between are zero rows (their
output lands where nothing reads), and zero rows pad the count to a multiple of C. A
layer's inputs sit in a region of the activation memories, input ``b`` at ``in_base + b *
in_stride``, with ``in_stride`` a power of two (the decoder ORs the offset into each lane's
column) of at least the layer's laid-out input and the rows its producer writes. Layers
alternate between two regions; the last one writes the result memory.
"""

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from hw.bus import Control, Reg, Region, Status
from hw.accel import pipeline_latency
from hw.chain import TABLE_WORDS, drain_latency, layer_words
from hw.config import BUS_WIDTH
from hw.layouts import layer_layout
from hw.output import row_params_layout

from .bus import activation_words, address, register_address, weight_writes
from .cycles import COUNTER_REGS, RunCounters
from .encode import LayerTooBig, encode_unstructured
from .golden import padded_inputs, wrap
from .patterns import Unstructured
from .planner import cheapest_pattern
from .protocol import AcceleratorError, status_error


__all__ = ["PlacedLayer", "Placement", "place_network", "load_network", "run_network",
           "predict_network", "network_batch_capacity", "sums_capacity", "layer_cycles", "network_cycles",
           "LAYER_GAP", "RUN_GAP"]


#: Cycles of a network run outside its layers' own counts, per layer (the layer table's
#: read, the settings, the start, and the counters' store) and once per run (the request and
#: the done).
LAYER_GAP = 5
RUN_GAP = 2


def network_cycles(counters):
    """The ``NETWORK_CYCLES`` of a run whose layers counted ``counters``."""
    return sum(record.cycles for record in counters) + LAYER_GAP * len(counters) + RUN_GAP


def _next_pow2(value):
    return 1 << max(0, int(value) - 1).bit_length()


def _round_up(value, step):
    return -(-int(value) // step) * step


@dataclass(frozen=True, eq=False)
class PlacedLayer:
    """One layer as the accelerator holds it: its :class:`~host.encode.EncodedLayer`
    (``encoded``, of the hardware rows), where its logical rows are among them
    (``positions``), its integer parameters (``quantized``) and its layer table entry's
    fields that do not depend on the batch."""
    encoded: object
    quantized: object
    positions: np.ndarray
    rows: int
    beat_start: int
    pattern_start: int
    param_base: int
    in_stride: int
    out_stride: int


@dataclass(frozen=True, eq=False)
class Placement:
    """A network laid out for one accelerator configuration: its :class:`PlacedLayer` s,
    the activation memory regions (``region_sizes`` per input of the two alternating
    regions), the batch a run can take (``batch_capacity``), its first activation table
    (``table_start``: several networks may be resident at once, each from where the one
    before ends, :attr:`end`) and whether its layer table entries must be written before
    each run (``shared``: another resident network uses them too)."""
    cfg: object
    layers: tuple
    region_sizes: tuple
    batch_capacity: int
    table_start: int = 0
    end: tuple = (0, 0, 0, 0)
    shared: bool = False

    def bases(self, batch=None):
        """``(base of region 0, base of region 1)`` for runs of up to ``batch`` inputs (by
        default :attr:`batch_capacity`)."""
        batch = self.batch_capacity if batch is None else batch
        first = self.region_sizes[0] * batch
        align = max([layer.in_stride for layer in self.layers[1::2]], default=1)
        return 0, _round_up(first, align)

    def act_bytes(self, batch):
        """Activations a run of ``batch`` inputs needs in each lane's memory."""
        return self.bases(batch)[1] + self.region_sizes[1] * batch

    @property
    def nnz(self):
        return sum(layer.encoded.nnz for layer in self.layers)


def _encode(q, cfg, pattern):
    if isinstance(pattern, Unstructured):
        return encode_unstructured(q, cfg, every_row=True)
    return pattern.encode(q, cfg)


def _encode_layer(layer_q, cfg, positions, rows_needed):
    """Encode a layer's weights with logical row ``r`` at hardware row ``positions[r]``,
    zero rows elsewhere, and the hardware rows a multiple of C."""
    q = layer_q.q
    ports = cfg.output_ports
    total = _round_up(max(rows_needed, 1), ports)
    while True:
        physical = np.zeros((total, q.shape[1]), dtype=q.dtype)
        physical[positions] = q
        encoded = _encode(physical, cfg, layer_q.pattern)
        rows = len(encoded.rows)
        if not np.array_equal(encoded.rows, np.arange(rows)):
            raise RuntimeError("A chained layer's encoding must compute every row in order")
        if rows % ports == 0:
            return encoded, rows
        total = _round_up(rows, ports)


def place_network(cfg, network, *, start=(0, 0, 0, 0), shared=False):
    """Lay a calibrated network out in ``cfg``'s memories (module docstring); a
    :class:`Placement`. :class:`~host.encode.LayerTooBig` names what does not fit. ``start``
    is ``(beat, pattern entry, parameter row, activation table)`` where it begins, the
    :attr:`Placement.end` of a network placed before it."""
    if not cfg.chains:
        raise LayerTooBig(f"This accelerator cannot hold a network (max_layers "
                          f"{cfg.max_layers}, {cfg.output_ports} output ports of "
                          f"{cfg.data_width}-bit activations): a resident network needs a "
                          f"layer table and at most {cfg.acts_per_word} ports of 8 bits",
                          "layers", 1, 0)
    quantized = network.quantized
    tables = start[3] + len(quantized)
    if tables > cfg.max_layers:
        raise LayerTooBig(f"The network has {tables} layers; this accelerator's layer "
                          f"table holds {cfg.max_layers}", "layers", tables, cfg.max_layers)
    # A layer given no pattern runs in the format cheapest for its weights on cfg.
    quantized = [layer if layer.pattern_given else
                 dataclasses.replace(layer, pattern=cheapest_pattern(cfg, layer.q)[0])
                 for layer in quantized]
    # Each layer's input layout comes from its own encoding (of its logical rows).
    layouts = [_encode(layer.q, cfg, layer.pattern) for layer in quantized]
    placed = []
    beat, entry, param = start[:3]
    for index, layer in enumerate(quantized):
        rows_logical = layer.q.shape[0]
        if index + 1 < len(quantized):
            positions = np.asarray(layouts[index + 1].address(np.arange(rows_logical)),
                                   dtype=np.int64)
        else:
            positions = np.arange(rows_logical)
        encoded, rows = _encode_layer(layer, cfg, positions, int(positions.max()) + 1)
        laid_out = len(layouts[index].activations(np.zeros(layer.q.shape[1], np.int64)))
        producer_rows = placed[-1].rows if placed else 0
        in_stride = _next_pow2(max(laid_out, producer_rows, cfg.acts_per_word))
        out_stride = _round_up(rows, cfg.acts_per_word)
        pattern_beats = 0 if encoded.pattern is None else len(encoded.pattern)
        placed.append(PlacedLayer(
            encoded=encoded, quantized=layer, positions=positions, rows=rows,
            beat_start=beat, pattern_start=entry, param_base=param, in_stride=in_stride,
            out_stride=out_stride))
        beat += encoded.n_beats
        entry += pattern_beats
        param += rows
    # The next layer's input stride is its producer's output stride inside the memories.
    placed = [layer if index + 1 == len(placed) else
              _with(layer, out_stride=placed[index + 1].in_stride)
              for index, layer in enumerate(placed)]
    for name, used, available in (("beats", beat, cfg.weight_depth),
                                  ("pattern table entries", entry, cfg.pattern_depth),
                                  ("output rows", param, cfg.param_rows)):
        if used > available:
            raise LayerTooBig(f"The network needs {used} {name}; this accelerator holds "
                              f"{available}", name, used, available)
    sizes = tuple(max([layer.in_stride for layer in placed[parity::2]], default=0)
                  for parity in (0, 1))
    placement = Placement(cfg=cfg, layers=tuple(placed), region_sizes=sizes, batch_capacity=0,
                          table_start=start[3], end=(beat, entry, param, tables),
                          shared=shared)
    capacity = network_batch_capacity(placement)
    if capacity == 0:
        raise LayerTooBig(f"One input of the network needs {placement.act_bytes(1)} "
                          f"activations in each lane's memory; this accelerator holds "
                          f"{cfg.act_memory_words * cfg.acts_per_word}", "activations",
                          placement.act_bytes(1), cfg.act_memory_words * cfg.acts_per_word)
    return _with(placement, batch_capacity=capacity)


def _with(item, **changes):
    fields = {name: getattr(item, name) for name in item.__dataclass_fields__}
    return type(item)(**{**fields, **changes})


def network_batch_capacity(placement):
    """The most inputs one run of ``placement`` takes: what the activation memories and the
    result memory hold."""
    cfg = placement.cfg
    memory = cfg.act_memory_words * cfg.acts_per_word
    result_words = placement.layers[-1].out_stride // cfg.acts_per_word
    batch = min(cfg.result_words // result_words, (1 << cfg.input_count_width) - 1)
    while batch and placement.act_bytes(batch) > memory:
        batch -= 1
    return batch


def _descriptor_words(cfg, fields):
    layout = layer_layout(cfg)
    value = 0
    for name, field in layout:
        value |= (int(fields.get(name, 0)) & ((1 << field.width) - 1)) << field.offset
    words = layer_words(cfg)
    return [(value >> (BUS_WIDTH * word)) & 0xFFFFFFFF for word in range(words)]


def _param_words(cfg, bias, multiplier, shift):
    layout = row_params_layout(cfg)
    offsets = {name: field.offset for name, field in layout}
    mask = (1 << layout["bias"].width) - 1
    value = ((np.asarray(bias, dtype=np.int64) & mask) << offsets["bias"]) \
        | (np.asarray(multiplier, dtype=np.int64) << offsets["multiplier"]) \
        | (np.asarray(shift, dtype=np.int64) << offsets["shift"])
    return [[(int(v) >> (BUS_WIDTH * word)) & 0xFFFFFFFF for word in range(2)]
            for v in value]


def descriptor(placement, index, *, keep_sums=False):
    """The layer table entry of layer ``index``, as fields; ``keep_sums`` for the last
    layer's INT32 sums (:func:`run_network`'s ``output="int32"``)."""
    cfg = placement.cfg
    layer = placement.layers[index]
    encoded = layer.encoded
    bases = placement.bases()
    settings = {reg.name.lower(): value for reg, value in encoded.settings.items()}
    last = index + 1 == len(placement.layers)
    return {
        "beat_start": layer.beat_start, "n_beats": encoded.n_beats,
        "n_lanes": encoded.n_lanes, "format": encoded.format.value,
        "pattern_start": layer.pattern_start,
        "pattern_beats": settings.get("pattern_beats", 0),
        "index_bits": settings.get("index_bits", 0),
        "columns": settings.get("n_columns", 0),
        "tile_list_beats": settings.get("tile_list_beats", 0),
        "tile_beats": settings.get("tile_beats", 0),
        "rows": layer.rows,
        "in_base": bases[index % 2], "in_stride": layer.in_stride,
        "out_base": 0 if last else bases[(index + 1) % 2],
        "out_stride": layer.out_stride, "to_results": int(last),
        "param_base": layer.param_base, "table": placement.table_start + index,
        "keep_sums": int(last and keep_sums),
    }


def load_network(port, placement, *, progress=None, chunk=64 * 1024):
    """Write a placed network into the accelerator: weights, pattern tables, output-stage
    parameters and tables, and the layer table. ``progress(bytes)`` is called after each
    ``chunk`` of weight words."""
    cfg = placement.cfg
    for index, layer in enumerate(placement.layers):
        encoded = layer.encoded
        addresses, words = weight_writes(cfg, encoded, first_beat=layer.beat_start)
        for start in range(0, len(words), chunk):
            port.write(addresses[start:start + chunk], words[start:start + chunk])
            if progress is not None:
                progress(4 * len(words[start:start + chunk]))
        if encoded.pattern is not None:
            from hw.bus import pattern_address
            beats, count = encoded.pattern.shape
            entries = layer.pattern_start + np.arange(beats)[:, None]
            where = pattern_address(cfg, entries, np.arange(count)).reshape(-1)
            port.write(address(cfg, Region.PATTERN, where), encoded.pattern.reshape(-1))
        # The output stage's parameters of the hardware rows: the logical rows' at their
        # positions, zero rows elsewhere.
        quantized = layer.quantized
        bias = np.zeros(layer.rows, np.int64)
        multiplier = np.full(layer.rows, 1 << 15, np.int64)
        shift = np.full(layer.rows, 16, np.int64)
        bias[layer.positions] = quantized.bias
        multiplier[layer.positions] = quantized.multiplier
        shift[layer.positions] = quantized.shift
        words = np.array(_param_words(cfg, bias, multiplier, shift), dtype=np.uint32)
        rows = layer.param_base + np.arange(layer.rows)
        index_words = ((rows[:, None] << 1) | np.arange(2)).reshape(-1)
        port.write(address(cfg, Region.PARAMS, index_words), words.reshape(-1))
        table = activation_words(cfg, quantized.table.astype(np.int64))
        first = (placement.table_start + index) * TABLE_WORDS
        port.write(address(cfg, Region.TABLES, first + np.arange(TABLE_WORDS)), table)
    write_layer_table(port, placement)
    port.write([register_address(cfg, Reg.N_LAYERS)], [len(placement.layers)])


def write_layer_table(port, placement, *, layers=None, keep_sums=False):
    """Write the layer table's entries (of ``layers``, by default all); ``keep_sums`` as
    for :func:`descriptor`."""
    cfg = placement.cfg
    count = layer_words(cfg)
    word_bits = max(0, (count - 1).bit_length())
    addresses, words = [], []
    for index in range(len(placement.layers)) if layers is None else layers:
        entry = _descriptor_words(cfg, descriptor(placement, index, keep_sums=keep_sums))
        addresses.extend(int(address(cfg, Region.LAYERS, (index << word_bits) | word))
                         for word in range(count))
        words.extend(entry)
    port.write(addresses, words)


def input_writes(placement, xq):
    """``(addresses, words)`` of a batch of INT8 inputs ``xq`` (B, K) in layer 0's region:
    each input laid out as layer 0 reads it and padded to its stride, so the batch is one
    run of consecutive words."""
    cfg = placement.cfg
    first = placement.layers[0]
    stride = first.in_stride
    memory = np.zeros((len(xq), stride), dtype=np.int64)
    for b, x in enumerate(xq):
        laid = first.encoded.activations(x)
        memory[b, :len(laid)] = laid
    words = activation_words(cfg, memory.reshape(-1))
    base = placement.bases()[0] // cfg.acts_per_word
    return address(cfg, Region.ACTIVATIONS, base + np.arange(len(words))), words


@dataclass
class NetworkRun:
    """What one network run gave back: the INT8 ``outputs`` (B, M) of the last layer, each
    layer's :class:`~host.cycles.RunCounters`, the ``status`` and the seconds waited."""
    outputs: np.ndarray
    counters: list
    status: int
    wait_seconds: float
    polls: int = 0


def sums_capacity(placement):
    """The most inputs a run whose last layer keeps its INT32 sums takes: what the
    accumulator's banks hold of them."""
    cfg = placement.cfg
    ring = (1 << (cfg.out_depth - 1).bit_length()) * cfg.output_ports
    return min(placement.batch_capacity, ring // placement.layers[-1].rows)


def run_network(port, placement, xq, *, output="int8", timeout=None, check=True):
    """Run a batch of INT8 inputs ``xq`` (B, K), B at most the placement's capacity, on a
    loaded network; a :class:`NetworkRun`. With ``output="int32"`` (the last layer's entry
    written with ``keep_sums``, :func:`write_layer_table`) ``outputs`` are the last layer's
    INT32 sums, its bias added on the host, wrapped to 32 bits."""
    cfg = placement.cfg
    batch = len(xq)
    capacity = placement.batch_capacity if output == "int8" else sums_capacity(placement)
    if not 0 < batch <= capacity:
        raise ValueError(f"A run takes 1 to {capacity} inputs, not {batch}")
    port.write(*input_writes(placement, xq))
    if placement.shared:
        write_layer_table(port, placement, keep_sums=output == "int32")
        port.write([register_address(cfg, reg) for reg in (Reg.N_LAYERS, Reg.BATCH,
                                                           Reg.CONTROL)],
                   [len(placement.layers), batch, Control.NETWORK.value])
    else:
        port.write([register_address(cfg, Reg.BATCH), register_address(cfg, Reg.CONTROL)],
                   [batch, Control.NETWORK.value])
    started = time.monotonic()
    status, polls = 0, 0
    while not status & Status.DONE.value:
        if timeout is not None and time.monotonic() - started > timeout:
            raise AcceleratorError(f"The network run did not finish in {timeout} s "
                                   f"(status {status:#x})")
        status = int(port.read(register_address(cfg, Reg.STATUS), 1)[0])
        polls += 1
    waited = time.monotonic() - started
    if check and (message := status_error(status)) is not None:
        raise AcceleratorError(message)
    last = placement.layers[-1]
    if output == "int8":
        per_input = last.out_stride // cfg.acts_per_word
        words = port.read(int(address(cfg, Region.RESULTS, 0)), batch * per_input)
        values = (np.asarray(words, dtype=np.uint32).view(np.int8)
                  .reshape(batch, per_input * cfg.acts_per_word).astype(np.int64))
        outputs = values[:, last.positions]
    else:
        words = port.read(int(address(cfg, Region.OUTPUTS, 0)), batch * last.rows)
        sums = np.asarray(words, dtype=np.uint32).view(np.int32).astype(np.int64)
        sums = sums.reshape(batch, last.rows)[:, last.positions]
        outputs = wrap(sums + last.quantized.bias.astype(np.int64), cfg.acc_width)
    n_layers = len(placement.layers)
    raw = np.asarray(port.read(int(address(cfg, Region.LAYER_COUNTERS, 0)), n_layers * 8),
                     dtype=np.int64).reshape(n_layers, 8)
    counters = [RunCounters(*(int(v) for v in row[:len(COUNTER_REGS)])) for row in raw]
    return NetworkRun(outputs=outputs, counters=counters, status=status,
                      wait_seconds=waited, polls=polls)


def layer_cycles(cfg, encoded, batch):
    """Cycles of one layer of a network run for ``batch`` inputs: a beat a cycle for every
    input, then the pipeline and the drain (:data:`hw.chain.OutputDrain.latency`)."""
    return batch * encoded.n_beats + pipeline_latency(cfg) + drain_latency(cfg)


def predict_network(placement, inputs):
    """Each layer's counters for a run on ``inputs``: the INT8 inputs of every layer
    (a list of (B, K) arrays, from :meth:`host.network.Network.golden_int`)."""
    cfg = placement.cfg
    records = []
    for layer, xq in zip(placement.layers, inputs):
        encoded = layer.encoded
        batch = len(xq)
        cycles = layer_cycles(cfg, encoded, batch)
        kept = encoded.weight != 0
        nonzero = 0
        for x in xq:
            activation = padded_inputs(x, encoded.activation_length)[encoded.column]
            nonzero += int((kept & (activation != 0)).sum())
        records.append(RunCounters(
            cycles=cycles, beats=batch * encoded.n_beats,
            busy_lanes=batch * int(kept.sum()), nonzero_products=nonzero,
            stalls=cycles - batch * encoded.n_beats, act_reads=batch * encoded.act_reads))
    return records
