"""The host link: a framed, checksummed command protocol over a byte stream, and its decoder.

Request: ``REQUEST_SYNC``, a :data:`RequestHeader` (sequence number, :class:`Command`, word
count, first word's address), for ``WRITE`` the words (4 bytes each, least significant
first), then the CRC (4 bytes). Answer: ``ANSWER_SYNC``, an :data:`AnswerHeader` (the
request's sequence number, :class:`LinkStatus`, the request's word count), for a successful
``READ`` the words, then the CRC. A header is sent as its layout's bits, least significant
byte first (:func:`header_bytes`, :func:`header_from_bytes`), so its fields in the order the
layout declares them. The CRC covers everything between the sync byte and itself and is sent
most significant byte first, so that a frame with its CRC leaves :data:`LINK_CRC`'s residue.
"""

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.crc.catalog import CRC32_MPEG_2
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .config import BUS_WIDTH
from .bus import BUS_READ_LATENCY, BusSignature
from .memory import BlockMemory, registered_read


__all__ = ["REQUEST_SYNC", "ANSWER_SYNC", "LINK_CRC", "CRC_BYTES", "Command",
           "LinkStatus", "RequestHeader", "AnswerHeader", "REQUEST_HEADER_BYTES",
           "ANSWER_HEADER_BYTES", "header_bytes", "header_from_bytes", "LinkDecoder"]


REQUEST_SYNC = 0x5A
ANSWER_SYNC = 0xA5
#: The frames' checksum: CRC-32/MPEG-2 over bytes (a corrupted frame passes it once in 2**32).
LINK_CRC = CRC32_MPEG_2(data_width=8)
#: Bytes of the CRC at the end of every frame.
CRC_BYTES = 4


class Command(enum.Enum, shape=8):
    """What a request asks for."""
    WRITE = 0x57   # write the frame's words to consecutive bus addresses
    READ  = 0x52   # read that many words from consecutive bus addresses


class LinkStatus(enum.Enum, shape=8):
    """How a request went. Nothing is written unless the status is ``OK``."""
    OK          = 0
    BAD_CRC     = 1  # the frame's CRC does not match its contents
    BAD_LENGTH  = 2  # a word count of 0 or more than AccelConfig.frame_words
    BAD_COMMAND = 3  # an unknown command
    TIMEOUT     = 4  # the frame stopped arriving: a byte was lost


#: What follows a request's sync byte, fields in the order they are sent.
RequestHeader = data.StructLayout({
    "sequence": 8,
    "command":  Command,
    "count":    16,         # words
    "address":  32,         # the first word's bus address
})

#: What follows an answer's sync byte, fields in the order they are sent.
AnswerHeader = data.StructLayout({
    "sequence": 8,          # the request's
    "status":   LinkStatus,
    "count":    16,         # the request's
})

REQUEST_HEADER_BYTES = RequestHeader.size // 8
ANSWER_HEADER_BYTES = AnswerHeader.size // 8


