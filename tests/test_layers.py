"""Tests of solutions/layers.py: Linear, Flatten, Dropout."""

import numpy as np
import pytest

from solutions.gradcheck import check_layer_gradients, numerical_gradient, rel_error
from solutions.layers import Dropout, Flatten, Linear

# Float64 centred differences with h = 1e-5 on a linear layer: the error is
# pure rounding, far below this bound.
GRAD_TOL = 1e-7


def make_linear(rng, n_in=5, n_out=3):
    return Linear(rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out))


# --------------------------------------------------------------------------
# Linear
# --------------------------------------------------------------------------

def test_linear_forward_matches_formula():
    rng = np.random.default_rng(0)
    layer = make_linear(rng)
    x = rng.standard_normal((4, 5))
    expected = np.array([[x[n] @ layer.w[j] + layer.b[j] for j in range(3)] for n in range(4)])
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_linear_gradients_numerically():
    rng = np.random.default_rng(1)
    layer = make_linear(rng, 6, 4)
    errors = check_layer_gradients(layer, rng.standard_normal((5, 6)))
    assert set(errors) == {"dx", "dw", "db"}
    for name, err in errors.items():
        assert err <= GRAD_TOL, f"{name}: relative error {err:.2e}"


def test_linear_leading_axes_are_batch_axes():
    rng = np.random.default_rng(2)
    layer = make_linear(rng, 4, 2)
    x = rng.standard_normal((3, 5, 4))
    out = layer.forward(x)
    assert out.shape == (3, 5, 2)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dw3, db3 = layer.dw.copy(), layer.db.copy()
    layer.forward(x.reshape(15, 4))
    np.testing.assert_allclose(dx, layer.backward(dout.reshape(15, 2)).reshape(3, 5, 4),
                               rtol=1e-12)
    np.testing.assert_allclose(dw3, layer.dw, rtol=1e-12)
    np.testing.assert_allclose(db3, layer.db, rtol=1e-12)


def test_linear_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    layer = make_linear(rng, 7, 4)
    x = rng.standard_normal((6, 7))
    dout = rng.standard_normal((6, 4))
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.w, requires_grad=True)
    bt = torch.tensor(layer.b, requires_grad=True)
    out_t = torch.nn.functional.linear(xt, wt, bt)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(layer.forward(x), out_t.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.dw, wt.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(layer.db, bt.grad.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("scheme, std", [("he", np.sqrt(2 / 200)), ("xavier", np.sqrt(2 / 300))])
def test_linear_init_shapes_and_scale(scheme, std):
    rng = np.random.default_rng(4)
    layer = Linear.init(200, 100, rng, scheme=scheme)
    assert layer.w.shape == (100, 200) and layer.b.shape == (100,)
    assert not layer.b.any()
    # 20,000 draws: the sample std is within 2 % of the target.
    np.testing.assert_allclose(layer.w.std(), std, rtol=0.02)


def test_linear_bad_arguments():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match=r"^w must have 2 dimensions"):
        Linear(rng.standard_normal((2, 3, 4)), np.zeros(2))
    with pytest.raises(ValueError, match=r"^b must have shape"):
        Linear(rng.standard_normal((2, 3)), np.zeros(3))
    with pytest.raises(TypeError, match=r"^w must be a floating-point array"):
        Linear(np.ones((2, 3), dtype=int), np.zeros(2))
    layer = make_linear(rng, 5, 3)
    with pytest.raises(TypeError, match=r"^x must be a floating-point array"):
        layer.forward(np.ones((2, 5), dtype=np.int64))
    with pytest.raises(ValueError, match=r"^x must have in_features = 5"):
        layer.forward(rng.standard_normal((2, 4)))
    with pytest.raises(ValueError, match=r"^in_features must be an integer >= 1"):
        Linear.init(0, 3, rng)
    with pytest.raises(RuntimeError, match="call forward"):
        make_linear(rng).backward(np.zeros((2, 3)))
    layer.forward(rng.standard_normal((2, 5)))
    with pytest.raises(ValueError, match=r"^dout must have the shape"):
        layer.backward(np.zeros((2, 4)))


# --------------------------------------------------------------------------
# Flatten
# --------------------------------------------------------------------------

def test_flatten_round_trip_and_order():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 4))
    layer = Flatten()
    out = layer.forward(x)
    assert out.shape == (2, 12)
    # C order: channel c occupies columns c*L .. c*L + L - 1, like torch.flatten(x, 1).
    np.testing.assert_array_equal(out[1, 4:8], x[1, 1])
    dout = rng.standard_normal((2, 12))
    dx = layer.backward(dout)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx[1, 1], dout[1, 4:8])


