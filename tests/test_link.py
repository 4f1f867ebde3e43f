"""The link decoder in Amaranth's simulator: requests in with random gaps between their bytes,
the answer stream stalled at random, a bus with a memory behind it; every bus write and every
answer byte compared with a model of the protocol."""

import random
from dataclasses import dataclass, replace

import pytest
from amaranth.lib import data

from hw.bus import BUS_READ_LATENCY
from hw.config import AccelConfig
from hw.link import (ANSWER_HEADER_BYTES, ANSWER_SYNC, CRC_BYTES, REQUEST_HEADER_BYTES, REQUEST_SYNC, AnswerHeader, Command, LinkDecoder,
                     LinkStatus, RequestHeader, header_bytes, header_from_bytes)
from host.link import frame_bytes
from tests.sim_streams import drain, pause_cycles, put, simulate


CFG = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8, frame_words=40)
TIMEOUT = 64
#: The request header with a plain command field, for frames with commands nobody defined.
RAW_REQUEST_HEADER = data.StructLayout({name: field.width for name, field in RequestHeader})
BAD_COMMANDS = sorted(set(range(256)) - {command.value for command in Command})
#: Where a request's words start, after its sync byte and header.
PAYLOAD_AT = 1 + REQUEST_HEADER_BYTES
OUTSIDE_FRAMES = [byte for byte in range(256) if byte != REQUEST_SYNC]