def header_bytes(header):
    """The bytes of a header constant (``RequestHeader.const({...})``) as they are sent: its
    layout's bits, least significant byte first."""
    return header.as_bits().to_bytes(header.shape().size // 8, "little")


def header_from_bytes(layout, frame):
    """The header constant of ``layout`` sent as the first bytes of ``frame``. Reading a
    field of an enum shape raises :exc:`ValueError` if the enum does not name its value."""
    return layout.from_bits(int.from_bytes(frame[:layout.size // 8], "little"))


class LinkDecoder(wiring.Component):
    """Executes requests from a byte stream on the accelerator's bus and answers them.

    Bytes outside a frame are ignored until a sync byte. A request's words are held in a
    buffer until its CRC has been checked, so a bad frame writes nothing. A frame that stops
    for ``timeout`` cycles is abandoned with ``TIMEOUT``. A ``WRITE`` whose sequence number
    equals that of the last frame executed is answered ``OK`` without writing again, so a
    retry after a lost answer does not repeat it (writes to the weight stream are not
    idempotent). A host therefore gives consecutive frames different numbers, repeats a
    frame with its own number, and starts a session with a ``READ``.

    ``rx`` is always ready. Bytes must arrive at least two cycles apart (a UART delivers one
    every ten bit times): the decoder checks a header and a CRC in the cycle after their last
    byte. Bytes that arrive while it executes or answers a request are dropped (the answer to
    a bad length or command starts while the rest of its frame arrives), so a host sends a
    frame once the one before has been answered. ``tx`` holds each answer byte until it is
    taken; the decoder waits for it.

    Members
    -------
    rx : ``In(stream.Signature(8))``
        Bytes from the host.
    tx : ``Out(stream.Signature(8))``
        Bytes to the host.
    bus : ``Out(BusSignature(cfg))``
        The accelerator's bus, driven by the decoder from registers (the accelerator sees
        each request a cycle after the decoder makes it).
    """
    def __init__(self, cfg, timeout):
        self.cfg = cfg
        self.timeout = timeout
        super().__init__({
            "rx":  In(stream.Signature(8)),
            "tx":  Out(stream.Signature(8)),
            "bus": Out(BusSignature(cfg)),
        })

    def elaborate(self, platform):
        m = Module()
        frame = self._frame(m)
        # Bus requests are registered: a request lasts one cycle unless renewed.
        m.d.sync += [self.bus.w_en.eq(0), self.bus.r_en.eq(0)]
        with m.FSM():
            self._request_states(m, frame)
            self._answer_states(m, frame)
        return m

    def _frame(self, m):
        """The state of the frame in hand, shared by the request's and the answer's states."""
        rx, tx = self.rx, self.tx
        f = SimpleNamespace()
        f.check = m.submodules.check = LINK_CRC.create()
        f.answer = m.submodules.answer = LINK_CRC.create()
        # Stored while a request comes in, loaded while it is carried out: never both.
        words = m.submodules.words = BlockMemory(shape=BUS_WIDTH, depth=self.cfg.frame_words)
        f.store = words.write_port()
        f.load = registered_read(m, words, name="load")

        f.header = header = Signal(RequestHeader)
        f.status = Signal(LinkStatus)
        f.reply = reply = Signal(AnswerHeader)
        m.d.comb += [reply.sequence.eq(header.sequence), reply.status.eq(f.status),
                     reply.count.eq(header.count)]
        f.index = Signal(range(4 * self.cfg.frame_words + 1))
        f.word = Signal(BUS_WIDTH)
        idle = Signal(range(self.timeout + 1))
        f.last_executed = Signal(9, init=0x100)     # no frame executed yet
        f.waited = Signal(range(BUS_READ_LATENCY + 1))

        # The answer's CRC takes each byte a cycle after it is sent, from a register; its own
        # bytes wait for the last update.
        f.sent_byte = Signal(8)
        f.sent = Signal()
        m.d.sync += f.sent.eq(0)
        m.d.comb += [rx.ready.eq(1), f.check.data.eq(rx.payload),
                     f.answer.data.eq(f.sent_byte), f.answer.valid.eq(f.sent)]
        f.byte = rx.valid
        with m.If(f.byte):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.timeout):
            m.d.sync += idle.eq(idle + 1)
        f.stalled = idle == self.timeout
        return f

    def _receive(self, m, f, length, then, *actions):
        """Take the next ``length`` bytes of a request into its CRC, doing ``actions`` with
        each, then go to ``then``; abandon the frame if it stalls."""
        with m.If(f.byte):
            m.d.comb += f.check.valid.eq(1)
            m.d.sync += [f.index.eq(f.index + 1), *actions]
            with m.If(f.index == length - 1):
                m.d.sync += f.index.eq(0)
                m.next = then
        with m.Elif(f.stalled):
            m.d.sync += f.status.eq(LinkStatus.TIMEOUT)
            m.next = "ANSWER"

    def _send(self, m, f, value, then, *, checked=True):
        """Offer one answer byte; once taken, add it to the answer's CRC and go on."""
        tx = self.tx
        ready = tx.ready if checked else tx.ready & ~f.sent
        m.d.comb += [tx.valid.eq(1 if checked else ~f.sent), tx.payload.eq(value)]
        with m.If(ready):
            m.d.sync += [f.sent.eq(checked), f.sent_byte.eq(value)]
            then()

    def _request_states(self, m, f):
        """Hunting for a request, taking it in, checking it and carrying out a write."""
        rx, bus, header, index = self.rx, self.bus, f.header, f.index
        with m.State("HUNT"):
            with m.If(f.byte & (rx.payload == REQUEST_SYNC)):
                m.d.comb += f.check.start.eq(1)
                m.d.sync += index.eq(0)
                m.next = "HEADER"

        with m.State("HEADER"):
            # Each byte enters at the top: the first sent ends in the lowest byte, where
            # header_bytes puts it.
            self._receive(m, f, REQUEST_HEADER_BYTES, "CHECK_HEADER",
                          header.eq(Cat(header.as_value()[8:], rx.payload)))

        with m.State("CHECK_HEADER"):
            with m.If((header.count == 0) | (header.count > self.cfg.frame_words)):
                m.d.sync += f.status.eq(LinkStatus.BAD_LENGTH)
                m.next = "ANSWER"
            with m.Elif(header.command == Command.WRITE):
                m.next = "PAYLOAD"
            with m.Elif(header.command == Command.READ):
                m.next = "CRC"
            with m.Else():
                m.d.sync += f.status.eq(LinkStatus.BAD_COMMAND)
                m.next = "ANSWER"

        with m.State("PAYLOAD"):
            m.d.comb += [f.store.addr.eq(index[2:]),
                         f.store.data.eq(Cat(f.word[8:], rx.payload)),
                         f.store.en.eq(f.byte & (index[:2] == 3))]
            self._receive(m, f, header.count * 4, "CRC", f.word.eq(Cat(f.word[8:], rx.payload)))

        with m.State("CRC"):
            self._receive(m, f, CRC_BYTES, "CHECK_CRC")

        with m.State("CHECK_CRC"):
            with m.If(~f.check.match_detected):
                m.d.sync += f.status.eq(LinkStatus.BAD_CRC)
                m.next = "ANSWER"
            with m.Else():
                m.d.sync += [f.status.eq(LinkStatus.OK), f.last_executed.eq(header.sequence)]
                with m.If(header.command == Command.READ):
                    m.next = "ANSWER"
                with m.Elif(f.last_executed == header.sequence):
                    m.next = "ANSWER"
                with m.Else():
                    m.next = "WRITE"

        with m.State("WRITE"):
            # The buffer's read port has a latency of one cycle: word i is read while
            # word i - 1 is registered onto the bus.
            m.d.comb += f.load.addr.eq(index)
            m.d.sync += [bus.addr.eq(header.address + index - 1), bus.w_data.eq(f.load.data),
                         bus.w_en.eq(index != 0)]
            m.d.sync += index.eq(index + 1)
            with m.If(index == header.count):
                m.d.sync += index.eq(0)
                m.next = "ANSWER"

    def _answer_states(self, m, f):
        """Answering: the sync byte, the header, a read's words from the bus, the CRC."""
        tx, bus, header, index, status = self.tx, self.bus, f.header, f.index, f.status
        with m.State("ANSWER"):
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(ANSWER_SYNC), f.answer.start.eq(1)]
            with m.If(tx.ready):
                m.d.sync += index.eq(0)    # an abandoned frame leaves it anywhere
                m.next = "ANSWER_HEADER"

        with m.State("ANSWER_HEADER"):
            def next_header():
                m.d.sync += index.eq(index + 1)
                with m.If(index == ANSWER_HEADER_BYTES - 1):
                    m.d.sync += index.eq(0)
                    with m.If((status == LinkStatus.OK) & (header.command == Command.READ)):
                        m.next = "READ"
                    with m.Else():
                        m.next = "ANSWER_CRC"
            self._send(m, f,
                       f.reply.as_value().word_select(index[:ceil_log2(ANSWER_HEADER_BYTES)], 8),
                       next_header)

        with m.State("READ"):
            m.d.sync += [bus.addr.eq(header.address + index[2:]), bus.r_en.eq(1),
                         f.waited.eq(0)]
            m.next = "READ_WAIT"

        with m.State("READ_WAIT"):
            # The request reaches the bus a cycle after it is made.
            m.d.sync += f.waited.eq(f.waited + 1)
            with m.If(f.waited == BUS_READ_LATENCY - 1):
                m.next = "READ_DATA"

        with m.State("READ_DATA"):
            m.d.sync += f.word.eq(bus.r_data)
            m.next = "ANSWER_DATA"

        with m.State("ANSWER_DATA"):
            def next_byte():
                m.d.sync += index.eq(index + 1)
                with m.If(index == header.count * 4 - 1):
                    m.d.sync += index.eq(0)
                    m.next = "ANSWER_CRC"
                with m.Elif(index[:2] == 3):
                    m.next = "READ"
            self._send(m, f, f.word.word_select(index[:2], 8), next_byte)

        with m.State("ANSWER_CRC"):
            def next_crc():
                m.d.sync += index.eq(index + 1)
                with m.If(index == CRC_BYTES - 1):
                    m.d.sync += index.eq(0)
                    m.next = "HUNT"
            # Most significant byte first.
            self._send(m, f, f.answer.crc.word_select(~index[:2], 8), next_crc, checked=False)
