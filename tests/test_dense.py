# amaranth: UnusedElaboratable=no
"""The dense MAC array of the implementation report computes what it claims."""

import numpy as np
import pytest

from hw.config import AccelConfig, ConfigError
from hw.dense import DenseArray
from hw.layouts import Reg, Region, Status
from host.bus import activation_words, address, register_address
from host.golden import golden_matvec, wrap
from tests.sim_streams import run_bus


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
    dut = DenseArray(cfg)
    sums = []

    async def script(write, read):
        await write(register_address(cfg, Reg.WEIGHT_POINTER), 0)
        for word in activation_words(cfg, padded_q.reshape(-1)):
            await write(address(cfg, Region.WEIGHTS, 0), word)
        for index, word in enumerate(activation_words(cfg, padded_x)):
            await write(address(cfg, Region.ACTIVATIONS, index), word)
        await write(register_address(cfg, Reg.N_BEATS), rows * groups)
        await write(register_address(cfg, Reg.ROW_GROUPS), groups)
        await write(register_address(cfg, Reg.CONTROL), 1)
        while not (await read(register_address(cfg, Reg.STATUS))) & Status.DONE.value:
            pass
        for row in range(rows):
            sums.append(await read(address(cfg, Region.OUTPUTS, row)))

    run_bus(dut, script)
    assert np.array_equal(wrap(np.array(sums, dtype=np.int64), 32), golden_matvec(q, x))


def test_dense_array_needs_a_bus_word_of_lanes():
    with pytest.raises(ConfigError, match=r"^The dense baseline needs at least 4 PEs, not 2$"):
        DenseArray(AccelConfig(pes=2))
