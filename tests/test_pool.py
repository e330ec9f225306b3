"""Tests of solutions/pool.py: MaxPool1d and AvgPool1d.

Tolerances: worked examples and max pooling exact; PyTorch (float64) 1e-10
relative; centred-difference gradient checks 1e-7; float32 vs float64 1e-6.
"""

import numpy as np
import pytest

from solutions.gradcheck import check_layer_gradients
from solutions.pool import AvgPool1d, MaxPool1d

POOLS = (MaxPool1d, AvgPool1d)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def rel_diff(actual, expected):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    return float(np.max(np.abs(actual - expected)) / max(1e-12, np.max(np.abs(expected))))


# --------------------------------------------------------------------------
# Worked examples.
# --------------------------------------------------------------------------

X6 = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 0.0])


def test_max_pool_worked_example():
    pool = MaxPool1d(2)
    np.testing.assert_array_equal(pool.forward(X6[None]), [[3.0, 5.0, 4.0]])
    dx = pool.backward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(dx, [[0.0, 1.0, 0.0, 2.0, 3.0, 0.0]])


def test_avg_pool_worked_example():
    pool = AvgPool1d(2)
    np.testing.assert_allclose(pool.forward(X6[None]), [[2.0, 3.5, 2.0]], rtol=0, atol=1e-15)
    dx = pool.backward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_allclose(dx, [[0.5, 0.5, 1.0, 1.0, 1.5, 1.5]], rtol=0, atol=1e-15)


def test_overlapping_avg_pool_adds_shared_gradients():
    pool = AvgPool1d(3, stride=2)
    out = pool.forward(np.array([[0.0, 3.0, 6.0, 3.0, 0.0]]))
    np.testing.assert_allclose(out, [[3.0, 3.0]], rtol=0, atol=1e-15)
    dx = pool.backward(np.array([[3.0, 6.0]]))
    np.testing.assert_allclose(dx, [[1.0, 1.0, 3.0, 2.0, 2.0]], rtol=0, atol=1e-15)


@pytest.mark.parametrize("Pool", POOLS)
def test_stride_defaults_to_kernel_size(Pool):
    pool = Pool(3)
    assert pool.stride == 3
    assert pool.forward(np.zeros((2, 1, 10))).shape == (2, 1, 3)
    assert Pool(3, stride=1).forward(np.zeros((2, 1, 10))).shape == (2, 1, 8)


# --------------------------------------------------------------------------
# Ties: the gradient goes to the first maximum.
# --------------------------------------------------------------------------


def test_max_pool_ties_go_to_the_first_maximum():
    # Overlapping AlexNet-style pooling 3/2: windows [1 3 3], [3 2 5], [5 5 0].
    pool = MaxPool1d(3, stride=2)
    x = np.array([[1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 0.0]])
    np.testing.assert_array_equal(pool.forward(x), [[3.0, 5.0, 5.0]])
    dx = pool.backward(np.ones((1, 3)))
    # Index 4 is the first maximum of two windows: it receives both gradients.
    np.testing.assert_array_equal(dx, [[0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 0.0]])


def test_max_pool_constant_input():
    pool = MaxPool1d(3, stride=1)
    pool.forward(np.zeros((1, 6)))
    dx = pool.backward(np.array([[1.0, 2.0, 4.0, 8.0]]))
    np.testing.assert_array_equal(dx, [[1.0, 2.0, 4.0, 8.0, 0.0, 0.0]])


def test_max_pool_ties_match_torch(torch):
    """Inputs with many ties: PyTorch (CPU) also sends the gradient to the first maximum."""
    rng = np.random.default_rng(0)
    for K, S in [(2, 2), (3, 1), (3, 2), (4, 3), (5, 2)]:
        x = rng.integers(0, 3, size=(2, 3, 14)).astype(float)
        pool = MaxPool1d(K, S)
        out = pool.forward(x)
        dout = rng.standard_normal(out.shape)
        xt = torch.tensor(x, requires_grad=True)
        out_t = torch.nn.functional.max_pool1d(xt, K, S)
        out_t.backward(torch.tensor(dout))
        np.testing.assert_array_equal(out, out_t.detach().numpy())
        np.testing.assert_allclose(pool.backward(dout), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------
# PyTorch as the gold reference.
# --------------------------------------------------------------------------

POOL_SEEDS = range(40)


def pool_config(seed):
    rng = np.random.default_rng(500 + seed)
    K = 1 + seed % 5
    S = None if seed % 4 == 0 else int(rng.integers(1, 4))
    L = int(rng.integers(K, 16))
    N, C = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    batched = seed % 3 != 0
    return K, S, L, N, C, batched


def test_pool_configs_cover_the_brief():
    cfgs = [pool_config(s) for s in POOL_SEEDS]
    assert {c[0] for c in cfgs} == {1, 2, 3, 4, 5}
    assert {c[1] for c in cfgs} == {None, 1, 2, 3}
    assert any(c[1] is not None and c[1] < c[0] for c in cfgs)  # overlapping windows
    assert any(c[2] == c[0] for c in cfgs)  # one window covers the input
    assert {c[5] for c in cfgs} == {True, False}


@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
@pytest.mark.parametrize("seed", POOL_SEEDS, ids=[f"seed{s}" for s in POOL_SEEDS])
def test_pool_matches_torch(torch, seed, Pool):
    K, S, L, N, C, batched = pool_config(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, L) if batched else (C, L))  # continuous: no ties
    xt = torch.tensor(x, requires_grad=True)
    f = torch.nn.functional.max_pool1d if Pool is MaxPool1d else torch.nn.functional.avg_pool1d
    out_t = f(xt, K, S)
    dout = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.tensor(dout))

    pool = Pool(K, S)
    out = pool.forward(x)
    dx = pool.backward(dout)
    cfg = f"K={K} S={S} x.shape={x.shape}"
    assert rel_diff(out, out_t.detach().numpy()) <= 1e-10, f"out, {cfg}"
    assert rel_diff(dx, xt.grad.numpy()) <= 1e-10, f"dx, {cfg}"


