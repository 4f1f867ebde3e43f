"""The AXI4-Lite slave on the Amaranth simulator: the host's run protocol through it against
the golden model with random valid and ready on every channel, and partial writes refused."""

import numpy as np
import pytest

from hw.axil import AxiLiteAccelerator
from hw.bus import Reg, Status
from hw.config import AccelConfig
from host.bus import register_address
from host.cycles import predict_run
from host.encode import encode
from host.golden import golden_matvec
from host.protocol import check_identity, load_layer, run_input
from tests.sim_streams import AxiLiteSimulatorPort, BusError


CFG = AccelConfig(pes=4, max_k=40, max_m=24, weight_depth=64, max_group_width=8)


@pytest.mark.parametrize("pause", [0.0, 0.5])
def test_a_layer_runs_bit_exact_through_the_slave(pause):
    rng = np.random.default_rng(4)
    q = rng.integers(-127, 128, (11, 29)) * (rng.random((11, 29)) < 0.4)
    x = rng.integers(-127, 128, 29)
    layer = encode(q, CFG, "unstructured")
    with AxiLiteSimulatorPort(AxiLiteAccelerator(CFG), pause=pause, seed=2) as port:
        check_identity(port, CFG, CFG.config_hash)
        load_layer(port, CFG, layer)
        run = run_input(port, CFG, layer, x)
    assert run.status == Status.DONE.value
    assert np.array_equal(layer.scatter(run.sums), golden_matvec(q, x))
    assert run.counters == predict_run(CFG, layer, x)


def test_a_partial_write_is_refused_with_slverr_and_changes_nothing():
    address = register_address(CFG, Reg.N_ROWS)
    with AxiLiteSimulatorPort(AxiLiteAccelerator(CFG), pause=0.2) as port:
        port.write([address], [5])
        port.strb = 0b1110
        with pytest.raises(BusError, match=rf"^AXI write to word {address:#x} answered "
                                           r"Response\.SLVERR$"):
            port.write([address], [7])
        port.strb = 0b1111
        assert port.read(address, 1).tolist() == [5]
