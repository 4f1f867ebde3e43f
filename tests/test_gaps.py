import dataclasses

import numpy as np
import pytest

from amaranth.sim import Simulator

from hw.bus import Reg
from hw.config import AccelConfig
from hw.gaps import GapDecoder, prefix_sums
from hw.layouts import Format, source_layout
from host.encode import decode_gaps, encode_unstructured
from tests.sim_streams import run_stream, stream_latency, words_value


def gaps_config(pes, ports=2):
    return AccelConfig(pes=pes, max_k=200, max_m=64, weight_depth=1024, output_ports=ports)


def layer_weights(rng, shape, density):
    """Random INT8 weights with the edges a gap code must take: an empty row, a row of one
    weight at the last column, a row whose only weights are far apart."""
    m, k = shape
    q = rng.integers(-127, 128, shape) * (rng.random(shape) < density)
    q[1] = 0
    q[2] = 0
    q[2, k - 1] = 5
    q[4] = 0
    q[4, [0, k - 1]] = -3
    return q


def beats_of(cfg, layer, inputs):
    """The source's payloads for ``inputs`` inputs of ``layer``, back to back."""
    layout = source_layout(cfg)
    return [layout.const({"beat": words_value(words), "first": number == 0})
            for _ in range(inputs) for number, words in enumerate(layer.packed)]


async def start_run(ctx, dut, layer, format):
    """Start a run of ``layer``'s beats read as ``format`` on the gap decoder ``dut``."""
    ctx.set(dut.format, format)
    ctx.set(dut.index_bits, layer.settings[Reg.INDEX_BITS])
    ctx.set(dut.columns, layer.shape[1])
    ctx.set(dut.restart, 1)
    await ctx.tick()
    ctx.set(dut.restart, 0)
    await ctx.tick()        # the run's constants load in two cycles


def run_gaps(cfg, layer, inputs, *, pause, seed, lut_ram=True):
    dut = GapDecoder(cfg, lut_ram=lut_ram)

    async def setup(ctx):
        await start_run(ctx, dut, layer, Format.UNSTRUCTURED)

    return run_stream(dut, beats_of(cfg, layer, inputs), pause=pause, seed=seed, setup=setup)


@pytest.mark.parametrize("pes, ports, density, shape, every_row, bits, pause, lut_ram", [
    (4, 2, 0.5, (9, 37), False, None, 0.3, False),   # the delay line of flip-flops
    (8, 2, 0.1, (12, 150), False, None, 0.5, True),
    (8, 1, 0.3, (12, 37), True, 2, 0.3, True),       # fillers and C = 1
    (16, 4, 0.05, (30, 13), True, 1, 0.3, False),    # many short rows, several a beat
    (16, 2, 0.9, (6, 100), False, 6, 0.0, True),
    (64, 2, 0.5, (5, 150), False, 3, 0.3, True),
])
def test_columns_and_row_ends_match_the_model(pes, ports, density, shape, every_row, bits,
                                              pause, lut_ram):
    cfg = gaps_config(pes, ports)
    rng = np.random.default_rng(pes + shape[0])
    q = layer_weights(rng, shape, density)
    layer = encode_unstructured(q, cfg, every_row=every_row, gap_bits=bits)
    received = run_gaps(cfg, layer, 3, pause=pause, seed=pes, lut_ram=lut_ram)
    # The beats themselves pass through unchanged, in order.
    assert [(int(beat.source.beat), int(beat.source.first)) for beat in received] == \
        [(int(words_value(words)), number == 0)
         for _ in range(3) for number, words in enumerate(layer.packed)]
    bits = layer.settings[Reg.INDEX_BITS]
    code = np.array([[sum(((int(words_value(words)) >> (cfg.data_width * pes + bit * pes
                                                          + lane)) & 1) << bit
                          for bit in range(bits)) for lane in range(pes)]
                     for words in layer.packed])
    column, last = decode_gaps(layer.weight, code, shape[1], layer.n_lanes)
    live = np.arange(layer.n_beats * pes).reshape(-1, pes) < layer.n_lanes
    assert len(received) == 3 * layer.n_beats
    for number, beat in enumerate(received):
        beat_number = number % layer.n_beats
        got_column = np.array([int(value) for value in beat.column])
        got_last = np.array([int(value) for value in beat.last])
        mask = live[beat_number]
        np.testing.assert_array_equal(got_column[mask], column[beat_number][mask])
        np.testing.assert_array_equal(got_last[mask], last[beat_number][mask])
        np.testing.assert_array_equal(got_last[~mask], 0)
        # The encoder's own lanes agree with the model.
        np.testing.assert_array_equal(column[beat_number][mask], layer.column[beat_number][mask])


def overrun_after(cfg, layer, format):
    """``overrun`` after ``layer``'s beats, read as ``format``, went through."""
    dut = GapDecoder(cfg)
    flags = []

    async def bench(ctx):
        await start_run(ctx, dut, layer, format)
        ctx.set(dut.o.ready, 1)
        for payload in beats_of(cfg, layer, 1):
            ctx.set(dut.i.payload, payload)
            ctx.set(dut.i.valid, 1)
            await ctx.tick()
        ctx.set(dut.i.valid, 0)
        await ctx.tick().repeat(dut.latency)
        flags.append(ctx.get(dut.overrun))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return flags[0]


def test_a_beat_crossing_too_many_rows_sets_overrun():
    cfg = gaps_config(8, ports=1)
    q = np.eye(6, 7, dtype=int)
    good = encode_unstructured(q, cfg)
    wide = encode_unstructured(q, dataclasses.replace(cfg, output_ports=4))
    assert wide.n_beats < good.n_beats
    assert overrun_after(cfg, good, Format.UNSTRUCTURED) == 0
    assert overrun_after(cfg, wide, Format.UNSTRUCTURED) == 1
    # Only unstructured beats are checked: the same beats as another format's pass.
    assert overrun_after(cfg, wide, Format.GROUPED) == 0


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 9, 16])
def test_prefix_sums(count):
    from amaranth.hdl import Const, Module
    values = np.random.default_rng(count).integers(0, 200, count)
    sums = prefix_sums([Const(int(value), 8) for value in values], 11)
    got = []

    async def bench(ctx):
        got.extend(ctx.get(total) for total in sums)

    sim = Simulator(Module())
    sim.add_testbench(bench)
    sim.run()
    assert got == np.cumsum(values).tolist()


def test_latency():
    cfg = gaps_config(4)
    layer = encode_unstructured(np.eye(4, dtype=int), cfg)
    dut = GapDecoder(cfg)

    async def setup(ctx):
        ctx.set(dut.columns, 4)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        await ctx.tick()        # the run's constants load in two cycles

    assert stream_latency(dut, beats_of(cfg, layer, 1)[0], setup=setup) == dut.latency == 6
