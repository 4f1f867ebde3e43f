"""Top-level bench: load layers over the bus and run each through the host's run protocol
(:mod:`host.protocol`), the code the driver runs, on a :class:`~sim_tb.streams.BusPort`.

Several runs in one bench exercise back-to-back layers on an accelerator that is never reset.
"""

import dataclasses
import json
import time

import cocotb
import numpy as np
from cocotb.task import bridge
from cocotb.utils import get_sim_time

from hw.config import AccelConfig
from host.encode import encode
from host.protocol import check_identity, load_layer, run_input
from sim_tb.runner import load_stimulus, save_response
from sim_tb.streams import CLOCK_NS, Bus, BusPort, start_clock


def run_all(port, cfg, stimulus):
    """The runs of ``stimulus``, in a bridge thread: blocking calls on ``port``."""
    check_identity(port, cfg, cfg.config_hash)
    response = {}
    for run in range(int(stimulus["runs"])):
        started, sim_started = time.perf_counter(), get_sim_time("ns")
        layer = encode(stimulus[f"q{run}"], cfg, str(stimulus[f"pattern{run}"]))
        load_layer(port, cfg, layer)
        result = run_input(port, cfg, layer, stimulus[f"x{run}"], check=False)
        response[f"status{run}"] = np.array(result.status)
        response[f"sums{run}"] = result.sums
        response[f"counters{run}"] = np.array(dataclasses.astuple(result.counters))
        response[f"sim_cycles{run}"] = np.array((get_sim_time("ns") - sim_started) // CLOCK_NS)
        response[f"wall_seconds{run}"] = np.array(time.perf_counter() - started)
    return response


@cocotb.test()
async def run_layers(dut):
    stimulus = load_stimulus()
    cfg = AccelConfig(**json.loads(str(stimulus["config"])))
    await start_clock(dut)
    response = await bridge(run_all)(BusPort(Bus(dut)), cfg, stimulus)
    save_response(**response)
