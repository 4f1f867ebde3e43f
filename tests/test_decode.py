import numpy as np
import pytest

from hw.bus import Reg
from hw.config import AccelConfig
from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.decode import BeatDecoder
from hw.gaps import GapDecoder
from hw.layouts import Format, fetch_layout, pattern_layout, source_layout
from host.encode import encode
from host.patterns import prune
from tests.sim_streams import feed, simulate, stream_latency, take, words_value


def decoder_config(pes):
    return AccelConfig(pes=pes, max_k=128, max_m=32, weight_depth=512, max_group_width=16,
                       pattern_depth=16)


def layer_weights(rng, pattern, sparsity, shape, *, zero=False):
    """Random INT8 weights pruned to ``pattern``, with the edges every format must take: an
    empty row and a row of one weight among rows longer than P; ``zero``: all zero."""
    m, k = shape
    q = np.zeros(shape, dtype=np.int64)
    if not zero:
        q = prune(rng.integers(-127, 128, shape), pattern, sparsity=sparsity)
        q[1] = 0
        q[3] = 0
        q[3, k - 1] = -127
    return q


class Decoders(wiring.Component):
    """The gap decoder and the beat decoder, as the accelerator joins them."""
    def __init__(self, cfg):
        self.cfg = cfg
        self.gaps, self.beats = GapDecoder(cfg), BeatDecoder(cfg)
        super().__init__({
            "i":          In(stream.Signature(source_layout(cfg))),
            "o":          Out(stream.Signature(fetch_layout(cfg))),
            "reads":      Out(range(cfg.pes + 1)),
            **{name: In(getattr(self.beats, name).shape()) for name in (
                "format", "index_bits", "list_beats", "tile_beats", "n_lanes", "restart")},
            "columns":    In(range(cfg.max_k + 1)),
        })

    @property
    def latency(self):
        return self.gaps.latency + self.beats.latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.gaps, m.submodules.beats = self.gaps, self.beats
        wiring.connect(m, wiring.flipped(self.i), self.gaps.i)
        wiring.connect(m, self.gaps.o, self.beats.i)
        wiring.connect(m, self.beats.o, wiring.flipped(self.o))
        m.d.comb += [self.reads.eq(self.beats.reads),
                     self.gaps.index_bits.eq(self.index_bits),
                     self.gaps.columns.eq(self.columns), self.gaps.restart.eq(self.restart),
                     self.gaps.format.eq(self.format)]
        m.d.comb += [getattr(self.beats, name).eq(getattr(self, name)) for name in (
            "format", "index_bits", "list_beats", "tile_beats", "n_lanes", "restart")]
        return m


