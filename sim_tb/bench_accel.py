"""Top-level bench: load layers over the bus and run each through the host's run protocol
(:mod:`host.protocol`), the code the driver runs, on the bus port of the top's host bus
(:func:`sim_tb.soc.bus_port`).

Several runs in one bench exercise back-to-back layers on an accelerator that is never reset.
With ``irq`` in the stimulus the interrupt is enabled first, and after each run the ``irq``
port is sampled, then cleared and sampled again.
"""

import dataclasses
import json
import time

import cocotb
import numpy as np
from cocotb.task import bridge
from cocotb.utils import get_sim_time

from hw.bus import BYTES_PER_WORD, Reg
from hw.config import AccelConfig
from host.bus import register_address
from host.encode import encode
from host.protocol import check_identity, load_layer, run_input
from sim_tb.runner import load_stimulus, save_response
from sim_tb.soc import BusError, bus_port
from sim_tb.streams import CLOCK_NS, start_clock


def run_all(port, cfg, stimulus):
    """The runs of ``stimulus``, in a bridge thread: blocking calls on ``port``."""
    check_identity(port, cfg, cfg.config_hash)
    response = {}
    if int(stimulus.get("partial", 0)):
        response["partial"] = _partial_write(port, cfg)
    irq = bool(stimulus.get("irq", 0))
    if irq:
        port.write([register_address(cfg, Reg.IRQ_ENABLE)], [1])
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
        if irq:
            raised = port.peek("irq")
            port.write([register_address(cfg, Reg.IRQ_CLEAR)], [1])
            pending = int(port.read(register_address(cfg, Reg.IRQ_PENDING), 1)[0])
            response[f"irq{run}"] = np.array([raised, pending, port.peek("irq")])
    return response


def _partial_write(port, cfg):
    """Write 5 to ``N_ROWS``, then two bytes of 7 to it, which the bus must refuse; returns
    whether it did (1) and ``N_ROWS`` after it."""
    address = register_address(cfg, Reg.N_ROWS)
    port.write([address], [5])
    try:
        port.write_bytes(address * BYTES_PER_WORD, b"\x07\x00")
        refused = 0
    except BusError:
        refused = 1
    return np.array([refused, int(port.read(address, 1)[0])])


@cocotb.test()
async def run_layers(dut):
    stimulus = load_stimulus()
    cfg = AccelConfig(**json.loads(str(stimulus["config"])))
    await start_clock(dut)
    port = bus_port(dut, str(stimulus["bus"]), seed=int(stimulus["seed"]))
    response = await bridge(run_all)(port, cfg, stimulus)
    save_response(**response)
