import numpy as np
import pytest

from hw.layouts import Format
from host.patterns import (BankBalanced, Dense, NM, TileWise, Unstructured, activation_scores,
                           parse_pattern, prune)


@pytest.mark.parametrize("name, pattern, fmt, column_align, row_align, needs_sparsity", [
    ("dense", Dense(), Format.GROUPED, 1, 1, False),
    ("unstructured", Unstructured(), Format.UNSTRUCTURED, 1, 1, True),
    ("2:4", NM(2, 4), Format.GROUPED, 4, 1, False),
    ("15:16", NM(15, 16), Format.GROUPED, 16, 1, False),
    ("bank:64", BankBalanced(64), Format.GROUPED, 64, 1, True),
    ("tile:8", TileWise(8), Format.TILE, 1, 8, True),
])
def test_names(name, pattern, fmt, column_align, row_align, needs_sparsity):
    parsed = parse_pattern(name)
    assert parsed == pattern and type(parsed) is type(pattern)
    assert parsed.name == str(parsed) == name
    assert parse_pattern(parsed.name) == parsed
    assert parse_pattern(parsed) is parsed
    assert parsed.format is fmt
    assert (parsed.column_align, parsed.row_align) == (column_align, row_align)
    assert parsed.needs_sparsity is needs_sparsity
    assert parsed.prunes is (name != "dense")


def test_patterns_are_values():
    assert NM(2, 4) == parse_pattern("2:4") != NM(2, 8)
    assert len({parse_pattern("tile:4"), TileWise(4), BankBalanced(4)}) == 2
    assert (NM(2, 4).n, NM(2, 4).m, BankBalanced(16).width, TileWise(8).rows) == (2, 4, 16, 8)


@pytest.mark.parametrize("name, message", [
    ("4:4", r"^N:M pattern needs 1 <= N < M <= 16, not '4:4'$"),
    ("2:32", r"^N:M pattern needs 1 <= N < M <= 16, not '2:32'$"),
    ("block", r"^Unknown sparsity pattern 'block'; expected 'dense', 'unstructured', 'N:M' "
              r"\(such as '2:4'\), 'bank:W' or 'tile:G'$"),
])
def test_bad_names(name, message):
    with pytest.raises(ValueError, match=message):
        parse_pattern(name)


def test_bad_parameters():
    with pytest.raises(ValueError, match=r"^Pattern 'bank:0' needs a size of at least 1$"):
        parse_pattern("bank:0")
    with pytest.raises(ValueError, match=r"^Pattern 'tile:0' needs a size of at least 1$"):
        TileWise(0)
    with pytest.raises(TypeError, match=r"^Pattern size must be an integer, not 2\.0$"):
        BankBalanced(2.0)
    with pytest.raises(TypeError, match=r"^N and M of an N:M pattern must be integers, "
                                        r"not '4'$"):
        NM(2, "4")
    with pytest.raises(TypeError, match=r"^Pattern must be a name such as '2:4', not 24$"):
        parse_pattern(24)


@pytest.mark.parametrize("name, rows, lanes", [
    ("dense", [[1, 2, 3, 4]], [1]), ("2:4", [[1, 0, 0, 0], [0, 0, 0, 0]], [2, 2]),
    ("bank:2", [[1, 1, 0, 1], [0, 0, 0, 0], [0, 3, 0, 0]], [2, 1, 1]),
])
def test_grouped_lanes_per_group(name, rows, lanes):
    pattern = parse_pattern(name)
    assert pattern.lanes_per_group(np.array(rows)).tolist() == lanes
    assert pattern.layer_lanes(np.array(rows)) == max(lanes)


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
