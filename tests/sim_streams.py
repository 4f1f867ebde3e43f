"""Amaranth-simulator helpers: feed and drain streams with random stalls on both sides, and
drive a host bus."""

import random

from amaranth.sim import Simulator

from hw.layouts import BUS_READ_LATENCY


def run_stream(dut, payloads, *, pause=0.3, seed=0, setup=None):
    """Send ``payloads`` into ``dut.i`` and collect as many from ``dut.o``; both sides pause
    at random. ``setup`` is an async function run first with the simulator context."""
    received = []
    rng = random.Random(seed)

    async def source(ctx):
        if setup is not None:
            await setup(ctx)
        for payload in payloads:
            while rng.random() < pause:
                await ctx.tick()
            ctx.set(dut.i.payload, payload)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        sink_rng = random.Random(seed + 1)
        while len(received) < len(payloads):
            ctx.set(dut.o.ready, int(sink_rng.random() >= pause))
            _, _, valid, ready, payload = await ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload)
            if valid and ready:
                received.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return received


def run_bus(dut, script):
    """Run ``await script(write, read)`` against ``dut.bus``: ``write(addr, data)`` takes a
    cycle, ``read(addr)`` returns the answer ``BUS_READ_LATENCY`` cycles after the request."""
    async def testbench(ctx):
        async def write(addr, data):
            ctx.set(dut.bus.addr, int(addr))
            ctx.set(dut.bus.w_data, int(data))
            ctx.set(dut.bus.w_en, 1)
            await ctx.tick()
            ctx.set(dut.bus.w_en, 0)

        async def read(addr):
            ctx.set(dut.bus.addr, int(addr))
            ctx.set(dut.bus.r_en, 1)
            await ctx.tick()
            ctx.set(dut.bus.r_en, 0)
            await ctx.tick().repeat(BUS_READ_LATENCY - 1)
            return ctx.get(dut.bus.r_data)

        await script(write, read)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()

def simulate(dut, *testbenches, background=()):
    """Run the async ``testbenches`` (functions of the simulator context) on ``dut`` until
    they have all returned, with the ``background`` ones beside them."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for testbench in background:
        sim.add_testbench(testbench, background=True)
    sim.run()


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
