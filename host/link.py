"""The host side of the link: frames, retries, and the simulated board's process."""

import collections
import json
import random
import re
import subprocess
import time

import numpy as np

from hw.config import AccelConfig
from hw.link import (ANSWER_HEADER_BYTES, ANSWER_SYNC, CRC_BYTES, LINK_CRC,
                     REQUEST_HEADER_BYTES, REQUEST_SYNC, AnswerHeader, Command, LinkStatus, RequestHeader, header_bytes,
                     header_from_bytes)


__all__ = ["CountingLink", "LinkError", "Link", "frame_bytes", "frame_overhead",
           "FaultyPort", "SimulatedBoard"]


def frame_overhead(read_words):
    """Bytes of a read of ``read_words`` words, request and answer: what a status poll costs
    with 1."""
    request = 1 + REQUEST_HEADER_BYTES + CRC_BYTES
    return request + 1 + ANSWER_HEADER_BYTES + 4 * read_words + CRC_BYTES


class LinkError(IOError):
    """The board did not answer a request correctly, even after retries."""


def frame_bytes(sync, header, words=()):
    """The bytes of one frame: ``sync``, ``header`` (a :data:`~hw.link.RequestHeader` or
    :data:`~hw.link.AnswerHeader` constant), the words, least significant byte first, and
    the CRC, most significant byte first."""
    body = header_bytes(header) + np.asarray(words, dtype="<u4").tobytes()
    return bytes([sync]) + body + LINK_CRC.compute(body).to_bytes(CRC_BYTES, "big")


class Link:
    """Reads and writes the accelerator's bus through a byte stream (a pyserial port).

    Every request is retried, with its sequence number, up to ``retries`` times when its
    answer is missing, corrupted, or reports an error; then :class:`LinkError` is raised.
    Answers to other requests and bytes outside an answer are skipped. A session must start
    with a read (see :class:`hw.link.LinkDecoder`).

    Transfers longer than ``frame_words`` (the board's ``AccelConfig.frame_words``, from its
    manifest) are split into frames of that many words.

    Attributes
    ----------
    bytes_sent, bytes_received, retries_made : int
    """
    def __init__(self, port, *, frame_words, timeout=2.0, retries=4):
        if isinstance(frame_words, bool) or not isinstance(frame_words, int):
            raise TypeError(f"frame_words must be an integer, not {frame_words!r}")
        if frame_words < 1:
            raise ValueError(f"frame_words must be at least 1, not {frame_words}")
        self.port = port
        self.frame_words = frame_words
        self.timeout = timeout
        self.retries = retries
        self.sequence = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.retries_made = 0
        self.transactions = 0

    def write(self, addresses, words):
        """Write words to bus addresses; runs of consecutive addresses share frames."""
        addresses = np.asarray(addresses, dtype=np.int64)
        words = np.asarray(words, dtype=np.uint32)
        if len(addresses) == 0:
            return
        breaks = np.flatnonzero(np.diff(addresses) != 1) + 1
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(addresses)]):
            for first in range(start, stop, self.frame_words):
                last = min(first + self.frame_words, stop)
                self._transact(Command.WRITE, int(addresses[first]), last - first,
                               words[first:last])

    def read(self, address, count):
        """Read ``count`` words from consecutive bus addresses."""
        out = []
        for first in range(0, count, self.frame_words):
            n = min(self.frame_words, count - first)
            out.append(self._transact(Command.READ, address + first, n))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.uint32)

    def _transact(self, command, address, count, words=()):
        self.transactions += 1
        # One sequence number for all attempts: the board answers a repeated WRITE it has
        # just executed without executing it again.
        self.sequence = (self.sequence + 1) & 0xFF
        header = RequestHeader.const({"sequence": self.sequence, "command": command,
                                      "count": count, "address": address})
        frame = frame_bytes(REQUEST_SYNC, header, words)
        problems = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.retries_made += 1
            try:
                self.port.reset_input_buffer()
                self.port.write(frame)
                self.bytes_sent += len(frame)
                status, payload = self._answer(self.sequence, command, count)
            except (OSError, EOFError) as error:   # pyserial's SerialException is an OSError
                raise LinkError(f"The link failed during a {command.name}: {error}") from error
            if status == LinkStatus.OK:
                return payload
            problems.append("no answer" if status is None else status.name)
        raise LinkError(f"{command.name} of {count} words at {address:#x} failed "
                        f"{self.retries + 1} times: {', '.join(problems)}")

    def _answer(self, sequence, command, count):
        """The status and words of the answer to ``sequence``; ``(None, None)`` when it does
        not come in time or comes corrupted."""
        deadline = time.monotonic() + self.timeout
        buffer = bytearray()
        while time.monotonic() < deadline:
            chunk = self.port.read(max(1, self.port.in_waiting))
            if not chunk:
                continue
            self.bytes_received += len(chunk)
            buffer += chunk
            while True:
                start = buffer.find(ANSWER_SYNC)
                if start < 0:
                    buffer.clear()
                    break
                del buffer[:start]
                if len(buffer) < 1 + ANSWER_HEADER_BYTES:
                    break
                header = header_from_bytes(AnswerHeader, buffer[1:])
                try:
                    status = header.status
                except ValueError:
                    del buffer[0]
                    continue
                with_data = status == LinkStatus.OK and command == Command.READ
                data_bytes = 4 * header.count if with_data else 0
                size = 1 + ANSWER_HEADER_BYTES + data_bytes + CRC_BYTES
                if with_data and header.count != count:
                    del buffer[0]
                    continue
                if len(buffer) < size:
                    break
                frame = bytes(buffer[:size])
                if LINK_CRC.compute(frame[1:]) != LINK_CRC.residue():
                    if header.sequence == sequence:
                        return None, None          # our answer, damaged: ask again now
                    del buffer[0]
                    continue
                if header.sequence != sequence:
                    del buffer[:size]
                    continue
                payload = frame[1 + ANSWER_HEADER_BYTES:][:data_bytes]
                return status, np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        return None, None