def source_beats(cfg, layer, rng):
    """The raw beats of ``layer`` as the beat source gives them: each beat's words, the
    words past its own stale (random), with its pattern table entry (random for a format
    that has no pattern table)."""
    layout, pattern = source_layout(cfg), pattern_layout(cfg)
    payloads = []
    for number, (words, used) in enumerate(zip(layer.packed, layer.packed_words)):
        memory = rng.integers(0, 1 << 32, cfg.words_per_beat, dtype=np.uint64)
        memory[:used] = words[:used]
        if layer.pattern is None:
            entry = pattern.from_bits(int.from_bytes(rng.bytes(-(-pattern.size // 8)),
                                                     "little") & ((1 << pattern.size) - 1))
        else:
            entry = pattern.from_bits(words_value(layer.pattern[number % len(layer.pattern)]))
        payloads.append(layout.const({"beat": words_value(memory), "pattern": entry,
                                      "first": number == 0}))
    return payloads


def run_decoder(cfg, runs, *, pause, seed):
    """Decode each of ``runs``, ``(layer, payloads)`` with ``payloads`` the beats of
    ``layer``, after a ``restart`` with its registers, with random pauses on both sides.
    Returns each run's decoded beats, with ``reads`` beside each."""
    dut = Decoders(cfg)
    received = [[] for _ in runs]
    started = [0]

    async def source(ctx):
        for number, (layer, payloads) in enumerate(runs):
            while started[0] < number:      # the run before has left the decoder
                await ctx.tick()
            settings = layer.settings
            ctx.set(dut.format, Format(settings[Reg.FORMAT]))
            ctx.set(dut.index_bits, settings.get(Reg.INDEX_BITS, 0))
            ctx.set(dut.columns, settings.get(Reg.N_COLUMNS, 0))
            ctx.set(dut.list_beats, settings.get(Reg.TILE_LIST_BEATS, 0))
            ctx.set(dut.tile_beats, settings.get(Reg.TILE_BEATS, 0))
            ctx.set(dut.n_lanes, layer.n_lanes)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            await ctx.tick()    # the gap decoder's constants load in two cycles
            await feed(ctx, dut.i, payloads, pause=pause, seed=seed + number)

    async def sink(ctx):
        for number, (_, payloads) in enumerate(runs):
            received[number] = await take(ctx, dut.o, len(payloads), pause=pause,
                                          seed=seed + number + 1, also=(dut.reads,))
            started[0] = number + 1

    simulate(dut, source, sink)
    return received


def check_decoded(cfg, layer, received):
    """Compare the decoder's beats with the encoder's lanes (:class:`host.encode.EncodedLayer`
    says what they are to the decoder)."""
    assert len(received) == layer.n_beats
    lanes = np.arange(cfg.pes)
    settings = layer.settings
    list_beats = settings.get(Reg.TILE_LIST_BEATS, 0)
    tile_beats = settings.get(Reg.TILE_BEATS, 1)
    compact = np.zeros((cfg.pes, max(list_beats, 1)), dtype=np.int64)
    for number, (beat, reads) in enumerate(received):
        fields = {name: np.array([int(getattr(beat.lanes[i], name)) for i in range(cfg.pes)])
                  for name in ("weight", "column", "last")}
        controls = {(int(c.gather), int(c.compact), int(c.slot)) for c in beat.controls}
        assert len(controls) == 1, "copies of the controls differ"
        gather, from_compact, slot = controls.pop()
        np.testing.assert_array_equal(fields["weight"], layer.weight[number])
        np.testing.assert_array_equal(fields["last"], layer.last[number])
        live = int(np.clip(layer.n_lanes - number * cfg.pes, 0, cfg.pes))
        column = layer.column[number]
        if layer.format == Format.TILE:
            place = number % tile_beats
            listing = place < list_beats
            assert (gather, from_compact) == (listing, not listing)
            assert reads == (cfg.pes if listing else 0)
            if listing:
                assert slot == place
                np.testing.assert_array_equal(fields["column"], column)
                compact[:, slot] = fields["column"]
            else:
                assert slot == (place - list_beats) % list_beats
                np.testing.assert_array_equal(compact[:, slot], column)
            continue
        assert (gather, from_compact, reads) == (0, 0, live)
        if layer.format == Format.UNSTRUCTURED:
            np.testing.assert_array_equal(fields["column"], column)
        else:
            # The address of the lane's input in the activation memories.
            np.testing.assert_array_equal(fields["column"][:live], layer.address(column[:live]))


@pytest.mark.parametrize("pes, pattern, sparsity, shape, zero, pause", [
    (4, "unstructured", 0.5, (9, 37), False, 0.3),
    (8, "unstructured", 0.3, (12, 37), False, 0.5),
    (8, "unstructured", 0.9, (20, 13), False, 0.3),     # many short rows: skipped lanes
    (4, "unstructured", None, (5, 13), True, 0.3),      # no beat at all
    (4, "dense", None, (6, 13), False, 0.3),
    (8, "2:4", None, (7, 37), False, 0.5),
    (4, "3:7", None, (6, 37), False, 0.3),
    (8, "bank:8", 0.5, (6, 37), False, 0.3),
    (8, "2:4", None, (5, 37), True, 0.3),
    (4, "tile:3", 0.5, (7, 37), False, 0.5),           # lists of several beats
    (8, "tile:2", 0.7, (6, 37), False, 0.3),
    (4, "tile:3", None, (4, 13), True, 0.3),
    (16, "unstructured", 0.5, (9, 100), False, 0.3),
])
def test_lanes_match_the_encoder_with_stalls(pes, pattern, sparsity, shape, zero, pause):
    cfg = decoder_config(pes)
    rng = np.random.default_rng(pes + shape[0] * shape[1])
    q = layer_weights(rng, pattern, sparsity, shape, zero=zero)
    layer = encode(q, cfg, pattern)
    [received] = run_decoder(cfg, [(layer, source_beats(cfg, layer, rng))], pause=pause,
                             seed=pes)
    check_decoded(cfg, layer, received)


def test_runs_back_to_back():
    cfg = decoder_config(4)
    rng = np.random.default_rng(7)
    layers = [encode(layer_weights(rng, pattern, sparsity, shape), cfg, pattern)
              for pattern, sparsity, shape in [
                  ("tile:3", 0.5, (7, 37)), ("tile:2", 0.8, (5, 13)), ("2:4", None, (6, 37)),
                  ("unstructured", 0.5, (7, 13)), ("tile:2", 0.5, (4, 21))]]
    runs = [(layer, source_beats(cfg, layer, rng)) for layer in layers]
    for layer, received in zip(layers, run_decoder(cfg, runs, pause=0.4, seed=3)):
        check_decoded(cfg, layer, received)


def test_latency():
    cfg = decoder_config(4)
    layer = encode(np.eye(4, dtype=int), cfg, "unstructured")
    dut = Decoders(cfg)

    async def setup(ctx):
        ctx.set(dut.format, Format.UNSTRUCTURED)
        ctx.set(dut.index_bits, layer.settings[Reg.INDEX_BITS])
        ctx.set(dut.columns, 4)
        ctx.set(dut.n_lanes, layer.n_lanes)
        ctx.set(dut.restart, 1)
        await ctx.tick()
        ctx.set(dut.restart, 0)
        await ctx.tick()

    beat = source_beats(cfg, layer, np.random.default_rng(0))[0]
    assert stream_latency(dut, beat, setup=setup) == dut.latency == 7
