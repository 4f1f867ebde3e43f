import numpy as np
import pytest

from hw.config import AccelConfig
from hw.layouts import pattern_layout
from hw.sequencer import WORDS_PER_GROUP, BeatSource
from host.encode import pack_beats
from tests.sim_streams import latency, simulate, take, words_value


async def write_words(ctx, port, words):
    """Write every word of ``words`` (entries, words of each) through ``port``, one a cycle."""
    for beat, entry in enumerate(words):
        for word, data in enumerate(entry):
            ctx.set(port.beat, beat)
            ctx.set(port.word, word)
            ctx.set(port.data, int(data))
            ctx.set(port.en, 1)
            await ctx.tick()
    ctx.set(port.en, 0)


def run_source(cfg, beats, patterns, runs, *, pause, seed):
    """Load the weight memory with ``beats`` and the pattern table with ``patterns`` (bus
    words, an entry a row), then make each of ``runs``, ``(n_beats, pattern_beats)``, taking
    its beats with random stalls. Returns each run's ``(beat, pattern)`` payloads, and whether
    a beat came after a run's last."""
    dut = BeatSource(cfg)
    results = []

    async def testbench(ctx):
        await write_words(ctx, dut.write, beats)
        await write_words(ctx, dut.pattern_write, patterns)
        for number, (n_beats, pattern_beats) in enumerate(runs):
            ctx.set(dut.n_beats, n_beats)
            ctx.set(dut.pattern_beats, pattern_beats)
            ctx.set(dut.request, 1)
            await ctx.tick()
            ctx.set(dut.request, 0)
            received = await take(ctx, dut.o, n_beats, pause=pause, seed=seed + number)
            ctx.set(dut.o.ready, 1)
            extra = False
            for _ in range(8):
                _, _, valid = await ctx.tick().sample(dut.o.valid)
                extra |= bool(valid)
            ctx.set(dut.o.ready, 0)
            results.append(([(int(p.beat), p.pattern) for p in received], extra))

    simulate(dut, testbench)
    return results


def source_config(pes, max_k, weight_depth, pattern_depth, weight_ports=2):
    return AccelConfig(pes=pes, max_k=max_k, max_m=8, weight_depth=weight_depth,
                       pattern_depth=pattern_depth, weight_ports=weight_ports)


@pytest.mark.parametrize("pes, max_k, weight_depth, pattern_depth, runs, pause, ports", [
    # Memories whose depths are not powers of two; runs of no beat, one, the whole memory,
    # and pattern cycles that do not divide them.
    (4, 16, 13, 5, [(13, 5), (0, 1), (1, 1), (7, 3), (13, 1)], 0.3, 2),
    (8, 64, 9, 4, [(9, 4), (5, 2)], 0.6, 2),
    (8, 64, 9, 4, [(9, 4), (9, 4)], 0.0, 2),
    # Beats of more than one group of words.
    (32, 1024, 6, 3, [(6, 3), (4, 2)], 0.3, 2),
    # A single-port weight memory (the iCE40's SPRAM).
    (4, 16, 13, 5, [(13, 5), (0, 1), (1, 1), (7, 3), (13, 1)], 0.3, 1),
    (8, 64, 9, 4, [(9, 4), (9, 4)], 0.0, 1),
    (32, 1024, 6, 3, [(6, 3), (4, 2)], 0.5, 1),
])
def test_beats_and_patterns_with_stalls(pes, max_k, weight_depth, pattern_depth, runs, pause,
                                        ports):
    cfg = source_config(pes, max_k, weight_depth, pattern_depth, ports)
    rng = np.random.default_rng(pes + weight_depth)
    beats = rng.integers(0, 1 << 32, (weight_depth, cfg.words_per_beat), dtype=np.uint64)
    layout = pattern_layout(cfg)
    last = rng.random((pattern_depth, pes)) < 0.5
    base = rng.integers(0, 1 << cfg.column_width, (pattern_depth, pes))
    patterns = pack_beats(cfg, layout, {"last": last, "base": base})
    if pes == 16:
        assert cfg.words_per_beat > WORDS_PER_GROUP
    for (n_beats, pattern_beats), (received, extra) in zip(
            runs, run_source(cfg, beats, patterns, runs, pause=pause, seed=pes)):
        assert not extra
        assert [beat for beat, _ in received] == [words_value(words) for words in beats[:n_beats]]
        phases = np.arange(n_beats) % pattern_beats
        assert [[int(bit) for bit in pattern.last] for _, pattern in received] == \
            last[phases].astype(int).tolist()
        assert [[int(lane) for lane in pattern.base] for _, pattern in received] == \
            base[phases].tolist()


def test_latency():
    cfg = source_config(4, 16, 4, 2)
    dut = BeatSource(cfg)

    def offer(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.n_beats, 1)
        ctx.set(dut.pattern_beats, 1)
        ctx.set(dut.request, 1)

    cycles = latency(dut, offer, lambda ctx: ctx.set(dut.request, 0),
                     lambda ctx: ctx.get(dut.o.valid))
    # The run starts the cycle after the request, and reads its first beat a cycle later.
    assert cycles == dut.latency + 2 == 5


def test_a_run_of_several_inputs_restarts_the_layer_without_a_gap():
    """A layer from beat 3 and pattern entry 1, for three inputs: each input's beats in
    order, its pattern cycle restarted, its offset beside every beat, back to back."""
    cfg = source_config(8, 64, 12, 6)
    rng = np.random.default_rng(5)
    beats = rng.integers(0, 1 << 32, (12, cfg.words_per_beat), dtype=np.uint64)
    layout = pattern_layout(cfg)
    last = rng.random((6, 8)) < 0.5
    base = rng.integers(0, 1 << cfg.column_width, (6, 8))
    patterns = pack_beats(cfg, layout, {"last": last, "base": base})
    dut = BeatSource(cfg)
    start, n_beats, entry, cycle, inputs, offset, stride = 3, 5, 1, 2, 3, 16, 16
    received, times = [], []

    async def testbench(ctx):
        await write_words(ctx, dut.write, beats)
        await write_words(ctx, dut.pattern_write, patterns)
        for port, value in ((dut.beat_start, start), (dut.n_beats, n_beats),
                            (dut.pattern_start, entry), (dut.pattern_beats, cycle),
                            (dut.inputs, inputs), (dut.offset_base, offset),
                            (dut.offset_stride, stride)):
            ctx.set(port, value)
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.request, 1)
        await ctx.tick()
        ctx.set(dut.request, 0)
        for cycle_number in range(40):
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                received.append(payload)
                times.append(cycle_number)

    simulate(dut, testbench)
    assert len(received) == inputs * n_beats
    assert times == list(range(times[0], times[0] + inputs * n_beats))
    for index, payload in enumerate(received):
        b, j = divmod(index, n_beats)
        assert int(payload.beat) == words_value(beats[start + j])
        phase = entry + j % cycle
        assert [int(bit) for bit in payload.pattern.last] == last[phase].astype(int).tolist()
        assert {int(copy) for copy in payload.offsets} == {offset + b * stride}
        assert int(payload.first) == (j == 0)