class CountingLink(Link):
    """A :class:`Link` to no board: counts the frames and bytes that requests and their
    answers would take, and answers every read with words of all ones (a status that reads
    as done at the first poll): what a run would cost on a link, without a board."""
    def __init__(self, frame_words):
        super().__init__(port=None, frame_words=frame_words)

    def _transact(self, command, address, count, words=()):
        self.transactions += 1
        self.bytes_sent += 1 + REQUEST_HEADER_BYTES + 4 * len(words) + CRC_BYTES
        data = 4 * count if command == Command.READ else 0
        self.bytes_received += 1 + ANSWER_HEADER_BYTES + data + CRC_BYTES
        return np.full(count, 0xFFFFFFFF, dtype=np.uint32) if command == Command.READ else None


class FaultyPort:
    """A serial port (``port``) that corrupts the bytes crossing it, for tests and the soak:
    flipped bits, dropped, duplicated and inserted bytes. A request frame is hit with
    probability ``request_rate``; each byte of an answer with ``answer_rate`` (answers
    arrive in pieces of any size). ``faults`` counts them by ``(where, kind)``."""
    KINDS = ("flip", "drop", "duplicate", "garbage")

    def __init__(self, port, seed, request_rate, answer_rate):
        self.port = port
        self.random = random.Random(seed)
        self.rates = {"request": request_rate, "answer": answer_rate}
        self.faults = collections.Counter()

    @property
    def in_waiting(self):
        return self.port.in_waiting

    def reset_input_buffer(self):
        self.port.reset_input_buffer()

    def write(self, data):
        self.port.write(self.corrupt(data, "request"))

    def read(self, size):
        return self.corrupt(self.port.read(size), "answer")

    def corrupt(self, data, where):
        rate = self.rates[where]
        hit = 1 - (1 - rate) ** len(data) if where == "answer" else rate
        if not data or self.random.random() >= hit:
            return data
        data = bytearray(data)
        kind = self.random.choice(self.KINDS)
        at = self.random.randrange(len(data))
        if kind == "flip":
            data[at] ^= 1 << self.random.randrange(8)
        elif kind == "drop":
            del data[at]
        elif kind == "duplicate":
            data.insert(at, data[at])
        else:
            data[at:at] = bytes(self.random.randrange(256) for _ in range(1, 6))
        self.faults[where, kind] += 1
        return bytes(data)


class SimulatedBoard:
    """A running simulated board process, built by :func:`gen.simboard.build_sim_board`.

    ``url`` is what pyserial opens: ``socket://127.0.0.1:PORT``. ``close`` stops it. With
    ``trace``, a file name, the board's signals are written to it every cycle (the board
    must have been built with ``trace``); the file is complete once the board is closed.
    """
    def __init__(self, folder, *, trace=None):
        self.manifest = json.loads((folder / "manifest.json").read_text())
        cfg = AccelConfig(**self.manifest["config"])
        self.process = subprocess.Popen(
            [str(folder / "sparse_board"), str(cfg.baud_divisor), "0",
             *([str(trace)] if trace is not None else [])],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        match = re.fullmatch(r"PORT (\d+)\s*", line)
        if not match:
            self.close()
            raise RuntimeError(f"The simulated board did not start: {line!r}")
        self.url = f"socket://127.0.0.1:{match[1]}"

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
