import dataclasses

import numpy as np
import pytest

from hw.config import AccelConfig
from hw.bus import Reg
from hw.layouts import raw_beat_layout
from host.tiling import tile_layer
from host.encode import (GAP_BEATS_SLACK, LayerTooBig, decode_gaps, encode,
                         encode_unstructured)
from host.golden import golden_matvec, padded_inputs, stream_matvec, wrap
from host.patterns import parse_pattern, prune


def test_lanes_are_packed_across_rows():
    cfg = AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=8)
    q = np.array([[0, 3, 0, 4, 5], [0, 0, 0, 0, 0], [7, 0, 0, 0, 0], [1, 2, 0, 0, 9]])
    layer = encode_unstructured(q, cfg, gap_bits=2)
    assert layer.rows.tolist() == [0, 2, 3]
    # The rows sent are laid end to end, 5 places each: kept weights at places 1, 3, 4; 5;
    # 10, 11, 14. A filler at place 0 starts the stream, one at place 9 bridges a gap
    # longer than 4; rows take whole pairs of lanes, padded at their first place.
    assert layer.weight.tolist() == [[0, 3, 4, 5], [7, 0, 0, 1], [2, 9, 0, 0]]
    assert layer.column.tolist() == [[0, 1, 3, 4], [0, 4, 0, 0], [1, 4, 0, 0]]
    assert layer.last.astype(int).tolist() == [[0, 0, 0, 1], [0, 1, 0, 0], [0, 1, 0, 0]]
    assert layer.nnz == 7
    assert layer.settings == {Reg.FORMAT: 0, Reg.INDEX_BITS: 2, Reg.N_COLUMNS: 5}


def test_gap_width_is_the_narrowest_within_the_slack_of_the_fewest_beats():
    cfg = AccelConfig(pes=64, max_k=384, max_m=64, weight_depth=4096)
    rng = np.random.default_rng(0)
    q = rng.integers(1, 128, (64, 384)) * (rng.random((64, 384)) < 0.25)
    layer = encode_unstructured(q, cfg)
    beats = {bits: encode_unstructured(q, cfg, gap_bits=bits).n_beats for bits in range(1, 7)}
    chosen = layer.settings[Reg.INDEX_BITS]
    assert beats[chosen] == layer.n_beats <= min(beats.values()) * (1 + GAP_BEATS_SLACK)
    assert all(beats[bits] > min(beats.values()) * (1 + GAP_BEATS_SLACK)
               for bits in range(1, chosen))
    assert beats[chosen] > min(beats.values())      # this layer trades a few beats for bits
    with pytest.raises(ValueError, match=r"^Gap codes must be 1 to 6 bits, not 7$"):
        encode_unstructured(q, cfg, gap_bits=7)
    # A memory that holds the fewest beats, not the narrower code's, takes the wider code.
    tight = encode_unstructured(q, dataclasses.replace(cfg, weight_depth=min(beats.values())))
    assert tight.n_beats == min(beats.values())


@pytest.mark.parametrize("every_row", [False, True])
@pytest.mark.parametrize("bits", [1, 3, 6])
def test_words_follow_the_hardware_layout(bits, every_row):
    cfg = AccelConfig(pes=4, max_k=40, max_m=16, weight_depth=256)
    rng = np.random.default_rng(bits)
    q = rng.integers(-127, 128, (9, 37)) * (rng.random((9, 37)) < 0.3)
    q[[2, 8]] = 0
    layer = encode_unstructured(q, cfg, gap_bits=bits, every_row=every_row)
    layout = raw_beat_layout(cfg, bits)
    code = np.zeros_like(layer.weight)
    for beat, words in enumerate(layer.packed):
        view = layout.from_bits(sum(int(word) << (32 * index)
                                    for index, word in enumerate(words)))
        for lane in range(4):
            assert view.weight[lane] == layer.weight[beat, lane]
            code[beat, lane] = sum(view[f"index_{bit}"][lane] << bit for bit in range(bits))
    column, last = decode_gaps(layer.weight, code, 37, layer.n_lanes)
    np.testing.assert_array_equal(column, layer.column)
    np.testing.assert_array_equal(last, layer.last)


