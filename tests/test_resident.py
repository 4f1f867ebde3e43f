"""Resident networks on the Amaranth simulator: a batch through every format, bit-exact."""

import numpy as np
import pytest

from hw.accel import Accelerator
from hw.bus import Reg
from hw.config import AccelConfig
from host.bus import register_address
from host.encode import LayerTooBig
from host.network import Layer, Network
from host.resident import (load_network, network_cycles, place_network, predict_network,
                           run_network, write_layer_table)
from tests.sim_streams import SimulatorPort


CFG = AccelConfig(pes=8, max_k=64, max_m=64, weight_depth=256, max_group_width=8,
                  pattern_depth=64, act_depth=1024, max_layers=4, param_depth=256,
                  result_depth=64)


def make_network(patterns, shapes, seed):
    rng = np.random.default_rng(seed)
    layers = []
    activations = ["relu", "gelu", None, "tanh"]
    for index, ((m, k), pattern) in enumerate(zip(shapes, patterns)):
        weights = rng.normal(size=(m, k))
        name, sparsity = pattern
        layers.append(Layer(weights, rng.normal(size=m) * 0.1, pattern=name,
                            sparsity=sparsity,
                            activation=activations[index] if index + 1 < len(shapes) else None))
    network = Network(layers)
    network.calibrate(rng.normal(size=(32, shapes[0][1])))
    return network, rng


@pytest.mark.parametrize("patterns, shapes, batch, ports", [
    ([("unstructured", 0.5), ("2:4", None), ("dense", None)], [(20, 12), (9, 20), (6, 9)],
     3, 2),
    ([("bank:4", 0.5), ("tile:4", 0.5), ("unstructured", 0.7)], [(16, 16), (11, 16), (5, 11)],
     2, 1),
    ([("4:8", None), ("unstructured", 0.5)], [(13, 24), (7, 13)], 4, 4),
])
def test_a_batch_runs_bit_exact_through_the_network(patterns, shapes, batch, ports):
    import dataclasses
    cfg = dataclasses.replace(CFG, output_ports=ports)
    network, rng = make_network(patterns, shapes, seed=batch)
    placement = place_network(cfg, network)
    xq = rng.integers(-127, 128, (batch, shapes[0][1]))
    expected = network.golden_int(xq)
    with SimulatorPort(Accelerator(cfg)) as port:
        load_network(port, placement)
        run = run_network(port, placement, xq, timeout=60)
        assert np.array_equal(run.outputs, expected[-1].outputs)
        inputs = [xq] + [result.outputs for result in expected[:-1]]
        assert run.counters == predict_network(placement, inputs)
        total = int(port.read(register_address(cfg, Reg.NETWORK_CYCLES), 1)[0])
        assert total == network_cycles(run.counters)
        # The last layer's INT32 sums, kept in the accumulator's banks.
        write_layer_table(port, placement, layers=[len(shapes) - 1], keep_sums=True)
        sums = run_network(port, placement, xq, output="int32", timeout=60)
        assert np.array_equal(sums.outputs, expected[-1].sums)
        # A second batch on the loaded network, INT8 again.
        write_layer_table(port, placement, layers=[len(shapes) - 1])
        xq = rng.integers(-127, 128, (batch, shapes[0][1]))
        assert np.array_equal(run_network(port, placement, xq, timeout=60).outputs,
                              network.golden_int(xq)[-1].outputs)


def test_a_network_that_does_not_fit_is_refused():
    network, _ = make_network([("dense", None)] * 2, [(64, 64), (64, 64)], seed=1)
    small = AccelConfig(pes=8, max_k=64, max_m=64, weight_depth=64, act_depth=64)
    with pytest.raises(LayerTooBig, match="beats"):
        place_network(small, network)
