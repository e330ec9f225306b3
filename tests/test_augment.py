"""Tests of solutions/augment.py."""

import numpy as np
import pytest

from solutions import add_noise, random_shift, shift_and_noise


def test_random_shift_moves_each_sequence_by_at_most_max_shift():
    rng = np.random.default_rng(0)
    X = np.zeros((50, 1, 30))
    X[:, 0, 15] = 1.0  # a single spike in the middle
    out = random_shift(X, 3, rng)
    pos = out[:, 0].argmax(axis=1)
    assert out.shape == X.shape and np.all(out.sum(axis=(1, 2)) == 1.0)
    assert set(pos - 15) == {-3, -2, -1, 0, 1, 2, 3}  # all offsets occur in 50 draws


def test_random_shift_fills_with_zeros_not_wrapped_values():
    X = np.arange(1.0, 11.0)[None, None, :].repeat(40, axis=0)
    out = random_shift(X, 2, np.random.default_rng(1))
    for row in out[:, 0]:
        nz = row[row != 0]
        assert np.all(np.diff(nz) == 1)  # contiguous run: nothing wrapped round


def test_add_noise_scale_and_input_untouched():
    rng = np.random.default_rng(2)
    X = np.zeros((200, 2, 50))
    out = add_noise(X, 0.5, rng)
    assert np.all(X == 0)
    assert out.std() == pytest.approx(0.5, rel=0.05)


def test_shift_and_noise_is_reproducible_from_the_rng():
    X = np.random.default_rng(3).normal(size=(8, 1, 20))
    aug = shift_and_noise(2, 0.1)
    first, again = aug(X, np.random.default_rng(5)), aug(X, np.random.default_rng(5))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, X)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_shift"):
        shift_and_noise(-1)
    with pytest.raises(ValueError, match="X"):
        random_shift(np.zeros((3, 4)), 1, np.random.default_rng(0))
