import numpy as np
import pytest

from host.patterns import activation_scores, parse_pattern, prune


@pytest.mark.parametrize("name, kind, n, m", [
    ("dense", "dense", 0, 0), ("unstructured", "unstructured", 0, 0), ("2:4", "nm", 2, 4),
    ("15:16", "nm", 15, 16), ("bank:64", "bank", 0, 64), ("tile:8", "tile", 0, 8),
])
def test_names(name, kind, n, m):
    pattern = parse_pattern(name)
    assert (pattern.kind, pattern.n, pattern.m) == (kind, n, m)
    assert pattern.name == name


@pytest.mark.parametrize("name, message", [
    ("4:4", r"^N:M pattern needs 1 <= N < M <= 16, not '4:4'$"),
    ("2:32", r"^N:M pattern needs 1 <= N < M <= 16, not '2:32'$"),
    ("block", r"^Unknown sparsity pattern 'block'; expected 'dense', 'unstructured', 'N:M' "
              r"\(such as '2:4'\), 'bank:W' or 'tile:G'$"),
])
def test_bad_names(name, message):
    with pytest.raises(ValueError, match=message):
        parse_pattern(name)


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (4, 8), (3, 7)])
def test_nm_keeps_n_largest_per_group(n, m):
    w = np.random.default_rng(m).normal(size=(6, 5 * m + 2))
    pruned = prune(w, f"{n}:{m}")
    for row, kept in zip(np.abs(w), pruned != 0):
        for start in range(0, len(row), m):
            group, mask = row[start:start + m], kept[start:start + m]
            assert mask.sum() == min(n, len(group))
            if (~mask).any():
                assert group[mask].min() > group[~mask].max()


def test_nm_ties_keep_the_lower_index():
    assert prune(np.array([[1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 2.0]]), "2:4").tolist() == \
        [[1, 1, 0, 0, 2, 0, 0, 2]]


def test_bank_balanced_keeps_the_same_count_per_bank():
    w = np.random.default_rng(3).normal(size=(4, 64))
    pruned = prune(w, "bank:16", sparsity=0.75)
    assert (np.count_nonzero(pruned.reshape(4, 4, 16), axis=2) == 4).all()


def test_tile_wise_shares_columns_within_a_tile():
    w = np.random.default_rng(4).normal(size=(10, 12))
    pruned = prune(w, "tile:4", sparsity=0.5)
    for top in (0, 4, 8):
        tile = pruned[top:top + 4] != 0
        assert (tile == tile[0]).all()
        assert tile[0].sum() == 6


def test_activation_aware_scores_change_the_choice():
    w = np.array([[1.0, 2.0, 3.0, 4.0]])
    calibration = np.array([[10.0, 10.0, 0.1, 0.1]])
    assert prune(w, "2:4", scores=activation_scores(w, calibration)).tolist() == [[1, 2, 0, 0]]


def test_sparsity_is_required_or_refused():
    with pytest.raises(ValueError, match=r"^Pattern 'tile:8' needs a sparsity$"):
        prune(np.ones((2, 2)), "tile:8")
    with pytest.raises(ValueError, match=r"^Pattern '2:4' fixes its own sparsity; "
                                         r"do not pass sparsity=0\.5$"):
        prune(np.ones((2, 4)), "2:4", sparsity=0.5)
