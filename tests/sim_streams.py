"""Amaranth-simulator helpers: feed and drain streams with random stalls on both sides, and
a bus port on a simulated engine.

``VCD=DIR`` writes every simulation these helpers run to a VCD file in ``DIR``, named after
the test (``test_file.py-test_name[params].vcd``; ``-1``, ``-2``... for a test's later
simulations), with every signal of the design under test:
``VCD=/tmp/vcd pytest tests/test_pe.py -k 'test_name'``.
"""

import contextlib
import os
import queue
import random
import re
import threading
from pathlib import Path

import numpy as np

from amaranth.sim import Simulator

from hw.axil import Response
from hw.bus import BUS_READ_LATENCY, BYTES_PER_WORD


def run_stream(dut, payloads, *, pause=0.3, seed=0, setup=None):
    """Send ``payloads`` into ``dut.i`` and collect as many from ``dut.o``; both sides pause
    at random (:func:`feed`, :func:`take`). ``setup`` is an async function run first with
    the simulator context."""
    received = []

    async def source(ctx):
        if setup is not None:
            await setup(ctx)
        await feed(ctx, dut.i, payloads, pause=pause, seed=seed)

    async def sink(ctx):
        received.extend(await take(ctx, dut.o, len(payloads), pause=pause, seed=seed + 1))

    simulate(dut, source, sink)
    return received


class BusError(RuntimeError):
    """A byte-addressed bus answered a request with an error (Wishbone ``err``, AXI
    ``SLVERR``)."""


class SimulatorPort:
    """A bus port (:class:`host.protocol.BusPort`) on an Amaranth simulation of an engine,
    ``dut``, whose ``bus`` is a :class:`hw.bus.BusSignature`.

    The simulation runs in a thread of its own and advances only while a call is served: a
    write of one word takes a cycle, a read's answer is taken :data:`BUS_READ_LATENCY`
    cycles after its request. ``cycles`` counts the cycles simulated. Use it as a context
    manager, or :meth:`close` it.
    """
    def __init__(self, dut):
        self.dut = dut
        self.cycles = 0
        self._requests = queue.Queue()
        self._answers = queue.Queue()
        sim = Simulator(dut)
        sim.add_clock(1e-8)
        sim.add_testbench(self._serve)
        self._failure = None
        self._thread = threading.Thread(target=self._simulate, args=(sim, dut), daemon=True)
        self._thread.start()

    def _simulate(self, sim, dut):
        try:
            with vcd(sim, dut):
                sim.run()
        except BaseException as error:
            self._failure = error
            self._answers.put((None, error))

    async def _serve(self, ctx):
        while (request := self._requests.get()) is not None:
            method, args = request
            try:
                self._answers.put((await method(ctx, *args), None))
            except BusError as error:       # the bus answered; the simulation goes on
                self._answers.put((None, error))
            except BaseException as error:
                self._answers.put((None, error))
                return

    def _call(self, method, *args):
        if self._failure is not None or not self._thread.is_alive():
            raise RuntimeError("The simulation has stopped") from self._failure
        self._requests.put((method, args))
        result, error = self._answers.get()
        if error is not None:
            raise error
        return result

    async def _write(self, ctx, addresses, words):
        bus = self.dut.bus
        for addr, data in zip(addresses, words):
            ctx.set(bus.addr, int(addr))
            ctx.set(bus.w_data, int(data))
            ctx.set(bus.w_en, 1)
            await ctx.tick()
            self.cycles += 1
        ctx.set(bus.w_en, 0)

    async def _read(self, ctx, address, count):
        bus = self.dut.bus
        words = []
        for addr in range(address, address + count):
            ctx.set(bus.addr, addr)
            ctx.set(bus.r_en, 1)
            await ctx.tick()
            ctx.set(bus.r_en, 0)
            await ctx.tick().repeat(BUS_READ_LATENCY - 1)
            self.cycles += BUS_READ_LATENCY
            words.append(ctx.get(bus.r_data))
        return np.array(words, dtype=np.uint32)

    def write(self, addresses, words):
        self._call(self._write, np.asarray(addresses).tolist(), np.asarray(words).tolist())

    def read(self, address, count):
        return self._call(self._read, int(address), int(count))

    def get(self, signal):
        """The value of ``signal`` now."""
        return self._call(self._get, signal)

    async def _get(self, ctx, signal):
        return ctx.get(signal)

    def close(self):
        """End the simulation."""
        if self._thread.is_alive():
            self._requests.put(None)
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class WishboneSimulatorPort(SimulatorPort):
    """A bus port on an Amaranth simulation of :class:`hw.wishbone.WishboneAccelerator`: a
    Wishbone B4 pipelined master that keeps requests in flight, holds ``stb`` low before a
    request with probability ``pause`` per cycle, and waits for every answer before it ends
    the cycle. Word address ``a`` is byte address ``4 * a``; ``sel`` is the byte select of
    writes. An ``err`` answer raises :class:`BusError`."""
    def __init__(self, dut, *, pause=0.3, seed=0, sel=0b1111):
        self.rng = random.Random(seed)
        self.pause = pause
        self.sel = sel
        super().__init__(dut)

    async def _cycle(self, ctx, requests):
        dut = self.dut
        ctx.set(dut.wb_cyc, 1)
        pending, answers = list(requests), []
        while len(answers) < len(requests):
            offer = bool(pending) and self.rng.random() >= self.pause
            if offer:
                addr, data = pending[0]
                ctx.set(dut.wb_adr, addr * BYTES_PER_WORD)
                ctx.set(dut.wb_we, data is not None)
                ctx.set(dut.wb_dat_w, data or 0)
                ctx.set(dut.wb_sel, self.sel)
            ctx.set(dut.wb_stb, offer)
            _, _, stall, ack, err, data = await ctx.tick().sample(
                dut.wb_stall, dut.wb_ack, dut.wb_err, dut.wb_dat_r)
            self.cycles += 1
            if offer and not stall:
                pending.pop(0)
            if ack or err:
                answers.append((err, data))
        ctx.set(dut.wb_stb, 0)
        ctx.set(dut.wb_cyc, 0)
        if any(err for err, _ in answers):
            raise BusError(f"Wishbone err on {sum(err for err, _ in answers)} requests")
        return np.array([data for _, data in answers], dtype=np.uint32)

    async def _write(self, ctx, addresses, words):
        await self._cycle(ctx, list(zip(addresses, words)))

    async def _read(self, ctx, address, count):
        return await self._cycle(ctx, [(addr, None) for addr in range(address,
                                                                         address + count)])


