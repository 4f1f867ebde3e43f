import numpy as np
import pytest

from host.prune import prune_unstructured, pruned_count


@pytest.mark.parametrize("sparsity", [0, 0.5, 0.9, 0.99, 1])
def test_per_row_keeps_the_largest(sparsity):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 101))
    pruned = prune_unstructured(w, sparsity)
    keep = 101 - pruned_count(101, sparsity)
    assert (np.count_nonzero(pruned, axis=1) == keep).all()
    for row, kept in zip(np.abs(w), pruned != 0):
        if kept.any() and (~kept).any():
            assert row[kept].min() > row[~kept].max()


def test_per_layer_count():
    w = np.random.default_rng(2).normal(size=(10, 10))
    w[3] *= 100
    pruned = prune_unstructured(w, 0.8, scope="layer")
    assert np.count_nonzero(pruned) == 20
    assert np.count_nonzero(pruned[3]) == 10


def test_ties_keep_the_earlier_weight():
    w = np.array([[1.0, -1.0, 1.0, 1.0]])
    assert prune_unstructured(w, 0.5).tolist() == [[1.0, -1.0, 0.0, 0.0]]
    assert prune_unstructured(np.ones((2, 2)), 0.5, scope="layer").tolist() == [[1, 1], [0, 0]]


def test_activation_aware_scores():
    w = np.array([[1.0, 2.0]])
    assert prune_unstructured(w, 0.5, scores=w * [10.0, 1.0]).tolist() == [[1.0, 0.0]]


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^Sparsity must be from 0 to 1, not 1\.5$"):
        prune_unstructured(np.ones((2, 2)), 1.5)
    with pytest.raises(ValueError, match=r"^Pruning scope must be 'row' or 'layer', not 'tile'$"):
        prune_unstructured(np.ones((2, 2)), 0.5, scope="tile")
    with pytest.raises(ValueError, match=r"^weights must be finite"):
        prune_unstructured(np.full((2, 2), np.nan), 0.5)
