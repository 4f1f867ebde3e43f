"""The byte-addressed host buses in the generated Verilog, driven by the PyPI bus models:
the Wishbone B4 pipelined slave by cocotbext-wishbone's master with random idle cycles, the
AXI4-Lite slave by cocotbext-axi's AxiLiteMaster with random pauses on every channel. Layers
in every format and a resident network through the host's protocols, bit for bit against the
golden model; the interrupt; partial writes."""

import numpy as np
import pytest

from hw.bus import Status
from hw.config import AccelConfig
from host.cycles import predict_run
from host.golden import golden_matvec
from host.resident import place_network, predict_network
from sim_tb.accel_runs import partial_write, run_layers, run_network_batch, small_network
from sim_tb.test_accel import edge_layer, random_layer, structured_layer


CFG = AccelConfig(pes=4, max_k=128, max_m=64, weight_depth=256, max_group_width=16,
                  pattern_depth=64, act_depth=512, max_layers=4, param_depth=128,
                  result_depth=64)
BUSES = pytest.mark.parametrize("bus", ["wishbone", "axi-lite"])


@BUSES
def test_layers_run_bit_exact_and_raise_the_interrupt(bus):
    rng = np.random.default_rng(11)
    layers = [random_layer(rng, (13, 37), 0.6, CFG), edge_layer(4, rng, CFG),
              structured_layer(rng, "2:4", (9, 30), CFG),
              structured_layer(rng, "tile:4", (8, 40), CFG, sparsity=0.5)]
    runs = run_layers(CFG, layers, bus=bus, seed=4, irq=True)
    for (q, x, _), run in zip(layers, runs):
        assert run.status == Status.DONE.value
        np.testing.assert_array_equal(run.outputs, golden_matvec(q, x, CFG.acc_width))
        assert run.counters == predict_run(CFG, run.layer, x)
        assert run.irq == (1, 0, 0)


@BUSES
def test_a_partial_write_is_refused_and_changes_nothing(bus):
    assert partial_write(CFG, bus) == (1, 5)


@BUSES
def test_a_resident_network_runs_a_batch_bit_exact(bus):
    network = small_network(seed=5)
    placement = place_network(CFG, network)
    xq = np.random.default_rng(6).integers(-127, 128, (3, 12))
    expected = network.golden_int(xq)
    outputs, counters, irq = run_network_batch(CFG, 5, xq, bus=bus, seed=7)
    np.testing.assert_array_equal(outputs, expected[-1].outputs)
    inputs = [xq] + [result.outputs for result in expected[:-1]]
    assert counters == predict_network(placement, inputs)
    assert irq == 1
