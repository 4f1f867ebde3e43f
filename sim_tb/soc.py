"""Bus ports (:class:`host.protocol.BusPort`) over third-party cocotb bus models: a Wishbone
master (cocotbext-wishbone) on :class:`hw.wishbone.WishboneAccelerator` and an AXI4-Lite
master (cocotbext-axi) on :class:`hw.axil.AxiLiteAccelerator`, each with random wait states.

Each port is for blocking code run in a bridge thread (``cocotb.task.bridge``), as
:class:`sim_tb.streams.BusPort` is: a call resumes the simulation until the bus has done it.
Word address ``a`` of the host's protocol is byte address ``4 * a`` on these buses.
"""

import logging
import random

import numpy as np
from cocotb.task import resume
from cocotb.triggers import ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp
from cocotbext.wishbone.driver import WBOp, WishboneMaster

from hw.bus import BYTES_PER_WORD
from sim_tb.streams import Bus, BusPort


__all__ = ["BusError", "WishbonePort", "AxiLitePort", "bus_port"]


class BusError(RuntimeError):
    """The bus answered a request with an error (Wishbone ``err``, AXI ``SLVERR``)."""


def _pauses(rng, pause):
    while True:
        yield rng.random() < pause


def _runs(addresses, words):
    """``(first address, words)`` of each run of consecutive addresses."""
    runs = []
    for addr, word in zip(addresses, words):
        if runs and addr == runs[-1][0] + len(runs[-1][1]):
            runs[-1][1].append(word)
        else:
            runs.append((addr, [word]))
    return runs


class _Port:
    def __init__(self, dut):
        self.dut = dut

    def peek(self, name):
        """The value of the top's port ``name`` now (in the read-only phase)."""
        return resume(self._peek)(name)

    async def _peek(self, name):
        await RisingEdge(self.dut.clk)
        await ReadOnly()
        return int(getattr(self.dut, name).value)


class WishbonePort(_Port):
    """A bus port over cocotbext-wishbone's :class:`WishboneMaster` on the ``wb_`` ports:
    each request waits a random 0 to ``idle`` cycles (``stb`` low) before it is offered.
    ``sel`` is the byte select of writes. An ``err`` answer raises :class:`BusError`."""
    def __init__(self, dut, *, seed=0, idle=3, sel=0b1111):
        super().__init__(dut)
        self.rng = random.Random(seed)
        self.idle = idle
        self.sel = sel
        self.master = WishboneMaster(dut, "wb", dut.clk, width=32, signals_dict={
            "cyc": "cyc", "stb": "stb", "we": "we", "adr": "adr", "datwr": "dat_w",
            "datrd": "dat_r", "ack": "ack"})
        self.master.log.setLevel(logging.WARNING)

    def _op(self, addr, data=None):
        return WBOp(adr=int(addr) * BYTES_PER_WORD, dat=data, idle=self.rng.randint(0, self.idle),
                    sel=self.sel)

    async def _cycle(self, ops):
        results = await self.master.send_cycle(ops)
        errors = [result.adr for result in results if result.ack != 1]
        if len(results) != len(ops) or errors:
            raise BusError(f"Wishbone answered {len(results)} of {len(ops)} requests, "
                           f"err at byte addresses {errors}")
        return [int(result.datrd) for result in results]

    def write(self, addresses, words):
        ops = [self._op(addr, int(word)) for addr, word in zip(np.asarray(addresses).tolist(),
                                                              np.asarray(words).tolist())]
        if ops:
            resume(self._cycle)(ops)

    def read(self, address, count):
        ops = [self._op(addr) for addr in range(int(address), int(address) + int(count))]
        return np.array(resume(self._cycle)(ops), dtype=np.uint32)

    def write_bytes(self, byte_address, data):
        """Write the bytes ``data`` from ``byte_address``, within one word: a write whose
        ``sel`` has a bit for each byte."""
        offset = byte_address % BYTES_PER_WORD
        sel = ((1 << len(data)) - 1) << offset
        word = int.from_bytes(bytes(offset) + bytes(data), "little")
        op = WBOp(adr=byte_address - offset, dat=word, sel=sel)
        resume(self._cycle)([op])


class AxiLitePort(_Port):
    """A bus port over cocotbext-axi's :class:`AxiLiteMaster` on the ``s_axil_`` ports, every
    channel paused at random with probability ``pause`` per cycle (``valid`` of AW, W and
    AR, ``ready`` of B and R). Writes of consecutive addresses go as one burst of
    transactions, all of them in flight at once. A ``SLVERR`` raises :class:`BusError`."""
    def __init__(self, dut, *, seed=0, pause=0.3):
        super().__init__(dut)
        rng = random.Random(seed)
        self.master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        for channel in (self.master.write_if.aw_channel, self.master.write_if.w_channel,
                        self.master.write_if.b_channel, self.master.read_if.ar_channel,
                        self.master.read_if.r_channel):
            channel.set_pause_generator(_pauses(rng, pause))
        for log in (self.master.write_if.log, self.master.read_if.log):
            log.setLevel(logging.WARNING)

    async def _write(self, runs):
        events = [self.master.init_write(addr * BYTES_PER_WORD,
                                         np.asarray(words, dtype="<u4").tobytes())
                  for addr, words in runs]
        for (addr, _), event in zip(runs, events):
            await event.wait()
            if event.data.resp != AxiResp.OKAY:
                raise BusError(f"AXI write to byte address {addr * BYTES_PER_WORD:#x} "
                               f"answered {event.data.resp.name}")

    async def _read(self, address, count):
        response = await self.master.read(address * BYTES_PER_WORD, count * BYTES_PER_WORD)
        if response.resp != AxiResp.OKAY:
            raise BusError(f"AXI read of byte address {address * BYTES_PER_WORD:#x} answered "
                           f"{response.resp.name}")
        return np.frombuffer(bytes(response.data), dtype="<u4").astype(np.uint32)

    def write(self, addresses, words):
        runs = _runs(np.asarray(addresses).tolist(), np.asarray(words).tolist())
        if runs:
            resume(self._write)(runs)

    def read(self, address, count):
        return resume(self._read)(int(address), int(count))

    def write_bytes(self, byte_address, data):
        """Write the bytes ``data`` from ``byte_address``: ``wstrb`` has a bit for each."""
        resume(self._write_bytes)(byte_address, bytes(data))

    async def _write_bytes(self, byte_address, data):
        response = await self.master.write(byte_address, data)
        if response.resp != AxiResp.OKAY:
            raise BusError(f"AXI write to byte address {byte_address:#x} answered "
                           f"{response.resp.name}")


class _NativePort(BusPort, _Port):
    def __init__(self, dut, **options):
        BusPort.__init__(self, Bus(dut))
        self.dut = dut


#: A bus port for the top of each host bus (:data:`hw.top.HOST_BUSES`), by name.
PORTS = {"native": _NativePort, "wishbone": WishbonePort, "axi-lite": AxiLitePort}


def bus_port(dut, bus, **options):
    """The bus port for the top of the host bus named ``bus``, with ``options`` (its
    constructor's keyword arguments)."""
    return PORTS[bus](dut, **options)