def test_flatten_any_rank_and_gradcheck():
    rng = np.random.default_rng(7)
    layer = Flatten()
    assert layer.forward(rng.standard_normal((3, 2))).shape == (3, 2)
    assert layer.forward(rng.standard_normal((3, 2, 2, 5))).shape == (3, 20)
    errors = check_layer_gradients(layer, rng.standard_normal((2, 3, 5)))
    assert errors["dx"] <= GRAD_TOL


def test_flatten_bad_arguments():
    layer = Flatten()
    with pytest.raises(ValueError, match=r"^x must have at least 2 dimensions"):
        layer.forward(np.zeros(5))
    with pytest.raises(RuntimeError, match="call forward"):
        layer.backward(np.zeros((2, 3)))
    layer.forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"^dout must have the shape"):
        layer.backward(np.zeros((2, 11)))


# --------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_drops_a_fraction_p_and_rescales(p):
    rng = np.random.default_rng(8)
    x = rng.uniform(1.0, 2.0, size=(100, 200))          # no zeros of its own
    layer = Dropout(p, seed=11)
    out = layer.forward(x)
    dropped = np.mean(out == 0)
    # The dropped count is Binomial(n, p): allow 5 standard deviations.
    n = x.size
    assert abs(dropped - p) <= 5 * np.sqrt(p * (1 - p) / n), dropped
    kept = out != 0
    np.testing.assert_array_equal(kept, layer.mask)
    np.testing.assert_allclose(out[kept], x[kept] / (1 - p), rtol=1e-15)


def test_dropout_backward_uses_the_forward_mask():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 3, 6))
    dout = rng.standard_normal(x.shape)
    layer = Dropout(0.3, seed=5)
    layer.forward(x)
    dx = layer.backward(dout)
    np.testing.assert_allclose(dx, dout * layer.mask / 0.7, rtol=1e-15)
    # Numerically: a fresh layer with the same seed draws the same mask on every call.
    num = numerical_gradient(lambda: Dropout(0.3, seed=5).forward(x), x, dout)
    assert rel_error(dx, num) <= GRAD_TOL


def test_dropout_same_seed_same_masks_and_fresh_mask_each_call():
    x = np.ones((50, 40))
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    first = a.forward(x)
    np.testing.assert_array_equal(first, b.forward(x))
    second = a.forward(x)
    np.testing.assert_array_equal(second, b.forward(x))
    assert not np.array_equal(first, second)
    shared = np.random.default_rng(3)
    assert Dropout(0.5, seed=shared).rng is shared


def test_dropout_eval_mode_is_identity():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((5, 4))
    layer = Dropout(0.9, seed=0).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    assert layer.mask is None
    dout = rng.standard_normal((5, 4))
    np.testing.assert_array_equal(layer.backward(dout), dout)
    assert np.any(layer.train().forward(x) == 0)


def test_dropout_eval_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 5))
    expected = torch.nn.functional.dropout(torch.tensor(x), p=0.4, training=False).numpy()
    np.testing.assert_array_equal(Dropout(0.4, seed=1).eval().forward(x), expected)


def test_dropout_bad_arguments():
    with pytest.raises(ValueError, match=r"^p must be >= 0.0 and < 1.0, got 1.0"):
        Dropout(p=1.0)
    with pytest.raises(ValueError, match=r"^p must be"):
        Dropout(p=-0.1)
    with pytest.raises(TypeError, match=r"^p must be a real number"):
        Dropout(p="0.5")
    with pytest.raises(TypeError, match=r"^seed must be None, an int"):
        Dropout(0.5, seed=1.5)
    with pytest.raises(TypeError, match=r"^x must be a floating-point array"):
        Dropout(0.5).forward(np.ones(3, dtype=np.int32))