class AxiLiteSimulatorPort(SimulatorPort):
    """A bus port on an Amaranth simulation of :class:`hw.axil.AxiLiteAccelerator`: an
    AXI4-Lite master of one transaction at a time whose ``valid`` and ``ready`` outputs each
    stay low in a cycle with probability ``pause``. Word address ``a`` is byte address
    ``4 * a``; ``strb`` is the write strobe. A ``SLVERR`` raises :class:`BusError`."""
    def __init__(self, dut, *, pause=0.3, seed=0, strb=0b1111):
        self.rng = random.Random(seed)
        self.pause = pause
        self.strb = strb
        super().__init__(dut)

    def _go(self):
        return int(self.rng.random() >= self.pause)

    async def _handshakes(self, ctx, channels):
        """Drive ``[(valid, ready), ...]`` until each pair has had its handshake: each
        ``valid`` rises after a random wait and stays high until its handshake, as AXI
        requires."""
        waiting = list(channels)
        raised = [False] * len(waiting)
        while waiting:
            for number, (valid, _) in enumerate(waiting):
                if not raised[number] and self._go():
                    raised[number] = True
                    ctx.set(valid, 1)
            _, _, *readies = await ctx.tick().sample(*(ready for _, ready in waiting))
            self.cycles += 1
            done = [raised[number] and ready for number, ready in enumerate(readies)]
            for (valid, _), taken in zip(waiting, done):
                if taken:
                    ctx.set(valid, 0)
            waiting = [pair for pair, taken in zip(waiting, done) if not taken]
            raised = [up for up, taken in zip(raised, done) if not taken]

    async def _response(self, ctx, valid, ready, *values):
        """Take one response: ``ready`` high at random until ``valid``; returns ``values``."""
        while True:
            go = self._go()
            ctx.set(ready, go)
            _, _, is_valid, *sampled = await ctx.tick().sample(valid, *values)
            self.cycles += 1
            if go and is_valid:
                ctx.set(ready, 0)
                return sampled

    async def _write(self, ctx, addresses, words):
        dut = self.dut
        for addr, data in zip(addresses, words):
            ctx.set(dut.s_axil_awaddr, addr * BYTES_PER_WORD)
            ctx.set(dut.s_axil_wdata, data)
            ctx.set(dut.s_axil_wstrb, self.strb)
            await self._handshakes(ctx, [(dut.s_axil_awvalid, dut.s_axil_awready),
                                         (dut.s_axil_wvalid, dut.s_axil_wready)])
            resp, = await self._response(ctx, dut.s_axil_bvalid, dut.s_axil_bready,
                                         dut.s_axil_bresp)
            if resp != Response.OKAY:
                raise BusError(f"AXI write to word {addr:#x} answered {resp}")

    async def _read(self, ctx, address, count):
        dut = self.dut
        words = []
        for addr in range(address, address + count):
            ctx.set(dut.s_axil_araddr, addr * BYTES_PER_WORD)
            await self._handshakes(ctx, [(dut.s_axil_arvalid, dut.s_axil_arready)])
            data, resp = await self._response(ctx, dut.s_axil_rvalid, dut.s_axil_rready,
                                              dut.s_axil_rdata, dut.s_axil_rresp)
            if resp != Response.OKAY:
                raise BusError(f"AXI read of word {addr:#x} answered {resp}")
            words.append(data)
        return np.array(words, dtype=np.uint32)


