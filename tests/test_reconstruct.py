import numpy as np
import pytest

from host.patterns import pattern_mask, prune
from host.quant import quantize_weights
from host.reconstruct import prune_layer, reconstruct_prune
from host.runner import LayerChoice


def correlated(rng, rows, columns):
    """Two sets of inputs (calibration, held out) with the same correlated distribution."""
    mixing = rng.normal(size=(columns, columns)) / np.sqrt(columns)
    gains = rng.uniform(0.2, 3, columns)
    return [rng.normal(size=(rows, columns)) @ mixing * gains for _ in range(2)]


def int8(weights):
    q, scale = quantize_weights(weights)
    return q * scale[:, None]


def output_error(weights, pruned, x):
    reference = x @ weights.T
    return np.sum((x @ pruned.T - reference) ** 2) / np.sum(reference ** 2)


@pytest.mark.parametrize("pattern, sparsity", [
    ("2:4", None), ("1:4", None), ("3:8", None), ("unstructured", 0.5),
    ("bank:16", 0.5), ("tile:4", 0.5),
])
def test_reconstruction_keeps_the_pattern_and_beats_the_other_methods(pattern, sparsity):
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(24, 96))
    calibration, held_out = correlated(rng, 400, 96)
    pruned = reconstruct_prune(weights, pattern, calibration, sparsity=sparsity)
    kept = pruned != 0
    # The kept weights form the pattern: pruning them again by their own scores is a no-op.
    assert not (kept & ~pattern_mask(np.where(kept, 1.0, 0.0), pattern,
                                     sparsity=sparsity)).any()
    assert kept.sum() <= pattern_mask(np.abs(weights), pattern, sparsity=sparsity).sum()
    # Kept weights lie on the INT8 grid of the unpruned rows' scales.
    scale = np.abs(weights).max(axis=1) / 127
    codes = pruned / scale[:, None]
    assert np.allclose(codes, np.rint(codes), atol=1e-6)
    assert np.abs(np.rint(codes)).max() <= 127
    errors = {method: output_error(weights, int8(
                  prune_layer(weights, pattern, method, sparsity=sparsity,
                              calibration=calibration)), held_out)
              for method in ("magnitude", "activation", "reconstruct")}
    assert errors["reconstruct"] < min(errors["activation"], 0.8 * errors["magnitude"])


def test_dead_inputs_are_pruned_and_the_rest_still_fits():
    rng = np.random.default_rng(5)
    weights = rng.normal(size=(8, 16))
    calibration = rng.normal(size=(64, 16))
    calibration[:, 3] = 0
    pruned = reconstruct_prune(weights, "2:4", calibration)
    assert (pruned[:, 3] == 0).all()
    assert np.isfinite(pruned).all()


def test_bad_input_is_refused():
    weights = np.ones((4, 8))
    with pytest.raises(ValueError, match=r"^calibration must be \(inputs, 8\), not shape \(3, 7\)$"):
        reconstruct_prune(weights, "2:4", np.ones((3, 7)))
    bad = np.ones((3, 8))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"^calibration must be finite, but calibration\[1, 2\]"):
        reconstruct_prune(weights, "2:4", bad)
    with pytest.raises(ValueError, match=r"^Pruning method must be one of magnitude, activation, "
                                         r"reconstruct, not 'obs'$"):
        prune_layer(weights, "2:4", "obs")
    with pytest.raises(ValueError, match=r"^Pruning method 'reconstruct' needs calibration "
                                         r"inputs$"):
        prune_layer(weights, "2:4", "reconstruct")
    with pytest.raises(ValueError, match=r"^Pattern 'unstructured' needs a sparsity$"):
        LayerChoice("unstructured")


def test_prune_is_unchanged_by_the_mask_refactor():
    rng = np.random.default_rng(6)
    weights = np.rint(rng.normal(size=(6, 12)) * 3)   # integer values: plenty of ties
    assert np.array_equal(prune(weights, "2:4") != 0,
                          pattern_mask(np.abs(weights), "2:4") & (weights != 0))
