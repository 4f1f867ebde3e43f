import dataclasses

import numpy as np
import pytest

from hw.config import AccelConfig
from host import tiling
from host.encode import LayerTooBig, encode
from host.golden import golden_matvec, padded_inputs, stream_matvec
from host.patterns import parse_pattern, prune
from host.quant import quantize_weights
from host.tiling import tile_layer


PATTERNS = [("unstructured", 0.6), ("dense", None), ("2:4", None), ("1:4", None), ("3:8", None),
            ("bank:8", 0.5), ("tile:3", 0.5), ("tile:1", 0.7)]


def layer(rng, shape, pattern, sparsity):
    weights = rng.normal(size=shape) * (rng.random(shape) < 0.8)
    weights[rng.random(shape[0]) < 0.2] = 0             # some empty rows
    q, _ = quantize_weights(prune(weights, pattern, sparsity=sparsity))
    return q


def random_config(rng):
    pes = int(rng.choice([1, 2, 4, 8]))
    return AccelConfig(pes=pes, max_k=int(rng.integers(8, 65)), max_m=int(rng.integers(3, 33)),
                       weight_depth=int(rng.integers(6, 65)), max_group_width=16,
                       pattern_depth=int(rng.integers(1, 9)),
                       compact_depth=int(rng.integers(2, 6)) if rng.random() < 0.5 else None,
                       output_ports=int(rng.choice([1, 2, 4])))


def alone_fails(q, cfg, pattern, col0, width):
    """Whether some row of the columns (some tile of G rows) does not fit when encoded alone."""
    step = pattern.row_align
    for row0 in range(0, len(q), step):
        try:
            encode(q[row0:row0 + step, col0:col0 + width], cfg, pattern)
        except LayerTooBig:
            return True
    return False


def check_tiling(q, cfg, pattern):
    """Every (row, column) in exactly one tile, every tile within the limits, the result
    that of the whole layer, and no tile one step larger (rows, then columns) would fit."""
    pattern = parse_pattern(pattern)
    tiles = list(tile_layer(q, cfg, pattern))
    covered = np.zeros(q.shape, dtype=int)
    x = np.random.default_rng(0).integers(-127, 128, q.shape[1])
    y = np.zeros(len(q), dtype=np.int64)
    for tile in tiles:
        covered[tile.row0:tile.row0 + tile.rows, tile.col0:tile.col0 + tile.columns] += 1
        assert tile.layer.shape == (tile.rows, tile.columns)
        assert tile.columns <= cfg.max_k
        assert tile.layer.n_beats <= cfg.weight_depth
        assert len(tile.layer.rows) <= cfg.max_m
        assert tile.col0 % pattern.column_align == 0 and tile.row0 % pattern.row_align == 0
        y[tile.row0:tile.row0 + tile.rows] += tile.layer.scatter(stream_matvec(
            tile.layer, padded_inputs(x[tile.col0:tile.col0 + tile.columns],
                                      tile.layer.activation_length)))
        end = tile.row0 + tile.rows
        if end < len(q):
            with pytest.raises(LayerTooBig):
                encode(q[tile.row0:end + pattern.row_align, tile.col0:tile.col0 + tile.columns],
                       cfg, pattern)
    assert (covered == 1).all()
    np.testing.assert_array_equal(y, golden_matvec(q, x))
    for col0, width in sorted({(tile.col0, tile.columns) for tile in tiles}):
        assert not alone_fails(q, cfg, pattern, col0, width)
        wider = min(width + pattern.column_align, q.shape[1] - col0)
        if wider > width and wider <= cfg.max_k:
            assert alone_fails(q, cfg, pattern, col0, wider)
    return tiles


@pytest.mark.parametrize("pattern, sparsity", PATTERNS)
def test_random_layers_on_random_configs(pattern, sparsity):
    rng = np.random.default_rng(sum(map(ord, pattern)))
    tiled = 0
    for _ in range(25):
        cfg = random_config(rng)
        q = layer(rng, (int(rng.integers(1, 40)), int(rng.integers(1, 90))), pattern, sparsity)
        try:
            check_tiling(q, cfg, pattern)
            tiled += 1
        except LayerTooBig as error:
            # Only when not even one row (G-row tile) of the narrowest piece fits alone.
            assert str(error).startswith(f"Pattern {pattern!r} does not fit this accelerator: ")
            align = parse_pattern(pattern).column_align
            assert alone_fails(q, cfg, parse_pattern(pattern), 0, min(align, q.shape[1])) or \
                align > cfg.max_k
    assert tiled >= 15


