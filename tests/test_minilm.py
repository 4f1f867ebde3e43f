"""all-MiniLM-L6-v2 through the accelerator's arithmetic: the NumPy model, the runner, and
the quality harness's smoke version."""

import numpy as np
import pytest

from bench.quality import DigitsMLP, lee_documents, minilm_quality, wordsim_pairs
from host.driver import SparseAccel
from host.golden import golden_matvec, wrap
from host.minilm import LINEARS, MiniLM, linear_inputs
from host.runner import LayerChoice, SparseModel, prune_plan


TEXTS = ["The cat sat on the mat.", "A kitten rests on a rug.", "Stock markets fell sharply."]


def test_the_model_has_37_linears_and_unit_embeddings():
    assert len(LINEARS) == 37
    embeddings = MiniLM().embed(TEXTS)
    assert embeddings.shape == (3, 384)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1)
    similar, unrelated = embeddings[0] @ embeddings[1], embeddings[0] @ embeddings[2]
    assert similar > unrelated + 0.3
    with pytest.raises(TypeError, match=r"^texts must be a list of strings, not one string$"):
        MiniLM().embed("one text")


def test_int8_embeddings_stay_close_to_float():
    float_embeddings = SparseModel(quantize=False).embed(TEXTS)
    assert np.allclose(float_embeddings, MiniLM().embed(TEXTS), atol=1e-5)
    int8 = SparseModel().embed(TEXTS)
    assert (np.sum(int8 * float_embeddings, axis=1) > 0.99).all()


def test_golden_matvec_is_exact_on_its_fast_path():
    rng = np.random.default_rng(7)
    q = rng.integers(-127, 128, (50, 1536))
    x = rng.integers(-127, 128, (9, 1536))
    q[0] = 127
    x[0] = -127
    exact = wrap(np.einsum("mk,bk->bm", q.astype(object), x.astype(object)).astype(np.int64),
                 32)
    assert np.array_equal(golden_matvec(q, x), exact)
    huge = np.full((1, 4), 1 << 30)     # partial sums past 2**53: the integer path
    assert np.array_equal(golden_matvec(huge, huge), wrap(np.array([[1 << 62]]), 32))


def test_pruned_layers_on_the_simulated_board_agree_exactly():
    name = "encoder.layer.0.attention.self.query"
    inputs = linear_inputs(TEXTS[:2])
    weights = prune_plan({name: LayerChoice("2:4")}, inputs)
    golden = SparseModel(weights)
    with SparseAccel() as accel:
        board = SparseModel(weights, accelerator=accel, board_layers=[name])
        text = ["Cats sleep."]
        assert np.array_equal(board.embed(text), golden.embed(text))
        assert board.board_seconds > 0


def test_quality_harness_smoke():
    documents, ratings = lee_documents()
    assert len(documents) == 50 and ratings.shape == (50, 50)
    pairs, scores = wordsim_pairs()
    assert len(pairs) == 353 and 0 <= scores.min() and scores.max() <= 10
    figures = minilm_quality(SparseModel(), documents=10, wordsim=False)
    assert 0.3 < figures["lee_pearson"] <= 1
    assert 0.99 < figures["cosine_to_dense"] <= 1 + 1e-9

    mlp = DigitsMLP()
    dense = mlp.accuracy()
    assert dense > 0.93
    assert abs(dense - mlp.accuracy(quantize=False)) < 0.02
    magnitude = mlp.accuracy(mlp.pruned(LayerChoice("2:4", method="magnitude")))
    reconstructed = mlp.accuracy(mlp.pruned(LayerChoice("2:4", method="reconstruct")))
    assert reconstructed > magnitude
