import numpy as np
import pytest

from host.quant import quantize_activations, quantize_weights


def test_weights_follow_the_per_row_rule():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(16, 40)).astype(np.float32)
    q, scale = quantize_weights(w)
    expected_scale = np.abs(w).max(axis=1) / np.float32(127)
    np.testing.assert_array_equal(scale, expected_scale)
    np.testing.assert_array_equal(q, np.clip(np.rint(w / expected_scale[:, None]), -127, 127))
    assert np.abs(q).max(axis=1).tolist() == [127] * 16


def test_rounding_is_half_to_even_and_zero_rows_stay_zero():
    w = np.array([[127.0, 0.5, 1.5, -2.5], [0, 0, 0, 0]])
    q, scale = quantize_weights(w)
    assert q.tolist() == [[127, 0, 2, -2], [0, 0, 0, 0]]
    assert scale.tolist() == [1.0, 0.0]


def test_activations_batch_has_one_scale_per_vector():
    x = np.array([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]])
    q, scale = quantize_activations(x)
    assert q.tolist() == [[64, -127, 32], [0, 0, 0]]
    assert scale.shape == (2,)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(bad):
    w = np.ones((2, 3))
    w[1, 2] = bad
    with pytest.raises(ValueError, match=r"^weights must be finite, but weights\[1, 2\] is "):
        quantize_weights(w)


def test_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"^x must have 1 or 2 dimensions, not shape \(1, 1, 1\)$"):
        quantize_activations(np.zeros((1, 1, 1)))