@pytest.mark.parametrize("pattern, sparsity", PATTERNS)
def test_the_driver_test_layers(pattern, sparsity):
    cfg = AccelConfig(pes=4, max_k=64, max_m=32, weight_depth=96, max_group_width=16)
    q = layer(np.random.default_rng(1), (45, 90), pattern, sparsity)
    assert len(check_tiling(q, cfg, pattern)) >= 4


def test_tiles_are_computed_not_shrunk():
    cfg = AccelConfig(pes=64, max_k=1536, max_m=1536, weight_depth=4608, max_group_width=16)
    tiles = list(tile_layer(np.ones((1536, 384), dtype=int), cfg, "dense"))
    assert [(tile.row0, tile.rows) for tile in tiles] == [(0, 768), (768, 768)]


def test_grouped_layers_whose_layout_overflows_are_split_by_columns():
    cfg = AccelConfig(pes=1, max_k=36, max_m=8, weight_depth=4096, max_group_width=8)
    q = layer(np.random.default_rng(3), (4, 35), "3:7", None)
    tiles = check_tiling(q, cfg, "3:7")
    assert [tile.columns for tile in tiles] == [28, 7]      # groups of 7 at every 8: 4 fit


def test_empty_and_all_zero_layers():
    cfg = AccelConfig(pes=4, max_k=8, max_m=4, weight_depth=4)
    assert list(tile_layer(np.zeros((0, 5), dtype=int), cfg, "unstructured")) == []
    assert list(tile_layer(np.zeros((5, 0), dtype=int), cfg, "2:4")) == []
    tiles = list(tile_layer(np.zeros((10, 6), dtype=int), cfg, "unstructured"))
    assert [(tile.row0, tile.rows, tile.layer.n_beats) for tile in tiles] == [(0, 10, 0)]


@pytest.mark.parametrize("cfg, pattern, message", [
    (AccelConfig(pes=4, max_k=8, max_m=4, weight_depth=4), "tile:8",
     r"^Pattern 'tile:8' does not fit this accelerator: a tile of 8 rows of columns 0 to 0 "
     r"needs 8 rows of the output memory, and it has 4$"),
    (AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=4, compact_depth=1), "tile:2",
     r"^Pattern 'tile:2' does not fit this accelerator: a tile of 2 rows of columns 0 to 0 "
     r"needs 8 inputs in the compact buffers, and it has 4$"),
    (AccelConfig(pes=1, max_k=8, max_m=8, weight_depth=64, pattern_depth=2,
                 max_group_width=8), "3:8",
     r"^Pattern '3:8' does not fit this accelerator: a row of columns 0 to 7 needs 3 entries "
     r"of the pattern table, and it has 2$"),
    (AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=4, max_group_width=16), "1:16",
     r"^Pattern '1:16' does not fit this accelerator: a row of columns 0 to 15 needs 16 "
     r"activations, and it has 8$"),
])
def test_a_layer_nothing_of_which_fits_is_refused(cfg, pattern, message):
    q = np.zeros((8, 20), dtype=int)
    q[:, 0] = 1
    with pytest.raises(LayerTooBig, match=message):
        list(tile_layer(q, cfg, pattern))


def test_a_tile_that_does_not_fit_after_all_is_refused(monkeypatch):
    cfg = AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=2)
    monkeypatch.setattr(tiling._UnstructuredSizes, "rows", lambda self, lengths, row0: 3)
    with pytest.raises(LayerTooBig, match=r"^Tile of rows 0 to 2 and columns 0 to 7 does not "
                                          r"fit: Layer needs 6 beats; this accelerator holds "
                                          r"at most 2$") as error:
        list(tile_layer(np.ones((5, 8), dtype=int), cfg, "unstructured"))
    assert (error.value.resource, error.value.needed, error.value.available) == ("beats", 6, 2)


def test_the_tiles_of_a_layer_not_pruned_to_its_pattern_are_refused():
    cfg = AccelConfig(pes=4, max_k=16, max_m=4, weight_depth=16)
    with pytest.raises(ValueError, match=r"^Row 0 has 3 non-zero weights in columns 0 to 3; "
                                         r"the format keeps 2 of every 4$"):
        list(tile_layer(np.ones((2, 8), dtype=int) * [1, 1, 1, 0, 0, 0, 0, 0], cfg, "2:4"))
    with pytest.raises(ValueError, match=r"^Weights must be a matrix, not shape \(3,\)$"):
        list(tile_layer(np.ones(3, dtype=int), cfg, "2:4"))


def test_larger_configs_give_fewer_tiles():
    rng = np.random.default_rng(9)
    q = layer(rng, (40, 64), "unstructured", 0.5)
    cfg = AccelConfig(pes=4, max_k=32, max_m=16, weight_depth=16)
    counts = [len(list(tile_layer(q, dataclasses.replace(cfg, weight_depth=depth),
                                  "unstructured"))) for depth in (16, 32, 64, 128)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
