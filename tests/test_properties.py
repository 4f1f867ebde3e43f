"""Property tests (Hypothesis): random configurations and layers of every pattern, encoded
and run through the golden model's stream reading against ``scipy.sparse``; random networks
through the integer model against a NumPy reference of the README's rule; random byte
streams into the host's answer parser, and with frames among them into the hardware link
decoder.

``HYPOTHESIS_PROFILE=bench`` runs many more examples (``python -m pytest
tests/test_properties.py`` with it set); the default profile keeps the suite's budget.
"""

import os

import numpy as np
import scipy.sparse
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from hw.config import AccelConfig, ceil_log2
from hw.link import ANSWER_SYNC, AnswerHeader, Command, LinkStatus
from host.cycles import run_cycles
from host.encode import LayerTooBig, encode
from host.golden import golden_matvec, stream_matvec
from host.link import Link, frame_bytes
from host.network import Layer, Network, requantization
from host.patterns import prune
from host.quant import quantize_weights


settings.register_profile("default", max_examples=150, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("bench", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def wrapped(values, width=32):
    """Two's complement wrap to ``width`` bits, by modular arithmetic."""
    return (np.asarray(values, dtype=np.int64) + (1 << width - 1)) % (1 << width) \
        - (1 << width - 1)


def reference_matvec(q, x):
    """``q @ x`` (x: (B, K)) through ``scipy.sparse``, upcast to int32 first."""
    sparse = scipy.sparse.csr_matrix(np.asarray(q).astype(np.int32))
    return np.asarray((sparse @ np.asarray(x).astype(np.int32).T).T, dtype=np.int64)


@st.composite
def patterns(draw, cfg, columns):
    """A pattern the configuration can carry, and its sparsity."""
    family = draw(st.sampled_from(["dense", "unstructured", "nm", "bank", "tile"]))
    sparsity = draw(st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9, 1.0]))
    if family == "dense":
        return "dense", None
    if family == "unstructured":
        return "unstructured", sparsity
    if family == "nm":
        group = draw(st.sampled_from([m for m in (2, 4, 8, 16) if m <= cfg.max_group_width]))
        return f"{draw(st.integers(1, group - 1))}:{group}", None
    if family == "bank":
        width = draw(st.sampled_from([w for w in (2, 4, 8, 16, 32)
                                      if w <= cfg.max_group_width]))
        return f"bank:{width}", sparsity
    return f"tile:{draw(st.sampled_from([1, 2, 4, 8]))}", sparsity


@st.composite
def layers(draw):
    """A configuration, a pattern, a layer pruned to it and a batch of INT8 inputs."""
    pes = draw(st.sampled_from([1, 2, 4, 8, 16]))
    rows, columns = draw(st.integers(1, 20)), draw(st.integers(1, 40))
    # The narrowest accumulators a configuration takes, 16 + log2(P) bits, wrap often.
    acc_width = min(32, 16 + max(1, ceil_log2(pes)) + draw(st.sampled_from([0, 0, 4, 16])))
    cfg = AccelConfig(pes=pes, max_k=64, max_m=32, weight_depth=1024, acc_width=acc_width,
                      max_group_width=draw(st.sampled_from([2, 4, 16, 64])),
                      gap_bits=draw(st.integers(1, 6)),
                      output_ports=draw(st.sampled_from([1, 2, 4])))
    pattern, sparsity = draw(patterns(cfg, columns))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.normal(size=(rows, columns))
    weights *= rng.random((rows, columns)) < draw(st.sampled_from([1.0, 0.5, 0.1]))
    if draw(st.booleans()):
        weights[rng.random(rows) < 0.3] = 0                  # empty rows
    q, _ = quantize_weights(prune(weights, pattern, sparsity=sparsity))
    x = rng.integers(-127, 128, size=(draw(st.integers(1, 3)), columns))
    return cfg, pattern, q.astype(np.int64), x


@given(layers())
def test_every_encoded_layer_computes_its_sparse_product(case):
    """Encoded in its pattern's format and read back as the hardware reads it, a layer's
    product is the sparse matrix's (wrapped to the accumulators' width), and the golden
    model's too."""
    cfg, pattern, q, x = case
    try:
        layer = encode(q, cfg, pattern)
    except LayerTooBig:
        assume(False)
    expected = wrapped(reference_matvec(q, x), cfg.acc_width)
    np.testing.assert_array_equal(golden_matvec(q, x, cfg.acc_width), expected)
    np.testing.assert_array_equal(layer.scatter(stream_matvec(layer, x, cfg.acc_width)),
                                  expected)
    assert layer.nnz == np.count_nonzero(q)
    assert run_cycles(cfg, layer) >= layer.n_beats