def simulate(dut, *testbenches, background=()):
    """Run the async ``testbenches`` (functions of the simulator context) on ``dut`` until
    they have all returned, with the ``background`` ones beside them."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for testbench in background:
        sim.add_testbench(testbench, background=True)
    with vcd(sim, dut):
        sim.run()


def vcd(sim, dut):
    """``sim.write_vcd`` to a file in ``$VCD`` named after the running test (or ``dut``'s
    class), when ``VCD`` is set; otherwise a context that does nothing."""
    folder = os.environ.get("VCD")
    if not folder:
        return contextlib.nullcontext()
    test = os.environ.get("PYTEST_CURRENT_TEST", type(dut).__name__).rsplit(" ", 1)[0]
    stem = re.sub(r"[^\w.\[\]=-]+", "-", test.split("/")[-1].replace("::", "-"))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, index = folder / f"{stem}.vcd", 0
    while path.exists():
        index += 1
        path = folder / f"{stem}-{index}.vcd"
    return sim.write_vcd(str(path))


def pause_cycles(rng, pause, longest):
    """The length of a random pause: one more cycle with probability ``pause`` each time, at
    most ``longest``."""
    cycles = 0
    while cycles < longest and rng.random() < pause:
        cycles += 1
    return cycles


async def put(ctx, port, payload, *, wait=0):
    """Offer ``payload`` on the stream ``port`` after ``wait`` idle cycles and hold it until
    it is taken; returns in the cycle after the transfer."""
    for _ in range(wait):
        await ctx.tick()
    ctx.set(port.payload, payload)
    ctx.set(port.valid, 1)
    await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def drain(ctx, port, received, *, pause=0.3, seed=0, offers=None):
    """Take payloads from the stream ``port`` into ``received`` for ever, ``ready`` low in each
    cycle with probability ``pause`` (a background testbench). ``offers``, if given, collects
    ``(payload, ready)`` for every cycle in which ``valid`` is high."""
    rng = random.Random(seed)
    while True:
        ctx.set(port.ready, int(rng.random() >= pause))
        _, _, valid, ready, payload = await ctx.tick().sample(
            port.valid, port.ready, port.payload)
        if valid:
            if offers is not None:
                offers.append((payload, ready))
            if ready:
                received.append(payload)


async def feed(ctx, port, payloads, *, pause=0.3, seed=0, longest=8):
    """Offer ``payloads`` on the stream ``port`` in order, each after a random pause
    (:func:`pause_cycles`); returns in the cycle after the last transfer."""
    rng = random.Random(seed)
    for payload in payloads:
        await put(ctx, port, payload, wait=pause_cycles(rng, pause, longest))


async def take(ctx, port, count, *, pause=0.3, seed=1, also=()):
    """Take ``count`` payloads from the stream ``port``, ``ready`` low in each cycle with
    probability ``pause``, and return them; with signals in ``also``, each is a tuple of the
    payload and the signals' values in the cycle of its transfer. Leaves ``ready`` low."""
    rng = random.Random(seed)
    received = []
    while len(received) < count:
        ctx.set(port.ready, int(rng.random() >= pause))
        _, _, valid, ready, payload, *values = await ctx.tick().sample(
            port.valid, port.ready, port.payload, *also)
        if valid and ready:
            received.append((payload, *values) if also else payload)
    ctx.set(port.ready, 0)
    return received


def latency(dut, offer, withdraw, arrived, *, setup=None, limit=64):
    """Cycles from the one whose inputs ``offer(ctx)`` drives to the first in which
    ``arrived(ctx)`` is true, or ``None`` after ``limit``; ``withdraw(ctx)`` runs once that
    first cycle is over, and ``setup``, an async function of the context, before it all."""
    cycles = []

    async def testbench(ctx):
        if setup is not None:
            await setup(ctx)
        offer(ctx)
        for cycle in range(limit):
            if arrived(ctx):
                cycles.append(cycle)
                return
            await ctx.tick()
            if cycle == 0:
                withdraw(ctx)

    simulate(dut, testbench)
    return cycles[0] if cycles else None


def stream_latency(dut, payload, *, setup=None, limit=64):
    """Cycles from ``payload`` offered on ``dut.i`` for one cycle, in which it is taken, to
    the first in which ``dut.o`` is valid, ``o.ready`` high throughout (no stalls)."""
    def offer(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.payload, payload)
        ctx.set(dut.i.valid, 1)
        if not ctx.get(dut.i.ready):
            raise AssertionError("The block does not take its first payload at once")

    return latency(dut, offer, lambda ctx: ctx.set(dut.i.valid, 0),
                   lambda ctx: ctx.get(dut.o.valid), setup=setup, limit=limit)


def words_value(words):
    """The value of a memory entry of bus words, the first the least significant."""
    return int.from_bytes(np.asarray(words, dtype="<u4").tobytes(), "little")
