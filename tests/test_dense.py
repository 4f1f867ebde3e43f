# amaranth: UnusedElaboratable=no
"""The dense MAC array of the implementation report computes what it claims."""

import numpy as np
import pytest

from hw.config import AccelConfig, ConfigError
from hw.dense import DenseArray
from hw.bus import DenseReg, Region, Status
from host.bus import activation_words, address, register_address
from host.golden import golden_matvec, wrap
from tests.sim_streams import SimulatorPort


@pytest.mark.parametrize("pes", [4, 8])
def test_dense_array_matches_the_golden_model(pes):
    cfg = AccelConfig(pes=pes, max_k=32, max_m=16, weight_depth=64)
    rng = np.random.default_rng(pes)
    rows, columns = 5, 19
    q = rng.integers(-127, 128, (rows, columns))
    x = rng.integers(-127, 128, columns)
    groups = -(-columns // pes)
    padded_q = np.zeros((rows, groups * pes), dtype=np.int64)
    padded_q[:, :columns] = q
    padded_x = np.zeros(groups * pes, dtype=np.int64)
    padded_x[:columns] = x
    weights = activation_words(cfg, padded_q.reshape(-1))
    inputs = activation_words(cfg, padded_x)
    status = register_address(cfg, DenseReg.STATUS)
    with SimulatorPort(DenseArray(cfg)) as port:
        port.write([register_address(cfg, DenseReg.WEIGHT_POINTER)], [0])
        port.write(np.full(len(weights), address(cfg, Region.WEIGHTS, 0)), weights)
        port.write(address(cfg, Region.ACTIVATIONS, np.arange(len(inputs))), inputs)
        port.write([register_address(cfg, DenseReg.N_BEATS),
                    register_address(cfg, DenseReg.ROW_GROUPS),
                    register_address(cfg, DenseReg.CONTROL)], [rows * groups, groups, 1])
        while not port.read(status, 1)[0] & Status.DONE.value:
            pass
        sums = port.read(int(address(cfg, Region.OUTPUTS, 0)), rows)
    assert np.array_equal(wrap(np.array(sums, dtype=np.int64), 32), golden_matvec(q, x))


def test_dense_array_needs_a_bus_word_of_lanes():
    with pytest.raises(ConfigError, match=r"^The dense baseline needs at least 4 PEs, not 2$"):
        DenseArray(AccelConfig(pes=2))
