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
    # The last layer's INT32 sums, for a consumer on the host.
    np.testing.assert_array_equal(loaded(mlp.x_test[:9], output="int32"),
                                  network.golden(mlp.x_test[:9], output="int32"))
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


def test_minilm_ffn_pair_resident(accel):
    """Layer 0's FFN of all-MiniLM-L6-v2, 384 -> 1536 (GELU) -> 384, 50 % unstructured,
    resident, on real inputs: calibrated on a Lee background document's tokens, run on a Lee
    document's."""
    from bench.quality import background_documents, lee_documents
    from host.minilm import linear_inputs
    from host.models import minilm_tensors
    from host.network import Layer, Network
    tensors = minilm_tensors()
    names = ("encoder.layer.0.intermediate.dense", "encoder.layer.0.output.dense")
    layers = [Layer(tensors[f"{name}.weight"], tensors[f"{name}.bias"], pattern="unstructured",
                    sparsity=0.5, activation="gelu" if index == 0 else None)
              for index, name in enumerate(names)]
    network = Network(layers)
    calibration = linear_inputs(background_documents()[:2], only=names[:1])[names[0]]
    network.calibrate(calibration)
    x = linear_inputs(lee_documents()[0][:1], only=names[:1])[names[0]][:7]
    loaded = accel.load(network)
    assert loaded.batch_capacity >= 7
    np.testing.assert_array_equal(loaded(x), network.golden(x))
    stats = loaded.last_run
    assert stats.runs == 1 and stats.round_trips <= 4
    assert stats.eta >= 0.95


def test_bad_networks_and_inputs_are_refused_before_anything_is_sent(accel):
    from host.encode import LayerTooBig
    from host.network import Layer, Network
    rng = np.random.default_rng(3)
    uncalibrated = Network([Layer(rng.normal(size=(8, 16)))])
    sent = accel.link.bytes_sent
    with pytest.raises(ValueError, match="not calibrated"):
        accel.load(uncalibrated)
    with pytest.raises(ValueError, match="calibration="):
        accel.load(rng.normal(size=(8, 16)), "2:4")
    too_big = Network([Layer(rng.normal(size=(1536, 1536)), pattern="dense")] * 2)
    too_big.calibrate(rng.normal(size=(4, 1536)))
    with pytest.raises(LayerTooBig, match="beats"):
        accel.load(too_big)
    assert accel.link.bytes_sent == sent
    loaded = accel.load(rng.normal(size=(8, 16)), "2:4", calibration=rng.normal(size=(4, 16)))
    sent = accel.link.bytes_sent
    for x, message in ((np.full(16, np.nan), "finite"), (np.zeros(15), "takes 16"),
                       (np.zeros((2, 2, 16)), "batch")):
        with pytest.raises(ValueError, match=message):
            loaded(x)
    assert accel.link.bytes_sent == sent
    assert loaded(np.ones(16)).shape == (8,)
    accel.run(rng.normal(size=(4, 16)), np.ones(16))
    with pytest.raises(Exception, match="no longer loaded"):
        loaded(np.ones(16))


def test_the_network_command_prints_the_layers_and_the_rates():
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "host", "--network", "digits", "--pattern",
                             "2:4", "--batch", "7"], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "batch 7 in 1 run(s), P = 64" in lines[0]
    assert sum(line.split()[1:2] == ["2:4"] for line in lines) == 3
    assert any(line.strip().startswith("ulx3s") and "inferences/s estimated (3030303 baud"
               in line for line in lines)
    assert any(line.split() == ["time", "per", "batch", "compute", "link", "total"]
               for line in lines)
    assert any(line.strip().startswith("simulated board") and "measured" in line
               for line in lines)
    assert lines[-1].endswith("bit-exact with the golden model")