@dataclass(frozen=True)
class Request:
    """One frame sent to the decoder: a request and what happens to its bytes on the way.

    ``damage`` is ``None``, ``("flip", bit)`` (a bit after the header flipped), ``("drop",
    byte)`` (a byte after the header lost) or ``("cut", length)`` (only the first ``length``
    bytes sent). ``garbage`` are bytes sent before the frame, outside any frame.
    """
    sequence: int
    command: object                 # a Command, or an int no Command has
    address: int
    count: int
    words: tuple = ()
    damage: tuple = None
    garbage: bytes = b""

    def frame(self):
        layout = RequestHeader if isinstance(self.command, Command) else RAW_REQUEST_HEADER
        header = layout.const({"sequence": self.sequence, "command": self.command,
                               "count": self.count, "address": self.address})
        frame = frame_bytes(REQUEST_SYNC, header, self.words)
        match self.damage:
            case None:
                return frame
            case ("flip", bit):
                flipped = bytearray(frame)
                flipped[PAYLOAD_AT + bit // 8] ^= 1 << bit % 8
                return bytes(flipped)
            case ("drop", byte):
                at = PAYLOAD_AT + byte
                return frame[:at] + frame[at + 1:]
            case ("cut", length):
                return frame[:length]

    @property
    def header_arrives(self):
        return self.damage is None or self.damage[0] != "cut" or \
            self.damage[1] >= PAYLOAD_AT


def bus_word(address):
    """What the bus reads at an address nobody wrote."""
    return (address * 0x9E37_79B9 + 0x0123_4567) & 0xFFFF_FFFF


class Model:
    """What the decoder does with each request, as the link's contract says."""
    def __init__(self):
        self.memory = {}
        self.writes = []
        self.last_executed = None

    def answer(self, request):
        """The answer to ``request`` as ``(sequence, status, words)``; ``sequence`` is
        ``None`` where the decoder never saw the request's header whole."""
        if not request.header_arrives:
            return None, LinkStatus.TIMEOUT, ()
        sequence = request.sequence
        bad_header = (LinkStatus.BAD_LENGTH if not 1 <= request.count <= CFG.frame_words else
                      LinkStatus.BAD_COMMAND if not isinstance(request.command, Command) else
                      None)
        if bad_header is not None:
            # The rest of the frame comes in while the decoder hunts for a sync byte.
            assert REQUEST_SYNC not in request.frame()[PAYLOAD_AT:]
            return sequence, bad_header, ()
        if request.damage is not None:
            return sequence, (LinkStatus.BAD_CRC if request.damage[0] == "flip"
                              else LinkStatus.TIMEOUT), ()
        repeated, self.last_executed = self.last_executed == sequence, sequence
        addresses = range(request.address, request.address + request.count)
        if request.command == Command.READ:
            return sequence, LinkStatus.OK, tuple(self.memory.get(a, bus_word(a))
                                                  for a in addresses)
        if not repeated:
            self.memory.update(zip(addresses, request.words))
            self.writes.extend(zip(addresses, request.words))
        return sequence, LinkStatus.OK, ()


def answer_frame(sequence, status, count, words=()):
    """The bytes of an answer."""
    header = AnswerHeader.const({"sequence": sequence, "status": status, "count": count})
    return frame_bytes(ANSWER_SYNC, header, words)


def run_link(requests, *, pause=0.0, answer_pause=0.0, seed=0):
    """Send the requests' frames to a decoder, each once the answer to the one before is in,
    with random gaps between bytes (``pause``) and ``tx.ready`` low at random
    (``answer_pause``); return the bus writes and the answer bytes."""
    dut = LinkDecoder(CFG, TIMEOUT)
    model = Model()
    expected = [model.answer(request) for request in requests]
    writes, answer = [], []
    rng = random.Random(seed)

    async def source(ctx):
        answered = 0
        for request, (sequence, status, words) in zip(requests, expected):
            for byte in request.garbage + request.frame():
                # A byte at most every other cycle: the decoder checks after a last byte.
                await put(ctx, dut.rx, byte, wait=1 + pause_cycles(rng, pause, TIMEOUT // 4))
            answered += 1 + ANSWER_HEADER_BYTES + 4 * len(words) + CRC_BYTES
            # The answer comes after the frame's writes, one a cycle.
            deadline = TIMEOUT + 64 * (answered - len(answer)) + 2 * request.count
            while len(answer) < answered and deadline:
                await ctx.tick()
                deadline -= 1
        await ctx.tick().repeat(2 * TIMEOUT)

    async def bus(ctx):
        memory, reads = {}, [None] * BUS_READ_LATENCY
        async for _, _, w_en, r_en, addr, w_data in ctx.tick().sample(
                dut.bus.w_en, dut.bus.r_en, dut.bus.addr, dut.bus.w_data):
            if w_en:
                writes.append((addr, w_data))
                memory[addr] = w_data
            reads = reads[1:] + [memory.get(addr, bus_word(addr)) if r_en else None]
            # An answer lasts one cycle: a decoder that takes it late takes 0xBAD0_BAD0.
            ctx.set(dut.bus.r_data, 0xBAD0_BAD0 if reads[0] is None else reads[0])

    async def sink(ctx):
        await drain(ctx, dut.tx, answer, pause=answer_pause, seed=seed + 1)

    simulate(dut, source, background=[bus, sink])
    return model, expected, writes, bytes(answer)


def check(requests, **stalls):
    """Run the requests and compare the bus writes and every answer byte with the model's;
    return the writes and the answer bytes."""
    model, expected, writes, answer = run_link(requests, **stalls)
    assert writes == model.writes
    expected_bytes = b""
    for request, (sequence, status, words) in zip(requests, expected):
        count = request.count
        if sequence is None:            # the header never came whole: take what it says
            header = header_from_bytes(AnswerHeader, answer[len(expected_bytes) + 1:])
            sequence, count = header.sequence, header.count
        expected_bytes += answer_frame(sequence, status, count, words)
    assert answer == expected_bytes
    return writes, answer


def random_requests(seed, length):
    """``length`` random requests: writes, reads, retries of the request before, and frames
    damaged in every way the decoder tells apart, some after bytes outside any frame."""
    rng = random.Random(seed)
    sequence = rng.randrange(256)
    requests = []
    for _ in range(length):
        kind = rng.choice(["write"] * 3 + ["read"] * 2 + ["retry"] * 2 +
                          ["flip", "drop", "cut", "length", "command"])
        garbage = bytes(rng.choice(OUTSIDE_FRAMES)
                        for _ in range(rng.choice([0, 0, 0, 1, 7])))
        if kind == "retry" and requests:
            requests.append(replace(requests[-1], damage=None, garbage=garbage))
            continue
        sequence = (sequence + 1) % 256
        while True:
            command = Command.READ if kind == "read" or rng.random() < 0.2 else Command.WRITE
            count = rng.choice([1, 1, 2, 3, 6])
            words = tuple(rng.randrange(2 ** 32) for _ in range(count)) \
                if command == Command.WRITE else ()
            request = Request(sequence, command, rng.randrange(0x100), count, words,
                              garbage=garbage)
            trailer = len(request.frame()) - PAYLOAD_AT
            match kind:
                case "length":
                    request = replace(request, count=rng.choice([0, CFG.frame_words + 1, 0xFFFF]))
                case "command":
                    request = replace(request, command=rng.choice(BAD_COMMANDS))
                case "flip":
                    request = replace(request, damage=("flip", rng.randrange(8 * trailer)))
                case "drop":
                    request = replace(request, damage=("drop", rng.randrange(trailer)))
                case "cut":
                    request = replace(request,
                                      damage=("cut", rng.randrange(1, len(request.frame()))))
            if kind not in ("length", "command") or \
                    REQUEST_SYNC not in request.frame()[PAYLOAD_AT:]:
                break
        requests.append(request)
    return requests


def test_header_layouts_keep_the_wire_format():
    header = RequestHeader.const({"sequence": 0x17, "command": Command.WRITE, "count": 2,
                                  "address": 0x0102_0304})
    assert frame_bytes(REQUEST_SYNC, header, [0x1122_3344, 0x5566_7788]) == \
        bytes.fromhex("5a 17 57 0200 04030201 44332211 88776655 2c37faa1")
    assert header_from_bytes(RequestHeader, header_bytes(header)) == header
    assert answer_frame(0xFE, LinkStatus.BAD_LENGTH, 0x103) == \
        bytes.fromhex("a5 fe 02 0301 e192fcdd")


def test_a_write_is_executed_once_and_answered():
    request = Request(7, Command.WRITE, 0x40, 3, (1, 2, 3))
    writes, answer = check([request, request])
    assert writes == [(0x40, 1), (0x41, 2), (0x42, 3)]
    assert answer == answer_frame(7, LinkStatus.OK, 3) * 2


def test_a_read_returns_the_bus_words():
    writes, answer = check([Request(9, Command.READ, 0x10, 2)])
    assert writes == []
    assert answer == answer_frame(9, LinkStatus.OK, 2, [bus_word(0x10), bus_word(0x11)])


@pytest.mark.parametrize("damage, status", [
    (dict(damage=("flip", 0)), LinkStatus.BAD_CRC),
    (dict(damage=("flip", 8 * 8 + 31)), LinkStatus.BAD_CRC),
    (dict(count=0), LinkStatus.BAD_LENGTH),
    (dict(count=CFG.frame_words + 1), LinkStatus.BAD_LENGTH),
    (dict(command=BAD_COMMANDS[0]), LinkStatus.BAD_COMMAND),
    (dict(damage=("drop", 1)), LinkStatus.TIMEOUT),
    (dict(damage=("cut", 4)), LinkStatus.TIMEOUT),
])
def test_a_bad_frame_writes_nothing_and_the_next_one_works(damage, status):
    bad = replace(Request(3, Command.WRITE, 0x40, 2, (5, 6), garbage=b"\x00\x11garbage"),
                  **damage)
    good = Request(4, Command.WRITE, 0x50, 1, (8,), garbage=b"\x00" * 80)
    writes, answer = check([bad, good], pause=0.5, answer_pause=0.5)
    assert writes == [(0x50, 8)]
    assert header_from_bytes(AnswerHeader, answer[1:]).status == status
    assert answer.endswith(answer_frame(4, LinkStatus.OK, 1))


def test_a_retried_write_is_executed_again_only_after_a_failure():
    write = Request(5, Command.WRITE, 0x20, 1, (0xAB,))
    writes, _ = check([replace(write, damage=("flip", 3)), write, write,
                       Request(6, Command.READ, 0x20, 1), write])
    assert writes == [(0x20, 0xAB), (0x20, 0xAB)]


def test_full_frames_with_stalls():
    words = tuple(range(0x1000_0000, 0x1000_0000 + CFG.frame_words))
    check([Request(1, Command.WRITE, 0x80, CFG.frame_words, words),
           Request(2, Command.READ, 0x80, CFG.frame_words)], pause=0.3, answer_pause=0.6)


@pytest.mark.parametrize("seed, pause, answer_pause", [(1, 0.0, 0.0), (2, 0.5, 0.5),
                                                       (3, 0.8, 0.2), (4, 0.2, 0.8)])
def test_random_requests_with_stalls(seed, pause, answer_pause):
    check(random_requests(seed, 60), pause=pause, answer_pause=answer_pause, seed=seed)