@pytest.mark.parametrize("pes", [1, 4, 64])
@pytest.mark.parametrize("sparsity", [0, 0.5, 0.99])
def test_stream_model_matches_golden(pes, sparsity):
    cfg = AccelConfig(pes=pes, max_k=300, max_m=100, weight_depth=30000)
    rng = np.random.default_rng(pes)
    q = rng.integers(-127, 128, (77, 251)) * (rng.random((77, 251)) >= sparsity)
    x = rng.integers(-127, 128, (3, 251))
    layer = encode_unstructured(q, cfg)
    assert layer.nnz == np.count_nonzero(q)
    assert layer.n_beats >= -(-layer.nnz // pes)
    # No beat closes more rows than the output stage writes in a cycle.
    assert layer.last.sum(axis=1).max() <= cfg.output_ports
    np.testing.assert_array_equal(layer.scatter(stream_matvec(layer, x)), golden_matvec(q, x))


def test_wrap_is_twos_complement():
    assert wrap([2**31, -2**31 - 1, 5], 32).tolist() == [-2**31, 2**31 - 1, 5]
    q = np.full((1, 3), 127)
    assert golden_matvec(q, np.full(3, 127), acc_width=16).tolist() == [wrap(3 * 127**2, 16)]


def test_layers_that_do_not_fit_are_refused():
    cfg = AccelConfig(pes=4, max_k=8, max_m=2, weight_depth=2)
    with pytest.raises(ValueError, match=r"^Layer has 9 inputs; this accelerator holds at most 8$"):
        encode_unstructured(np.ones((1, 9), dtype=int), cfg)
    with pytest.raises(ValueError, match=r"^Layer has 3 rows to compute; this accelerator holds "
                                         r"at most 2$"):
        encode_unstructured(np.ones((3, 1), dtype=int), cfg)
    with pytest.raises(ValueError, match=r"^Layer needs 3 beats; this accelerator holds at most 2$"):
        encode_unstructured(np.ones((2, 5), dtype=int), cfg)
    with pytest.raises(ValueError, match=r"^Quantized weights must be within \+-127, not 128$"):
        encode_unstructured(np.full((1, 1), 128), cfg)
    with pytest.raises(TypeError, match=r"^Weights must be quantized integers, not float64$"):
        encode_unstructured(np.ones((1, 1)), cfg)


@pytest.mark.parametrize("pattern", ["dense", "2:4", "1:4", "4:8", "3:16", "bank:16", "tile:4"])
@pytest.mark.parametrize("pes", [1, 4, 64])
def test_grouped_stream_model_matches_golden(pattern, pes):
    from host.encode import encode
    from host.patterns import prune
    cfg = AccelConfig(pes=pes, max_k=300, max_m=100, weight_depth=30000, max_group_width=16)
    rng = np.random.default_rng(pes)
    w = rng.normal(size=(21, 37))
    w[3] = 0
    sparsity = 0.7 if parse_pattern(pattern).needs_sparsity else None
    q = np.rint(prune(w, pattern, sparsity=sparsity) * 30).clip(-127, 127).astype(int)
    x = rng.integers(-127, 128, (2, 37))
    layer = encode(q, cfg, pattern)
    assert layer.rows.tolist()[:21] == list(range(21))
    np.testing.assert_array_equal(layer.scatter(stream_matvec(layer, x)), golden_matvec(q, x))


def test_nm_metadata_is_log2_m_bits():
    from host.encode import encode
    cfg = AccelConfig(pes=64, max_k=384, max_m=64, weight_depth=384)
    q = np.zeros((64, 384), dtype=int)
    q[:, ::2] = 1
    layer = encode(q, cfg, "2:4")
    assert layer.packed_words.tolist() == [20] * layer.n_beats
    assert layer.bits_per_kept_weight(cfg) == 10
    assert layer.metadata_share(cfg) == pytest.approx(0.2)
    dense = encode(np.ones((64, 384), dtype=int), cfg, "dense")
    assert dense.bits_per_kept_weight(cfg) == 8
    assert dense.metadata_share(cfg) == 0


def test_grouped_refuses_a_layer_outside_its_pattern():
    from host.encode import encode
    cfg = AccelConfig(pes=4, max_k=16, max_m=4, weight_depth=16)
    with pytest.raises(ValueError, match=r"^Row 1 has 3 non-zero weights in columns 4 to 7; "
                                         r"the format keeps 2 of every 4$"):
        encode(np.array([[1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 1, 1, 1, 0]]), cfg, "2:4")


def test_grouped_layers_are_split_by_columns_when_their_layout_overflows():
    cfg = AccelConfig(pes=1, max_k=36, max_m=8, weight_depth=4096, max_group_width=8)
    rng = np.random.default_rng(3)
    q = np.rint(prune(rng.normal(size=(4, 35)), "3:7") * 40).clip(-127, 127).astype(int)
    with pytest.raises(LayerTooBig) as error:
        encode(q, cfg, "3:7")                # 5 groups of 7, each at a multiple of 8: 40
    assert (error.value.resource, error.value.needed, error.value.available) == \
        ("inputs", 40, 36)
    tiles = list(tile_layer(q, cfg, "3:7"))
    assert len({tile.col0 for tile in tiles}) > 1
    x = rng.integers(-127, 128, 35)
    total = np.zeros(4, dtype=np.int64)
    for tile in tiles:
        part = tile.layer.scatter(stream_matvec(tile.layer, padded_inputs(
            x[tile.col0:tile.col0 + tile.layer.shape[1]], tile.layer.activation_length)))
        total[tile.row0:tile.row0 + tile.rows] += part
    np.testing.assert_array_equal(total, golden_matvec(q, x))


def test_tiles_too_wide_for_the_compact_buffers_are_split_by_columns():
    cfg = AccelConfig(pes=4, max_k=64, max_m=32, weight_depth=96, compact_depth=2)
    rng = np.random.default_rng(3)
    q = rng.integers(-127, 128, (12, 40)) * (rng.random((12, 40)) < 0.5)
    with pytest.raises(LayerTooBig, match=r"^Tiles use \d+ inputs; this accelerator keeps "
                                          r"at most 8 per tile$"):
        encode(q, cfg, "tile:4")
    pieces = list(tile_layer(q, cfg, "tile:4"))
    assert len({piece.col0 for piece in pieces}) > 1
    assert all(piece.layer.settings[Reg.TILE_LIST_BEATS] <= 2 for piece in pieces)
    x = rng.integers(-127, 128, 40)
    y = np.zeros(12, dtype=np.int64)
    for piece in pieces:
        columns = x[piece.col0:piece.col0 + piece.layer.shape[1]]
        y[piece.row0:piece.row0 + piece.rows] += piece.layer.scatter(
            stream_matvec(piece.layer, columns[None])[0])
    np.testing.assert_array_equal(y, golden_matvec(q, x))


def test_a_tile_list_takes_at_least_two_beats():
    cfg = AccelConfig(pes=4, max_k=64, max_m=32, weight_depth=96)
    q = np.zeros((4, 40), dtype=int)
    q[:, [3, 17]] = 5                       # the tile uses 2 inputs: one beat would hold them
    layer = encode(q, cfg, "tile:4")
    assert layer.settings[Reg.TILE_LIST_BEATS] == 2
    x = np.arange(40) - 20
    np.testing.assert_array_equal(layer.scatter(stream_matvec(layer, x[None])[0]),
                                  golden_matvec(q, x))