@st.composite
def networks(draw):
    """A network of 1 to 3 layers of random shapes, patterns and activations, calibrated."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sizes = [draw(st.integers(1, 24)) for _ in range(draw(st.integers(2, 4)))]
    layers = []
    for inputs, outputs in zip(sizes, sizes[1:]):
        pattern = draw(st.sampled_from(["dense", "unstructured", "2:4", "1:4", "bank:4",
                                        "tile:2", None]))
        sparsity = draw(st.sampled_from([0.25, 0.5, 0.75])) if pattern in (
            "unstructured", "bank:4", "tile:2") else None
        layers.append(Layer(rng.normal(size=(outputs, inputs)),
                            rng.normal(size=outputs) * draw(st.sampled_from([0, 0.1, 1])),
                            pattern=pattern, sparsity=sparsity,
                            activation=draw(st.sampled_from([None, "relu", "gelu", "tanh"]))))
    calibration = rng.normal(size=(8, sizes[0]))
    return Network(layers).calibrate(calibration), rng.integers(-127, 128, (3, sizes[0]))


def reference_layer(layer, xq):
    """One layer by the README's rule: sums (sparse, int32 operands) plus the bias,
    wrapped; ``(acc * m + 2**(n - 1)) >> n`` clamped to +-127; the table."""
    acc = wrapped(reference_matvec(layer.q, xq) + layer.bias.astype(np.int64))
    m = layer.multiplier.astype(np.int64)
    n = layer.shift.astype(np.int64)
    rounding = np.where(n > 0, np.left_shift(1, np.maximum(n - 1, 0)), 0)
    y = np.clip((acc * m + rounding) >> n, -127, 127)
    return acc, y, layer.table.astype(np.int64)[y + 128]


@given(networks())
def test_random_networks_follow_the_integer_rule(case):
    net, xq = case
    z = xq
    for layer, result in zip(net.quantized, net.golden_int(xq)):
        acc, y, z = reference_layer(layer, z)
        np.testing.assert_array_equal(result.sums, acc)
        np.testing.assert_array_equal(result.requantized, y)
        np.testing.assert_array_equal(result.outputs, z)
        assert layer.table[0] == layer.table[1]


@given(st.floats(min_value=(2**15 - 0.25) / 2**63, max_value=2**16 - 0.5,
                 exclude_max=True, allow_nan=False))
def test_requantization_is_within_its_bound(multiplier):
    """``m`` 16 bits with its top bit set, ``n`` 0 to 63, ``|M - m / 2**n| <= M 2**-16``."""
    m, n = (int(v) for v in requantization(multiplier))
    assert 2**15 <= m < 2**16 and 0 <= n <= 63
    assert abs(multiplier - m / 2**n) <= multiplier * 2**-16


class BytesPort:
    """A port that answers with given bytes, in pieces of given sizes, then nothing."""
    def __init__(self, data, pieces):
        self.data, self.pieces = bytearray(data), list(pieces)

    @property
    def in_waiting(self):
        return len(self.data)

    def read(self, size):
        size = min(size, self.pieces.pop(0) if self.pieces else len(self.data))
        piece = bytes(self.data[:size])
        del self.data[:size]
        return piece


def answer(sequence, status, count, words=()):
    header = AnswerHeader.const({"sequence": sequence, "status": status, "count": count})
    return frame_bytes(ANSWER_SYNC, header, words)


@given(st.binary(max_size=60), st.binary(max_size=60), st.booleans(),
       st.integers(0, 255), st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=3),
       st.lists(st.integers(1, 16), max_size=20),
       st.one_of(st.none(), st.tuples(st.integers(0, 200), st.integers(0, 7))))
def test_the_answer_parser_takes_only_its_own_intact_answer(before, after, with_answer,
                                                            sequence, words, pieces, flip):
    """Any bytes around the answer to a READ, in pieces of any size, the answer perhaps
    damaged by a flipped bit: the parser returns that answer's words exactly, or nothing."""
    frame = answer(sequence, LinkStatus.OK, len(words), words) if with_answer else b""
    stream = bytearray(before + frame + after)
    if flip is not None and stream:
        stream[flip[0] % len(stream)] ^= 1 << flip[1]
    link = Link(BytesPort(stream, pieces), frame_words=8, timeout=0.002)
    status, payload = link._answer(sequence, Command.READ, len(words))
    if status is not None:
        assert with_answer and frame in bytes(stream)
        assert status == LinkStatus.OK
        assert payload.tolist() == words


