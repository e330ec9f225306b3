"""Tests of solutions.conv.output_size (stage 2).

L_out = floor((L + 2P - D*(F - 1) - 1) / S) + 1; integers, so every
comparison is exact.
"""

import numpy as np
import pytest

from solutions.conv import Conv1d, output_size
from solutions.pool import AvgPool1d, MaxPool1d


@pytest.mark.parametrize(
    ("n_in", "filter_size", "padding", "stride", "dilation", "expected"),
    [
        (4, 3, 0, 1, 1, 2),  # the worked example: [35, 50]
        (10, 3, 0, 1, 1, 8),  # valid: L - F + 1
        (10, 3, 1, 1, 1, 10),  # same: P = (F - 1) / 2
        (10, 5, 2, 1, 1, 10),
        (10, 3, 2, 1, 1, 12),  # full: P = F - 1 gives L + F - 1
        (10, 1, 0, 1, 1, 10),
        (10, 10, 0, 1, 1, 1),  # the kernel covers the whole input
        (10, 3, 0, 2, 1, 4),
        (10, 3, 0, 3, 1, 3),
        (11, 3, 0, 2, 1, 5),
        (10, 3, 0, 1, 2, 6),  # dilated span D*(F-1)+1 = 5
        (10, 3, 2, 1, 2, 10),  # same with dilation: P = D*(F-1)/2
        (1, 1, 0, 5, 1, 1),
        (1, 3, 1, 1, 1, 1),
        (227, 11, 0, 4, 1, 55),  # AlexNet's first layer (seed S2): (227 - 11) / 4 + 1
        (55, 3, 0, 2, 1, 27),  # AlexNet's overlapping pooling 3/2
        (40, 5, 1, 2, 1, 19),  # MNIST-1D CNN: conv 1->25 k5 s2 p1
        (19, 3, 1, 2, 1, 10),  # then 25->25 k3 s2 p1
        (10, 3, 1, 2, 1, 5),  # and again: 25 * 5 = 125 features into the linear layer
    ],
)
def test_formula_table(n_in, filter_size, padding, stride, dilation, expected):
    got = output_size(n_in, filter_size, padding=padding, stride=stride, dilation=dilation)
    assert got == expected
    assert type(got) is int


def test_defaults_are_valid_stride_one():
    assert output_size(7, 3) == 5


def test_numpy_integers_are_accepted():
    assert output_size(np.int64(40), np.int32(5), np.int64(1), np.int8(2)) == 19


def test_formula_against_brute_force():
    """Count the window starts that fit, for a randomised sweep."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        L, F, P = int(rng.integers(1, 30)), int(rng.integers(1, 8)), int(rng.integers(0, 5))
        S, D = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        span = D * (F - 1) + 1
        starts = [i for i in range(0, L + 2 * P, S) if i + span <= L + 2 * P]
        if not starts:
            with pytest.raises(ValueError):
                output_size(L, F, P, S, D)
        else:
            assert output_size(L, F, P, S, D) == len(starts), (L, F, P, S, D)


def test_matches_conv1d_shape():
    """The shape Conv1d actually produces, over a randomised sweep."""
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(150):
        L, F, P = int(rng.integers(1, 20)), int(rng.integers(1, 7)), int(rng.integers(0, 4))
        S, D = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if D * (F - 1) + 1 > L + 2 * P:
            continue
        layer = Conv1d(np.zeros((2, 1, F)), np.zeros(2), stride=S, padding=P, dilation=D)
        out = layer.forward(rng.standard_normal((1, 1, L)))
        assert out.shape == (1, 2, output_size(L, F, P, S, D)), (L, F, P, S, D)
        checked += 1
    assert checked > 100


def test_matches_pooling_shape():
    rng = np.random.default_rng(2)
    for _ in range(60):
        K, S = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        L = int(rng.integers(K, 20))
        x = rng.standard_normal((1, 2, L))
        for pool in (MaxPool1d(K, S), AvgPool1d(K, S)):
            assert pool.forward(x).shape == (1, 2, output_size(L, K, 0, S)), (L, K, S)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((3, 5), r"spans D\*\(F-1\)\+1 = 5.*filter_size=5.*L\+2P = 3.*n_in=3, padding=0"),
        ((3, 2, 0, 1, 3), r"= 4 samples.*filter_size=2, dilation=3.*n_in=3"),
        ((2, 7, 2), r"L\+2P = 6 \(n_in=2, padding=2\)"),
    ],
)
def test_no_output_position(args, match):
    with pytest.raises(ValueError, match=match):
        output_size(*args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(stride=1.5), r"stride must be an integer, got 1\.5"),
        (dict(stride=True), r"stride must be an integer, got True"),
        (dict(stride=np.bool_(True)), r"stride must be an integer"),
        (dict(padding=1.0), r"padding must be an integer, got 1\.0"),
        (dict(dilation=2.0), r"dilation must be an integer"),
        (dict(n_in=10.0), r"n_in must be an integer"),
        (dict(filter_size="3"), r"filter_size must be an integer, got '3'"),
        (dict(n_in=None), r"n_in must be an integer, got None"),
    ],
)
def test_type_errors(kwargs, match):
    args = dict(n_in=10, filter_size=3) | kwargs
    with pytest.raises(TypeError, match=match):
        output_size(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(stride=0), r"stride must be an integer >= 1, got 0"),
        (dict(stride=-2), r"stride must be an integer >= 1, got -2"),
        (dict(padding=-1), r"padding must be an integer >= 0, got -1"),
        (dict(dilation=0), r"dilation must be an integer >= 1, got 0"),
        (dict(filter_size=0), r"filter_size must be an integer >= 1, got 0"),
        (dict(n_in=0), r"n_in must be an integer >= 1, got 0"),
    ],
)
def test_value_errors(kwargs, match):
    args = dict(n_in=10, filter_size=3) | kwargs
    with pytest.raises(ValueError, match=match):
        output_size(**args)
