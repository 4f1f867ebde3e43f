# amaranth: UnusedElaboratable=no
"""The dense MAC array of the implementation report computes what it claims."""

import numpy as np
import pytest

from hw.config import AccelConfig, ConfigError
from hw.dense import DenseArray
from host.golden import golden_matvec
from host.protocol import run_dense
from tests.sim_streams import SimulatorPort


@pytest.mark.parametrize("pes", [4, 8])
def test_dense_array_matches_the_golden_model(pes):
    cfg = AccelConfig(pes=pes, max_k=32, max_m=16, weight_depth=64)
    rng = np.random.default_rng(pes)
    rows, columns = 5, 19
    q = rng.integers(-127, 128, (rows, columns))
    x = rng.integers(-127, 128, columns)
    with SimulatorPort(DenseArray(cfg)) as port:
        sums = run_dense(port, cfg, q, x)
    assert np.array_equal(sums, golden_matvec(q, x))


def test_dense_array_needs_a_bus_word_of_lanes():
    with pytest.raises(ConfigError, match=r"^The dense baseline needs at least 4 PEs, not 2$"):
        DenseArray(AccelConfig(pes=2))