#: The link decoder's configuration for random byte streams: frames of two words at most,
#: so that noise's headers often ask for a length the decoder takes.
LINK_CFG = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8, frame_words=2)
LINK_TIMEOUT = 16
#: Cycles of silence that end whatever the decoder is doing: a timeout, then an answer.
QUIET = 4 * LINK_TIMEOUT + 32


@st.composite
def link_streams(draw):
    """Bytes of noise and frames in between: each frame a READ or a WRITE of one or two words
    with a sequence number of its own, its CRC intact or a bit after its header flipped."""
    segments = []
    for sequence in draw(st.lists(st.integers(0, 255), unique=True, min_size=1, max_size=3)):
        segments.append(draw(st.binary(max_size=24)))
        command = draw(st.sampled_from([Command.READ, Command.WRITE]))
        count = draw(st.integers(1, LINK_CFG.frame_words))
        words = tuple(draw(st.lists(st.integers(0, 2**32 - 1), min_size=count,
                                    max_size=count))) if command == Command.WRITE else ()
        flip = draw(st.one_of(st.none(), st.integers(0, 8 * (4 * len(words) + 4) - 1)))
        segments.append((sequence, command, draw(st.integers(0, 255)), count, words, flip))
    segments.append(draw(st.binary(max_size=24)))
    return segments, draw(st.integers(0, 2**32 - 1))


@settings(max_examples=max(4, settings.default.max_examples // 15))
@given(link_streams())
def test_the_link_decoder_writes_only_from_intact_frames(case):
    """Random bytes, and frames among them, into the hardware link decoder (Amaranth's
    simulator, answers taken with random stalls): every bus write is a word of an intact
    WRITE, in order, and each frame sent after a silence gets exactly its one answer
    (``OK`` with a READ's words, or ``BAD_CRC``) before the next bytes."""
    from hw.bus import BUS_READ_LATENCY
    from hw.link import REQUEST_HEADER_BYTES, REQUEST_SYNC, LinkDecoder, RequestHeader
    from tests.sim_streams import drain, put, simulate
    from tests.test_link import bus_word

    segments, seed = case
    dut = LinkDecoder(LINK_CFG, LINK_TIMEOUT)
    writes, answers, windows, expected_writes = [], [], [], []
    memory = {}

    async def source(ctx):
        for segment in segments:
            if isinstance(segment, bytes):
                for byte in segment:
                    await put(ctx, dut.rx, byte, wait=1)
                continue
            await ctx.tick().repeat(QUIET)
            sequence, command, address, count, words, flip = segment
            header = RequestHeader.const({"sequence": sequence, "command": command,
                                          "count": count, "address": address})
            frame = bytearray(frame_bytes(REQUEST_SYNC, header, words))
            if flip is not None:
                frame[1 + REQUEST_HEADER_BYTES + flip // 8] ^= 1 << flip % 8
            start = len(answers)
            for byte in frame:
                await put(ctx, dut.rx, byte, wait=1)
            await ctx.tick().repeat(QUIET)
            addresses = range(address, address + count)
            if flip is not None:
                status, read = LinkStatus.BAD_CRC, ()
            elif command == Command.READ:
                status, read = LinkStatus.OK, [memory.get(a, bus_word(a)) for a in addresses]
            else:
                status, read = LinkStatus.OK, ()
                memory.update(zip(addresses, words))
                expected_writes.extend(zip(addresses, words))
            windows.append((bytes(answers[start:]), answer(sequence, status, count, read)))
        await ctx.tick().repeat(QUIET)

    async def bus(ctx):
        stored, reads = {}, [None] * BUS_READ_LATENCY
        async for _, _, w_en, r_en, addr, w_data in ctx.tick().sample(
                dut.bus.w_en, dut.bus.r_en, dut.bus.addr, dut.bus.w_data):
            if w_en:
                writes.append((addr, w_data))
                stored[addr] = w_data
            reads = reads[1:] + [stored.get(addr, bus_word(addr)) if r_en else None]
            ctx.set(dut.bus.r_data, 0xBAD0_BAD0 if reads[0] is None else reads[0])

    async def sink(ctx):
        await drain(ctx, dut.tx, answers, pause=0.3, seed=seed)

    simulate(dut, source, background=[bus, sink])
    assert writes == expected_writes
    for got, wanted in windows:
        assert got == wanted
