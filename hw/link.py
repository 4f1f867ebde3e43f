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

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.crc.catalog import CRC32_MPEG_2
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .config import BUS_WIDTH
from .bus import BUS_READ_LATENCY, BusSignature
from .memory import BlockMemory, registered_read


__all__ = ["REQUEST_SYNC", "ANSWER_SYNC", "MAX_WORDS", "LINK_CRC", "CRC_BYTES", "Command",
           "LinkStatus", "RequestHeader", "AnswerHeader", "REQUEST_HEADER_BYTES",
           "ANSWER_HEADER_BYTES", "header_bytes", "header_from_bytes", "LinkDecoder"]


REQUEST_SYNC = 0x5A
ANSWER_SYNC = 0xA5
#: Most words one frame carries.
MAX_WORDS = 256
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
    BAD_LENGTH  = 2  # a word count of 0 or more than MAX_WORDS
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
        rx, tx, bus = self.rx, self.tx, self.bus

        check = m.submodules.check = LINK_CRC.create()
        answer = m.submodules.answer = LINK_CRC.create()
        # Stored while a request comes in, loaded while it is carried out: never both.
        words = m.submodules.words = BlockMemory(shape=BUS_WIDTH, depth=MAX_WORDS)
        store = words.write_port()
        load = registered_read(m, words, name="load")

        header = Signal(RequestHeader)
        status = Signal(LinkStatus)
        reply = Signal(AnswerHeader)
        m.d.comb += [reply.sequence.eq(header.sequence), reply.status.eq(status),
                     reply.count.eq(header.count)]
        index = Signal(range(4 * MAX_WORDS + 1))
        word = Signal(BUS_WIDTH)
        idle = Signal(range(self.timeout + 1))
        last_executed = Signal(9, init=0x100)     # no frame executed yet

        # The answer's CRC takes each byte a cycle after it is sent, from a register; its own
        # bytes wait for the last update.
        sent_byte = Signal(8)
        sent = Signal()
        m.d.sync += sent.eq(0)
        m.d.comb += [rx.ready.eq(1), check.data.eq(rx.payload),
                     answer.data.eq(sent_byte), answer.valid.eq(sent)]
        byte = rx.valid
        with m.If(byte):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.timeout):
            m.d.sync += idle.eq(idle + 1)
        stalled = idle == self.timeout

        def receive(length, then, *actions):
            """Take the next ``length`` bytes of a request into its CRC, doing ``actions`` with
            each, then go to ``then``; abandon the frame if it stalls."""
            with m.If(byte):
                m.d.comb += check.valid.eq(1)
                m.d.sync += [index.eq(index + 1), *actions]
                with m.If(index == length - 1):
                    m.d.sync += index.eq(0)
                    m.next = then
            with m.Elif(stalled):
                m.d.sync += status.eq(LinkStatus.TIMEOUT)
                m.next = "ANSWER"

        def send(value, then, *, checked=True):
            """Offer one answer byte; once taken, add it to the answer's CRC and go on."""
            ready = tx.ready if checked else tx.ready & ~sent
            m.d.comb += [tx.valid.eq(1 if checked else ~sent), tx.payload.eq(value)]
            with m.If(ready):
                m.d.sync += [sent.eq(checked), sent_byte.eq(value)]
                then()

        waited = Signal(range(BUS_READ_LATENCY + 1))
        # Bus requests are registered: a request lasts one cycle unless renewed.
        m.d.sync += [bus.w_en.eq(0), bus.r_en.eq(0)]
        with m.FSM():
            with m.State("HUNT"):
                with m.If(byte & (rx.payload == REQUEST_SYNC)):
                    m.d.comb += check.start.eq(1)
                    m.d.sync += index.eq(0)
                    m.next = "HEADER"

            with m.State("HEADER"):
                # Each byte enters at the top: the first sent ends in the lowest byte, where
                # header_bytes puts it.
                receive(REQUEST_HEADER_BYTES, "CHECK_HEADER",
                        header.eq(Cat(header.as_value()[8:], rx.payload)))

            with m.State("CHECK_HEADER"):
                with m.If((header.count == 0) | (header.count > MAX_WORDS)):
                    m.d.sync += status.eq(LinkStatus.BAD_LENGTH)
                    m.next = "ANSWER"
                with m.Elif(header.command == Command.WRITE):
                    m.next = "PAYLOAD"
                with m.Elif(header.command == Command.READ):
                    m.next = "CRC"
                with m.Else():
                    m.d.sync += status.eq(LinkStatus.BAD_COMMAND)
                    m.next = "ANSWER"

            with m.State("PAYLOAD"):
                m.d.comb += [store.addr.eq(index[2:]), store.data.eq(Cat(word[8:], rx.payload)),
                             store.en.eq(byte & (index[:2] == 3))]
                receive(header.count * 4, "CRC", word.eq(Cat(word[8:], rx.payload)))

            with m.State("CRC"):
                receive(CRC_BYTES, "CHECK_CRC")

            with m.State("CHECK_CRC"):
                with m.If(~check.match_detected):
                    m.d.sync += status.eq(LinkStatus.BAD_CRC)
                    m.next = "ANSWER"
                with m.Else():
                    m.d.sync += [status.eq(LinkStatus.OK), last_executed.eq(header.sequence)]
                    with m.If(header.command == Command.READ):
                        m.next = "ANSWER"
                    with m.Elif(last_executed == header.sequence):
                        m.next = "ANSWER"
                    with m.Else():
                        m.next = "WRITE"

            with m.State("WRITE"):
                # The buffer's read port has a latency of one cycle: word i is read while
                # word i - 1 is registered onto the bus.
                m.d.comb += load.addr.eq(index)
                m.d.sync += [bus.addr.eq(header.address + index - 1), bus.w_data.eq(load.data),
                             bus.w_en.eq(index != 0)]
                m.d.sync += index.eq(index + 1)
                with m.If(index == header.count):
                    m.d.sync += index.eq(0)
                    m.next = "ANSWER"

            with m.State("ANSWER"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(ANSWER_SYNC),
                             answer.start.eq(1)]
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
                send(reply.as_value().word_select(index[:ceil_log2(ANSWER_HEADER_BYTES)], 8),
                     next_header)

            with m.State("READ"):
                m.d.sync += [bus.addr.eq(header.address + index[2:]), bus.r_en.eq(1),
                             waited.eq(0)]
                m.next = "READ_WAIT"

            with m.State("READ_WAIT"):
                # The request reaches the bus a cycle after it is made.
                m.d.sync += waited.eq(waited + 1)
                with m.If(waited == BUS_READ_LATENCY - 1):
                    m.next = "READ_DATA"

            with m.State("READ_DATA"):
                m.d.sync += word.eq(bus.r_data)
                m.next = "ANSWER_DATA"

            with m.State("ANSWER_DATA"):
                def next_byte():
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == header.count * 4 - 1):
                        m.d.sync += index.eq(0)
                        m.next = "ANSWER_CRC"
                    with m.Elif(index[:2] == 3):
                        m.next = "READ"
                send(word.word_select(index[:2], 8), next_byte)

            with m.State("ANSWER_CRC"):
                def next_crc():
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == CRC_BYTES - 1):
                        m.d.sync += index.eq(0)
                        m.next = "HUNT"
                # Most significant byte first.
                send(answer.crc.word_select(~index[:2], 8), next_crc,
                     checked=False)
        return m
