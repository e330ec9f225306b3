"""Tests of solutions/padding.py: pad1d, its gradient pad1d_backward, source_index.

Padding copies or fills values, so the forward comparisons are exact; the
adjoint identity <pad(x), g> == <x, pad_backward(g)> holds to 1e-12 relative.
"""

import numpy as np
import pytest

from solutions.padding import PADDING_MODES, pad1d, pad1d_backward, source_index

X = np.array([1.0, 2.0, 3.0, 4.0])  # the docstring's [a, b, c, d]

# Largest padding each mode can build from an input of length L.
LIMIT = {"reflect": lambda L: L - 1, "symmetric": lambda L: L, "circular": lambda L: L}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("zeros", [0, 0, 1, 2, 3, 4, 0, 0]),
        ("constant", [9, 9, 1, 2, 3, 4, 9, 9]),
        ("reflect", [3, 2, 1, 2, 3, 4, 3, 2]),
        ("symmetric", [2, 1, 1, 2, 3, 4, 4, 3]),
        ("replicate", [1, 1, 1, 2, 3, 4, 4, 4]),
        ("circular", [3, 4, 1, 2, 3, 4, 1, 2]),
    ],
)
def test_docstring_example(mode, expected):
    out = pad1d(X, 2, 2, mode, value=9.0)
    np.testing.assert_array_equal(out, np.array(expected, dtype=float))
    assert out.dtype == X.dtype


def test_every_mode_is_in_the_example():
    assert set(PADDING_MODES) == {
        "zeros",
        "constant",
        "reflect",
        "symmetric",
        "replicate",
        "circular",
    }


def test_reflect_and_symmetric_differ():
    """reflect mirrors without repeating the edge sample, symmetric repeats it."""
    reflect, symmetric = pad1d(X, 1, 1, "reflect"), pad1d(X, 1, 1, "symmetric")
    np.testing.assert_array_equal(reflect, [2, 1, 2, 3, 4, 3])
    np.testing.assert_array_equal(symmetric, [1, 1, 2, 3, 4, 4])
    assert not np.array_equal(reflect, symmetric)


def test_asymmetric_padding():
    np.testing.assert_array_equal(pad1d(X, 0, 3, "circular"), [1, 2, 3, 4, 1, 2, 3])
    np.testing.assert_array_equal(pad1d(X, 3, 0, "reflect"), [4, 3, 2, 1, 2, 3, 4])
    np.testing.assert_array_equal(pad1d(X, 1, 2, "constant", value=-1.0), [-1, 1, 2, 3, 4, -1, -1])


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_no_padding_is_identity(mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5))
    np.testing.assert_array_equal(pad1d(x, 0, 0, mode), x)
    np.testing.assert_array_equal(pad1d_backward(x, 0, 0, mode), x)


