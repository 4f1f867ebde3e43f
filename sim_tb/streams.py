"""cocotb helpers shared by the benches: clock, reset, streams with random stalls, the bus.

Every helper drives inputs just after the falling edge and samples in the read-only phase
before the rising edge, so combinational paths such as ``ready = ~valid | ready_out`` have
settled when a handshake is judged.
"""

import random

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import resume
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from hw.bus import BUS_READ_LATENCY


__all__ = ["CLOCK_NS", "start_clock", "StreamSource", "StreamSink", "Bus", "BusPort"]


#: Clock period of every bench, in nanoseconds.
CLOCK_NS = 10


async def start_clock(dut):
    """Start a 100 MHz clock on ``dut.clk`` and hold ``dut.rst`` for two cycles."""
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


class _StreamEnd:
    """The ``<name>__valid``, ``__payload`` and ``__ready`` ports of one stream, and a random
    pause with probability ``pause`` per cycle."""
    def __init__(self, dut, name, pause, seed):
        self.valid = getattr(dut, f"{name}__valid")
        self.payload = getattr(dut, f"{name}__payload")
        self.ready = getattr(dut, f"{name}__ready")
        self.clk = dut.clk
        self.pause = pause
        self.random = random.Random(seed)


class StreamSource(_StreamEnd):
    """Drives a stream with payloads, holding ``valid`` low at random while one waits."""
    def __init__(self, dut, name, *, pause=0.0, seed=0):
        super().__init__(dut, name, pause, seed)
        self.valid.value = 0

    async def send(self, payloads):
        payloads = list(payloads)
        while payloads:
            await FallingEdge(self.clk)
            if self.random.random() < self.pause:
                self.valid.value = 0
                continue
            self.valid.value = 1
            self.payload.value = payloads[0]
            await ReadOnly()
            if self.ready.value:
                payloads.pop(0)
        await FallingEdge(self.clk)
        self.valid.value = 0


class StreamSink(_StreamEnd):
    """Takes payloads from a stream, dropping ``ready`` at random."""
    def __init__(self, dut, name, *, pause=0.0, seed=1):
        super().__init__(dut, name, pause, seed)
        self.ready.value = 0

    async def receive(self, count):
        received = []
        while len(received) < count:
            await FallingEdge(self.clk)
            self.ready.value = int(self.random.random() >= self.pause)
            await ReadOnly()
            if self.ready.value and self.valid.value:
                received.append(int(self.payload.value))
        await FallingEdge(self.clk)
        self.ready.value = 0
        return received


class Bus:
    """The accelerator's host bus: one write per cycle, a read's data
    :data:`~hw.bus.BUS_READ_LATENCY` cycles after its request."""
    def __init__(self, dut):
        self.dut = dut
        self.clk = dut.clk
        for name in ("w_en", "r_en", "addr", "w_data"):
            getattr(dut, f"bus__{name}").value = 0

    async def write(self, addr, data):
        await FallingEdge(self.clk)
        self.dut.bus__addr.value = int(addr)
        self.dut.bus__w_data.value = int(data)
        self.dut.bus__w_en.value = 1
        await FallingEdge(self.clk)
        self.dut.bus__w_en.value = 0

    async def write_all(self, addresses, words):
        dut = self.dut
        for addr, data in zip(addresses, words):
            await FallingEdge(self.clk)
            dut.bus__addr.value = int(addr)
            dut.bus__w_data.value = int(data)
            dut.bus__w_en.value = 1
        await FallingEdge(self.clk)
        dut.bus__w_en.value = 0

    async def read(self, addr):
        await FallingEdge(self.clk)
        self.dut.bus__addr.value = int(addr)
        self.dut.bus__r_en.value = 1
        await FallingEdge(self.clk)
        self.dut.bus__r_en.value = 0
        for _ in range(BUS_READ_LATENCY - 1):
            await FallingEdge(self.clk)
        await ReadOnly()
        return int(self.dut.bus__r_data.value)


class BusPort:
    """A bus port (:class:`host.protocol.BusPort`) on a :class:`Bus`, for blocking code run
    in a bridge thread (``cocotb.task.bridge``): each call resumes the simulation until the
    bus has done it."""
    def __init__(self, bus):
        self.bus = bus

    def write(self, addresses, words):
        resume(self.bus.write_all)(np.asarray(addresses).tolist(), np.asarray(words).tolist())

    def read(self, address, count):
        return np.array(resume(self._read)(int(address), int(count)), dtype=np.uint32)

    async def _read(self, address, count):
        return [await self.bus.read(addr) for addr in range(address, address + count)]
