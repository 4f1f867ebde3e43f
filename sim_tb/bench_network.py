"""Bench of a resident network: place :func:`sim_tb.accel_runs.small_network` of the
stimulus's seed, load it and run a batch through the host's resident-network protocol
(:mod:`host.resident`) on the bus port of the top's host bus (:func:`sim_tb.soc.bus_port`),
with the interrupt enabled: ``irq`` is sampled after the run."""

import dataclasses
import json

import cocotb
import numpy as np
from cocotb.task import bridge

from hw.bus import Reg
from hw.config import AccelConfig
from host.bus import register_address
from host.protocol import check_identity
from host.resident import load_network, place_network, run_network
from sim_tb.accel_runs import small_network
from sim_tb.runner import load_stimulus, save_response
from sim_tb.soc import bus_port
from sim_tb.streams import start_clock


def run_all(port, cfg, stimulus):
    """Place and load the network of ``stimulus`` and run its batch, in a bridge thread."""
    placement = place_network(cfg, small_network(int(stimulus["network_seed"])))
    check_identity(port, cfg, cfg.config_hash)
    port.write([register_address(cfg, Reg.IRQ_ENABLE)], [1])
    load_network(port, placement)
    run = run_network(port, placement, stimulus["inputs"])
    return {"outputs": np.asarray(run.outputs),
            "counters": np.array([dataclasses.astuple(record) for record in run.counters]),
            "irq": np.array(port.peek("irq"))}


@cocotb.test()
async def run_batch(dut):
    stimulus = load_stimulus()
    cfg = AccelConfig(**json.loads(str(stimulus["config"])))
    await start_clock(dut)
    port = bus_port(dut, str(stimulus["bus"]), seed=int(stimulus["seed"]))
    save_response(**await bridge(run_all)(port, cfg, stimulus))
