import dataclasses

import numpy as np
import pytest

from hw.accel import Accelerator
from hw.config import AccelConfig
from hw.bus import Reg, Status
from host.bus import input_writes, register_address
from host.cycles import predict_run
from host.encode import encode
from host.patterns import parse_pattern, prune
from host.golden import golden_matvec
from host.protocol import check_identity, load_layer, run_input
from tests.sim_streams import SimulatorPort


def run_layer(cfg, q, x, pattern="unstructured", extra_writes=(), layer=None):
    """Load and run one layer on the simulated accelerator through the host's run protocol,
    with ``extra_writes`` (``(address, word)``) after the load; returns the encoded layer and
    the :class:`~host.protocol.Run`."""
    layer = encode(q, cfg, pattern) if layer is None else layer
    with SimulatorPort(Accelerator(cfg)) as port:
        check_identity(port, cfg, cfg.config_hash)
        load_layer(port, cfg, layer)
        for addr, data in extra_writes:
            port.write([addr], [data])
        return layer, run_input(port, cfg, layer, x, check=False)


@pytest.mark.parametrize("pes", [1, 4])
def test_small_layer(pes):
    cfg = AccelConfig(pes=pes, max_k=40, max_m=24, weight_depth=256)
    rng = np.random.default_rng(pes)
    q = rng.integers(-127, 128, (13, 37)) * (rng.random((13, 37)) < 0.3)
    q[4] = 0
    q[7] = 0
    q[7, 36] = 5
    x = rng.integers(-127, 128, 37)
    layer, result = run_layer(cfg, q, x)
    sums = result.sums
    assert np.array_equal(layer.scatter(sums), golden_matvec(q, x))
    assert result.counters == predict_run(cfg, layer, x)


@pytest.mark.parametrize("pattern, shape", [
    ("dense", (5, 7)), ("dense", (3, 2)), ("2:4", (6, 18)), ("1:4", (4, 5)), ("3:8", (5, 30)),
    ("bank:8", (4, 21)), ("tile:2", (5, 13)), ("tile:3", (7, 40)),
])
@pytest.mark.parametrize("pes", [1, 4])
def test_grouped_formats(pattern, shape, pes):
    cfg = AccelConfig(pes=pes, max_k=128, max_m=24, weight_depth=256, max_group_width=8)
    rng = np.random.default_rng(pes)
    w = rng.normal(size=shape)
    w[1] = 0
    sparsity = 0.5 if parse_pattern(pattern).needs_sparsity else None
    q = np.rint(prune(w, pattern, sparsity=sparsity) * 40).clip(-127, 127).astype(int)
    x = rng.integers(-127, 128, shape[1])
    layer, result = run_layer(cfg, q, x, pattern)
    sums = result.sums
    assert np.array_equal(layer.scatter(sums), golden_matvec(q, x))
    assert result.status == Status.DONE.value
    assert result.counters == predict_run(cfg, layer, x)


@pytest.mark.parametrize("pattern, shape", [("dense", (6, 5)), ("3:8", (5, 13))])
def test_rows_are_padded_to_fit_the_pattern_table(pattern, shape):
    cfg = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=64, max_group_width=8,
                      pattern_depth=2)
    rng = np.random.default_rng(7)
    q = np.rint(prune(rng.normal(size=shape), pattern) * 40).clip(-127, 127).astype(int)
    x = rng.integers(-127, 128, shape[1])
    layer, result = run_layer(cfg, q, x, pattern)
    assert layer.n_lanes == shape[0] * 8       # rows of 5 and 6 lanes padded to 8
    assert layer.settings[Reg.PATTERN_BEATS] == 2
    sums = result.sums
    assert np.array_equal(layer.scatter(sums), golden_matvec(q, x))
    assert result.counters == predict_run(cfg, layer, x)


@pytest.mark.parametrize("pes, ports", [(4, 1), (8, 1), (8, 2)])
def test_no_beat_closes_more_rows_than_the_output_stage_writes(pes, ports):
    cfg = AccelConfig(pes=pes, max_k=16, max_m=64, weight_depth=64, output_ports=ports)
    rng = np.random.default_rng(ports)
    q = np.zeros((40, 9), dtype=int)
    lengths = rng.choice([0, 1, 1, 2, 5, 9], size=40)
    for row, length in enumerate(lengths):
        q[row, :length] = rng.integers(1, 128, length)
    x = rng.integers(-127, 128, 9)
    layer, result = run_layer(cfg, q, x)
    sums = result.sums
    assert np.array_equal(layer.scatter(sums), golden_matvec(q, x))
    assert result.counters == predict_run(cfg, layer, x)
    assert layer.last.sum(axis=1).max() == ports
    assert layer.n_beats > -(-np.count_nonzero(q) // pes)
    assert result.status == Status.DONE.value


def test_a_beat_closing_too_many_rows_is_flagged():
    cfg = AccelConfig(pes=8, max_k=16, max_m=8, weight_depth=8, output_ports=1)
    q = np.eye(5, 7, dtype=int)
    assert encode(q, cfg, "unstructured").n_beats == 5     # a beat for each row
    wide = encode(q, dataclasses.replace(cfg, output_ports=4), "unstructured")
    assert wide.n_beats == 2                                # beat 0 closes 4 rows
    _, result = run_layer(cfg, q, np.arange(7), layer=wide)
    assert result.status & Status.OVERRUN.value


def test_all_zero_layer_runs_in_one_cycle():
    cfg = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8)
    q = np.zeros((5, 7), dtype=int)
    x = np.arange(7)
    layer, result = run_layer(cfg, q, x)
    assert layer.n_beats == 0
    assert len(result.sums) == 0
    assert result.counters == predict_run(cfg, layer, x)
    assert result.counters.cycles == 1


def test_a_layer_that_closes_other_rows_than_announced_is_flagged():
    cfg = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8)
    q = np.eye(5, 7, dtype=int)
    _, result = run_layer(cfg, q, np.arange(7),
                          extra_writes=[(register_address(cfg, Reg.N_ROWS), 4)])
    assert result.status == Status.DONE.value | Status.ROW_ERROR.value


def test_status_shows_a_new_run_at_once():
    """A STATUS read right after the CONTROL write that starts a second run sees it busy,
    not the first run's DONE."""
    cfg = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8)
    q = np.eye(5, 7, dtype=int) * 3
    layer = encode(q, cfg, "unstructured")
    statuses = []
    control, status = register_address(cfg, Reg.CONTROL), register_address(cfg, Reg.STATUS)
    with SimulatorPort(Accelerator(cfg)) as port:
        load_layer(port, cfg, layer)
        port.write(*input_writes(cfg, layer, np.arange(7)))
        for _ in range(2):
            port.write([control], [1])
            statuses.append(int(port.read(status, 1)[0]))
            while not port.read(status, 1)[0] & Status.DONE.value:
                pass
    assert statuses == [Status.BUSY.value] * 2
