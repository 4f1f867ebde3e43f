"""Top-level bench: load layers over the bus, run each, read the sums and counters back.

Several runs in one bench exercise back-to-back layers on an accelerator that is never reset.
"""

import time

import cocotb
import numpy as np
from cocotb.utils import get_sim_time

from sim_tb.runner import load_stimulus, save_response
from sim_tb.streams import CLOCK_NS, Bus, start_clock


@cocotb.test()
async def run_layers(dut):
    stimulus = load_stimulus()
    await start_clock(dut)
    bus = Bus(dut)
    response = {}
    for run in range(int(stimulus["runs"])):
        started, sim_started = time.perf_counter(), get_sim_time("ns")
        await bus.write_all(stimulus[f"addresses{run}"], stimulus[f"words{run}"])
        await bus.write(stimulus["control"], 1)
        status = 0
        while not status & int(stimulus["done_bit"]):
            status = await bus.read(stimulus["status"])
        response[f"status{run}"] = np.array(status)
        response[f"sums{run}"] = np.array(
            [await bus.read(addr) for addr in stimulus[f"outputs{run}"]], dtype=np.int64)
        response[f"counters{run}"] = np.array(
            [await bus.read(addr) for addr in stimulus["counters"]], dtype=np.int64)
        response[f"sim_cycles{run}"] = np.array((get_sim_time("ns") - sim_started) // CLOCK_NS)
        response[f"wall_seconds{run}"] = np.array(time.perf_counter() - started)
    save_response(**response)
