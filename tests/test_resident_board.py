"""Resident networks on the default simulated board (P = 64): the digits MLP in three
formats at batches of 1, 7 and 64, bit-exact, and what the link carries."""

import numpy as np
import pytest

from hw.accel import pipeline_latency
from host import SparseAccel
from host.datasets import digits_mlp, digits_network
from host.link import frame_overhead
from host.resident import predict_network


@pytest.fixture(scope="module")
def accel():
    with SparseAccel(timeout=5.0) as board:
        yield board


@pytest.mark.parametrize("pattern, sparsity, method", [
    ("dense", None, "magnitude"), ("2:4", None, "reconstruct"),
    ("unstructured", 0.5, "reconstruct")])
def test_digits_mlp_resident(accel, pattern, sparsity, method):
    network = digits_network(pattern, sparsity, method=method)
    mlp = digits_mlp(0)
    loaded = accel.load(network)
    assert loaded.batch_capacity >= 64
    for batch in (1, 7, 64):
        x = mlp.x_test[:batch]
        y = loaded(x)
        np.testing.assert_array_equal(y, network.golden(x))
        stats = loaded.last_run
        xq = network.quantize_input(x)
        inputs = [xq] + [r.outputs for r in network.golden_int(xq)[:-1]]
        predicted = predict_network(loaded.placement, inputs)
        assert [layer.cycles for layer in stats.layers] == [p.cycles for p in predicted]
        assert [layer.nonzero_products for layer in stats.layers] == \
            [p.nonzero_products for p in predicted]
        assert stats.round_trips <= 4
        nnz = sum(layer.nnz for layer in stats.layers)
        bound = 1.05 * batch * nnz / accel.cfg.pes + 3 * (pipeline_latency(accel.cfg) + 16)
        assert sum(layer.cycles for layer in stats.layers) <= bound
        if batch == 64 and pattern != "dense":
            assert stats.eta >= 0.90
        if batch == 64:
            polls = stats.polls * frame_overhead(1)
            per_inference = (stats.bytes_sent + stats.bytes_received - polls) / batch
            assert per_inference <= 64 + 10 + 16
    # The whole test set through the board: accuracy within a point of float.
    board = np.mean(loaded(mlp.x_test).argmax(axis=1) == mlp.y_test)
    float_accuracy = np.mean(network.float(mlp.x_test).argmax(axis=1) == mlp.y_test)
    assert abs(board - float_accuracy) <= 0.01
    # Another network makes this handle stale.
    other = accel.load(digits_network("dense"))
    with pytest.raises(Exception, match="no longer loaded"):
        loaded(mlp.x_test[:1])
    np.testing.assert_array_equal(other(mlp.x_test[:2]),
                                  digits_network("dense").golden(mlp.x_test[:2]))