NP_MODES = {"reflect": "reflect", "symmetric": "symmetric", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", sorted(NP_MODES))
def test_matches_np_pad(mode):
    rng = np.random.default_rng(1)
    for L in (1, 2, 3, 5, 8):
        limit = LIMIT.get(mode, lambda L: 3 * L)(L)
        for _ in range(6):
            left, right = (int(v) for v in rng.integers(0, limit + 1, size=2))
            x = rng.standard_normal((2, 3, L))
            expected = np.pad(x, [(0, 0), (0, 0), (left, right)], mode=NP_MODES[mode])
            np.testing.assert_array_equal(
                pad1d(x, left, right, mode), expected, err_msg=f"L={L} pads=({left}, {right})"
            )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_matches_torch_pad(torch, mode):
    rng = np.random.default_rng(2)
    for L in (1, 2, 4, 7):
        limit = LIMIT.get(mode, lambda L: 3 * L)(L)
        for _ in range(4):
            left, right = (int(v) for v in rng.integers(0, limit + 1, size=2))
            x = rng.standard_normal((2, 3, L))
            kwargs = {"value": 0.25} if mode == "constant" else {}
            expected = torch.nn.functional.pad(
                torch.tensor(x), (left, right), mode=mode, **kwargs
            ).numpy()
            np.testing.assert_array_equal(
                pad1d(x, left, right, mode, value=0.25),
                expected,
                err_msg=f"L={L} pads=({left}, {right})",
            )


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "replicate", "circular"])
def test_source_index(mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(6)
    idx = source_index(6, 3, 2, mode)
    assert idx.shape == (3 + 6 + 2,)
    assert idx.min() >= 0 and idx.max() <= 5
    np.testing.assert_array_equal(idx[3:9], np.arange(6))
    np.testing.assert_array_equal(x[idx], pad1d(x, 3, 2, mode))


ADJOINT_PADS = [(0, 0), (1, 0), (0, 2), (2, 2), (3, 1), (4, 5)]


@pytest.mark.parametrize("pads", ADJOINT_PADS, ids=[f"{lo}-{hi}" for lo, hi in ADJOINT_PADS])
@pytest.mark.parametrize("mode", PADDING_MODES)
def test_backward_is_the_adjoint(mode, pads):
    """<pad(x) - pad(0), g> == <x, pad_backward(g)>: the constant part carries no gradient."""
    left, right = pads
    rng = np.random.default_rng(4)
    L = 5
    limit = LIMIT.get(mode, lambda L: 3 * L)(L)
    if max(pads) > limit:
        left, right = min(left, limit), min(right, limit)
    x = rng.standard_normal((2, 3, L))
    g = rng.standard_normal((2, 3, left + L + right))
    g_copy = g.copy()
    linear = pad1d(x, left, right, mode, value=0.6) - pad1d(
        np.zeros_like(x), left, right, mode, value=0.6
    )
    dx = pad1d_backward(g, left, right, mode)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(g, g_copy)
    lhs, rhs = np.sum(linear * g), np.sum(x * dx)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12 * np.abs(g).sum())


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("zeros", [1, 1, 1, 1]),
        ("constant", [1, 1, 1, 1]),
        ("reflect", [1, 3, 3, 1]),  # c b | a b c d | c b
        ("symmetric", [2, 2, 2, 2]),  # b a | a b c d | d c
        ("replicate", [3, 1, 1, 3]),  # a a | a b c d | d d
        ("circular", [2, 2, 2, 2]),  # c d | a b c d | a b
    ],
)
def test_backward_counts_the_copies(mode, expected):
    """With an all-ones gradient, each input receives the number of its copies."""
    np.testing.assert_array_equal(pad1d_backward(np.ones(8), 2, 2, mode), expected)


def test_backward_on_higher_rank():
    g = np.arange(2 * 8, dtype=float).reshape(2, 8)
    dx = pad1d_backward(g, 2, 2, "replicate")
    expected = [[0 + 1 + 2, 3, 4, 5 + 6 + 7], [8 + 9 + 10, 11, 12, 13 + 14 + 15]]
    np.testing.assert_array_equal(dx, expected)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_pad_leaves_input_unmodified(mode):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6))
    x_copy = x.copy()
    out = pad1d(x, 2, 3, mode, value=1.0)
    out[...] = 0.0  # writing to the result must not reach x either
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize(
    ("mode", "L", "ok", "too_much"),
    [
        ("reflect", 4, 3, 4),
        ("reflect", 1, 0, 1),
        ("symmetric", 4, 4, 5),
        ("circular", 4, 4, 5),
        ("circular", 1, 1, 2),
    ],
)
def test_padding_too_large(mode, L, ok, too_much):
    x = np.arange(L, dtype=float)
    assert pad1d(x, ok, ok, mode).shape == (L + 2 * ok,)
    match = rf"padding={too_much} is too large for padding_mode='{mode}'.*length {L}"
    with pytest.raises(ValueError, match=match):
        pad1d(x, too_much, too_much, mode)
    with pytest.raises(ValueError, match=match):
        pad1d(x, 0, too_much, mode)
    with pytest.raises(ValueError, match=match):
        pad1d_backward(np.ones(L + too_much), too_much, 0, mode)


def test_replicate_has_no_limit():
    np.testing.assert_array_equal(pad1d(np.array([2.0]), 3, 4, "replicate"), np.full(8, 2.0))


def test_unknown_mode():
    with pytest.raises(ValueError, match=r"padding_mode must be one of.*'mirror'"):
        pad1d(X, 1, 1, "mirror")


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_pad1d_never_returns_the_callers_array(mode):
    """A layer keeps x_pad for its backward: with nothing to pad it must still be a copy,
    or the caller's later in-place change would reach the cached input (issue 20)."""
    x = np.arange(6.0).reshape(2, 3)
    for left, right in ((0, 0), (1, 2)):
        out = pad1d(x, left, right, mode)
        assert not np.shares_memory(out, x)
    dx_pad = np.ones((2, 3))
    assert not np.shares_memory(pad1d_backward(dx_pad, 0, 0, mode), dx_pad)
