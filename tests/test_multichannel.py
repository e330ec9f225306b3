"""Tests of solutions/multichannel.py: the stage-3 Conv1d (one sample, loops).

Tolerances:
- worked numbers of the source course (DIC Problem 4): exact up to 1e-12;
- against the vectorised solutions.conv.Conv1d and PyTorch (float64): 1e-12 / 1e-10
  relative to the largest magnitude;
- centred-difference gradient checks (float64, h = 1e-5): 1e-7 relative error.
"""

import numpy as np
import pytest

from solutions.conv import Conv1d as FastConv1d
from solutions.gradcheck import check_layer_gradients
from solutions.multichannel import Conv1d

X = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]])
W = np.ones((3, 2, 3))
B = np.array([1.0, 2.0, 3.0])


def random_layer(rng, C_in, C_out, L, F):
    x = rng.standard_normal((C_in, L))
    w = rng.standard_normal((C_out, C_in, F))
    b = rng.standard_normal(C_out)
    return x, w, b


def test_worked_example():
    out = Conv1d(W, B).forward(X)
    np.testing.assert_allclose(out, [[16.0, 22.0], [17.0, 23.0], [18.0, 24.0]], rtol=0,
                               atol=1e-12)


def test_worked_example_backward():
    layer = Conv1d(W, B)
    layer.forward(X)
    dout = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    dx = layer.backward(dout)
    # every tap weight is 1: dx[c, j] counts the (o, i) with i <= j < i + F, weighted by dout
    np.testing.assert_allclose(dx, [[2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0]], atol=1e-12)
    np.testing.assert_allclose(layer.db, [1.0, 1.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(layer.dw[0], X[:, 0:3], atol=1e-12)
    np.testing.assert_allclose(layer.dw[1], X[:, 1:4], atol=1e-12)
    np.testing.assert_allclose(layer.dw[2], X[:, 0:3] + X[:, 1:4], atol=1e-12)


def test_one_channel_matches_stage_one():
    from solutions.conv import SimpleConv1d

    x, w = np.array([1.0, 2.0, 3.0, 4.0]), np.array([3.0, 5.0, 7.0])
    out = Conv1d(w[None, None], np.array([1.0])).forward(x[None])
    np.testing.assert_allclose(out[0], SimpleConv1d(w, np.array([1.0])).forward(x))
    np.testing.assert_allclose(out[0], [35.0, 50.0])


@pytest.mark.parametrize("seed", range(6))
def test_matches_vectorised_conv1d(seed):
    rng = np.random.default_rng(seed)
    C_in, C_out = (int(v) for v in rng.integers(1, 5, size=2))
    L = int(rng.integers(1, 20))
    F = int(rng.integers(1, L + 1))
    x, w, b = random_layer(rng, C_in, C_out, L, F)
    ours, fast = Conv1d(w, b), FastConv1d(w, b)
    np.testing.assert_allclose(ours.forward(x), fast.forward(x), rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal((C_out, L - F + 1))
    np.testing.assert_allclose(ours.backward(dout), fast.backward(dout), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(ours.dw, fast.dw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.db, fast.db, rtol=1e-12, atol=1e-12)


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, w, b = random_layer(rng, 3, 4, 15, 5)
    layer = Conv1d(w, b)
    out = layer.forward(x)
    xt = torch.tensor(x[None], requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    ot = torch.nn.functional.conv1d(xt, wt, bt)
    np.testing.assert_allclose(out, ot.detach().numpy()[0], rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    ot.backward(torch.tensor(dout[None]))
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy()[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.dw, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.db, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("C_in", "C_out", "L", "F"), [(1, 1, 5, 1), (2, 3, 9, 3), (4, 2, 7, 7),
                                                      (3, 5, 12, 4)])
def test_numerical_gradients(C_in, C_out, L, F):
    rng = np.random.default_rng(C_in * 100 + F)
    x, w, b = random_layer(rng, C_in, C_out, L, F)
    errors = check_layer_gradients(Conv1d(w, b), x)
    assert set(errors) == {"dx", "dw", "db"}
    assert max(errors.values()) < 1e-7, errors


def test_inputs_unchanged_and_cache_is_a_copy():
    rng = np.random.default_rng(3)
    x, w, b = random_layer(rng, 2, 3, 8, 3)
    keep = [a.copy() for a in (x, w, b)]
    layer = Conv1d(w, b)
    layer.forward(x)
    dout = rng.standard_normal((3, 6))
    dout_keep = dout.copy()
    expected_dw = FastConv1d(w, b)
    expected_dw.forward(x)
    expected_dw.backward(dout)
    x += 1.0  # the caller changes x after forward: the layer remembered its own copy
    layer.backward(dout)
    np.testing.assert_allclose(layer.dw, expected_dw.dw)
    for before, after in zip(keep[1:], (w, b), strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(dout, dout_keep)


def test_float32_stays_float32():
    rng = np.random.default_rng(4)
    x, w, b = (a.astype(np.float32) for a in random_layer(rng, 2, 2, 6, 3))
    layer = Conv1d(w, b)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones((2, 4), dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize(("w", "b", "error", "match"), [
    (np.ones((3, 2)), np.ones(3), ValueError, "w must have 3 dimensions"),
    (np.ones((3, 2, 3)), np.ones(2), ValueError, "b must have the shape of"),
    (np.ones((3, 2, 3)), np.ones((3, 1)), ValueError, "b must have 1 dimensions"),
    (np.ones((3, 2, 3), dtype=int), np.ones(3), TypeError, "w must be a floating-point"),
    (np.ones((0, 2, 3)), np.ones(0), ValueError, "C_out, C_in and F all >= 1"),
])
def test_constructor_errors(w, b, error, match):
    with pytest.raises(error, match=match):
        Conv1d(w, b)


def test_forward_and_backward_errors():
    layer = Conv1d(W, B)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(ValueError, match="C_in = 2 channels"):
        layer.forward(np.ones((3, 4)))
    with pytest.raises(ValueError, match="shorter than the kernels"):
        layer.forward(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"x must have 2 dimensions \(C_in, L\)"):
        layer.forward(np.ones((1, 2, 4)))
    layer.forward(X)
    with pytest.raises(ValueError, match="dout must have the shape of the forward output"):
        layer.backward(np.ones((3, 3)))


def test_layer_protocol():
    layer = Conv1d(W, B)
    assert [name for name, _, _ in layer.parameters()] == ["w", "b"]
    layer.forward(X)
    layer.backward(np.ones((3, 2)))
    layer.zero_grad()
    assert not layer.dw.any() and not layer.db.any()