# --------------------------------------------------------------------------
# Numerical gradient checks.
# --------------------------------------------------------------------------

GRAD_SETTINGS = [(2, None), (3, 2), (3, 1), (1, 1), (4, 3)]


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize(("K", "S"), GRAD_SETTINGS)
@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
def test_pool_gradcheck(Pool, K, S, rank):
    rng = np.random.default_rng(10 * K + rank)
    shape = (2, 3, 11) if rank == 3 else (3, 11)
    # A permutation of values 0.1 apart: no ties, and no two values of a window
    # within the step h = 1e-5, so max pooling is differentiable at x.
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1 - 3.0
    errors = check_layer_gradients(Pool(K, S), x, seed=K)
    assert set(errors) == {"dx"}
    assert errors["dx"] <= 1e-7, errors


# --------------------------------------------------------------------------
# Errors, inputs untouched, dtypes.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(kernel_size=0), ValueError, r"kernel_size must be an integer >= 1, got 0"),
        (dict(kernel_size=True), TypeError, r"kernel_size must be an integer, got True"),
        (dict(kernel_size=2.0), TypeError, r"kernel_size must be an integer, got 2\.0"),
        (dict(kernel_size=2, stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
        (dict(kernel_size=2, stride=1.5), TypeError, r"stride must be an integer, got 1\.5"),
    ],
)
def test_pool_constructor_errors(Pool, kwargs, error, match):
    with pytest.raises(error, match=match):
        Pool(**kwargs)


@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (np.ones(8), ValueError, r"x must have 2 or 3 dimensions.*\(8,\)"),
        (np.ones((1, 1, 1, 8)), ValueError, r"x must have 2 or 3 dimensions"),
        (np.ones((1, 1, 8), dtype=int), TypeError, r"x must be a floating-point.*int"),
        (np.array([[[1.0, np.nan, 2.0, 3.0]]]), ValueError, r"x contains NaN.*\(0, 0, 1\)"),
        (np.ones((1, 1, 2)), ValueError, r"kernel_size=3 is longer than the input x.*L=2"),
    ],
    ids=["rank1", "rank4", "int", "nan", "kernel_too_long"],
)
def test_pool_forward_errors(Pool, x, error, match):
    with pytest.raises(error, match=match):
        Pool(3).forward(x)


@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
def test_pool_backward_errors(Pool):
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        Pool(2).backward(np.ones((1, 1, 3)))
    pool = Pool(2)
    pool.forward(np.ones((2, 3, 8)))
    with pytest.raises(ValueError, match=r"dout must have the shape.*\(2, 3, 4\).*\(2, 3, 5\)"):
        pool.backward(np.ones((2, 3, 5)))
    with pytest.raises(ValueError, match=r"dout must have 3 dimensions"):
        pool.backward(np.ones((3, 4)))
    with pytest.raises(TypeError, match=r"dout must be a floating-point"):
        pool.backward(np.ones((2, 3, 4), dtype=int))


@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
def test_pool_leaves_inputs_unmodified(Pool):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 9))
    x_copy = x.copy()
    pool = Pool(3, stride=2)
    dout = rng.standard_normal(pool.forward(x).shape)
    dout_copy = dout.copy()
    pool.backward(dout)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(dout, dout_copy)


@pytest.mark.parametrize("Pool", POOLS, ids=["max", "avg"])
def test_pool_float32(Pool):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 10))
    p64, p32 = Pool(3, stride=2), Pool(3, stride=2)
    out64, out32 = p64.forward(x), p32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    assert rel_diff(out32, out64) <= 1e-6
    dout = rng.standard_normal(out64.shape)
    dx64, dx32 = p64.backward(dout), p32.backward(dout.astype(np.float32))
    assert dx32.dtype == np.float32
    assert rel_diff(dx32, dx64) <= 1e-6
