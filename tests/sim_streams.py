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
