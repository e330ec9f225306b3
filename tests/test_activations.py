"""Tests of solutions/activations.py: every activation against its formula,
numerical gradients and PyTorch."""

import warnings

import numpy as np
import pytest

from solutions.activations import (
    ACTIVATIONS,
    ELU,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    Softplus,
    Swish,
    Tanh,
    get_activation,
)
from solutions.gradcheck import check_layer_gradients

# Float64, h = 1e-5, inputs kept at least 1e-3 away from any kink.
GRAD_TOL = 1e-7
# Same formula evaluated by numpy and by PyTorch: a few ulps apart.
TORCH_RTOL, TORCH_ATOL = 1e-12, 1e-14

KINKS = {"relu": (0.0,), "relu6": (0.0, 6.0), "leaky_relu": (0.0,), "prelu": (0.0,),
         "elu": (0.0,)}

# name -> (constructor kwargs, torch function of (x, torch) giving the same values)
TORCH_EQUIVALENTS = {
    "relu": ({}, lambda x, t: t.nn.functional.relu(x)),
    "relu6": ({}, lambda x, t: t.nn.functional.relu6(x)),
    "leaky_relu": ({"alpha": 0.1}, lambda x, t: t.nn.functional.leaky_relu(x, 0.1)),
    "prelu": ({"alpha": 0.3},
              lambda x, t: t.nn.functional.prelu(x, t.tensor([0.3], dtype=t.float64))),
    "elu": ({"alpha": 0.7}, lambda x, t: t.nn.functional.elu(x, alpha=0.7)),
    # threshold raised: PyTorch returns x itself where beta*x > 20 by default.
    "softplus": ({"beta": 2.0},
                 lambda x, t: t.nn.functional.softplus(x, beta=2.0, threshold=500.0)),
    "swish": ({}, lambda x, t: t.nn.functional.silu(x)),
    "sigmoid": ({}, lambda x, t: t.sigmoid(x)),
    "tanh": ({}, lambda x, t: t.tanh(x)),
}


def sample(rng, shape, name, scale=3.0):
    """Normal samples moved at least 1e-3 away from the kinks of ``name``."""
    x = scale * rng.standard_normal(shape)
    for k in KINKS.get(name, ()):
        near = np.abs(x - k) < 1e-3
        x[near] = k + np.where(x[near] >= k, 0.5, -0.5)
    return x


def test_registry_covers_every_activation():
    assert set(ACTIVATIONS) == set(TORCH_EQUIVALENTS)
    for name, cls in ACTIVATIONS.items():
        assert type(get_activation(name)) is cls


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradients_numerically(name):
    rng = np.random.default_rng(sorted(ACTIVATIONS).index(name))
    layer = get_activation(name, **TORCH_EQUIVALENTS[name][0])
    # Piecewise-linear ones get wide inputs (ReLU6 must see z > 6); smooth ones
    # scale 1.5: deep in saturation the true derivative is so small that the
    # rounding error of the centred difference dominates its relative error.
    scale = 4.0 if name in ("relu", "relu6", "leaky_relu", "prelu") else 1.5
    x = sample(rng, (3, 4, 5), name, scale=scale)
    errors = check_layer_gradients(layer, x)
    expected = {"dx", "dalpha"} if name == "prelu" else {"dx"}
    assert set(errors) == expected
    for key, err in errors.items():
        assert err <= GRAD_TOL, f"{name} {key}: relative error {err:.2e}"


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_and_gradient_match_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(100 + sorted(ACTIVATIONS).index(name))
    kwargs, torch_fn = TORCH_EQUIVALENTS[name]
    layer = get_activation(name, **kwargs)
    x = sample(rng, (4, 3, 8), name)
    dout = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    out_t = torch_fn(xt, torch)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(layer.forward(x), out_t.detach().numpy(),
                               rtol=TORCH_RTOL, atol=TORCH_ATOL)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(),
                               rtol=TORCH_RTOL, atol=TORCH_ATOL)


def test_prelu_per_channel_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(20)
    alpha = rng.uniform(0.05, 0.5, size=4)
    layer = PReLU(alpha)
    x = sample(rng, (3, 4, 6), "prelu")
    dout = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    at = torch.tensor(alpha, requires_grad=True)
    out_t = torch.nn.functional.prelu(xt, at)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(layer.forward(x), out_t.detach().numpy(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(layer.backward(dout), xt.grad.numpy(), rtol=TORCH_RTOL)
    assert layer.dalpha.shape == (4,)
    np.testing.assert_allclose(layer.dalpha, at.grad.numpy(), rtol=1e-12)


def test_prelu_per_channel_gradients_numerically():
    rng = np.random.default_rng(21)
    layer = PReLU(np.array([0.1, 0.2, 0.3]))
    errors = check_layer_gradients(layer, sample(rng, (2, 3, 7), "prelu"))
    assert errors["dx"] <= GRAD_TOL and errors["dalpha"] <= GRAD_TOL, errors


def test_prelu_alpha_is_a_learnable_array():
    layer = PReLU(0.25)
    assert layer.params == ("alpha",)
    assert layer.alpha.shape == (1,) and layer.dalpha.shape == (1,)
    layer.forward(np.array([[-2.0, 3.0], [-1.0, -4.0]]))
    layer.backward(np.ones((2, 2)))
    np.testing.assert_allclose(layer.dalpha, [-7.0], rtol=1e-15)


def test_formulas_at_known_points():
    x = np.array([-8.0, -1.0, 0.5, 7.0])
    np.testing.assert_array_equal(ReLU().forward(x), [0, 0, 0.5, 7])
    np.testing.assert_array_equal(ReLU6().forward(x), [0, 0, 0.5, 6])
    np.testing.assert_allclose(ELU(0.5).forward(x), [0.5 * np.expm1(-8), 0.5 * np.expm1(-1),
                                                     0.5, 7], rtol=1e-15)
    # Swish with c = 2: z / (1 + exp(-2 z)).
    np.testing.assert_allclose(Swish(2.0).forward(x), x / (1 + np.exp(-2 * x)), rtol=1e-14)
    np.testing.assert_allclose(Softplus().forward(x), np.log1p(np.exp(x)), rtol=1e-14)


def test_saturating_derivatives_are_small():
    """The vanishing-gradient argument: max 0.25 for sigmoid, 1 for tanh, tiny when saturated."""
    x = np.linspace(-10, 10, 2001)                      # contains 0 exactly
    ones = np.ones_like(x)
    ds = Sigmoid()
    ds.forward(x)
    d_sig = ds.backward(ones)
    dt = Tanh()
    dt.forward(x)
    d_tanh = dt.backward(ones)
    np.testing.assert_allclose(d_sig.max(), 0.25, rtol=1e-15)
    np.testing.assert_allclose(d_tanh.max(), 1.0, rtol=1e-15)
    assert d_sig[0] < 5e-5 and d_tanh[0] < 1e-8
    dr = ReLU()
    dr.forward(x)
    np.testing.assert_array_equal(dr.backward(ones)[x > 0], 1.0)


def test_large_inputs_are_stable():
    x = np.array([-1e4, -800.0, -30.0, 0.0, 30.0, 800.0, 1e4])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        for name in ACTIVATIONS:
            layer = get_activation(name)
            out = layer.forward(x)
            dx = layer.backward(np.ones_like(x))
            assert np.isfinite(out).all() and np.isfinite(dx).all(), name
        s = Sigmoid().forward(x)
        sp = Softplus(beta=3.0).forward(x)
    np.testing.assert_array_equal(s[[0, -1]], [0.0, 1.0])
    np.testing.assert_allclose(s[3], 0.5, rtol=1e-15)
    # softplus(z) = z + log1p(e^-beta z) / beta -> z, and -> 0 for very negative z.
    np.testing.assert_allclose(sp[[-2, -1]], [800.0, 1e4], rtol=1e-15)
    assert sp[0] == 0.0 and sp[1] == 0.0


def test_float32_stays_float32():
    x = np.linspace(-3, 3, 12, dtype=np.float32).reshape(2, 3, 2)
    for name in ACTIVATIONS:
        layer = get_activation(name)
        assert layer.forward(x).dtype == np.float32, name
        assert layer.backward(np.ones_like(x)).dtype == np.float32, name


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^name must be one of the activations 'relu'"):
        get_activation("rectifier")
    with pytest.raises(ValueError, match=r"^name must be one of"):
        get_activation(None)
    with pytest.raises(TypeError, match=r"^x must be a floating-point array"):
        ReLU().forward(np.arange(4))
    with pytest.raises(ValueError, match=r"^beta must be > 0"):
        Softplus(beta=0.0)
    with pytest.raises(TypeError, match=r"^alpha must be a real number"):
        get_activation("leaky_relu", alpha="0.1")
    with pytest.raises(ValueError, match=r"^alpha must have 1 dimensions"):
        PReLU(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"^x must have C = 3 channels"):
        PReLU(np.ones(3)).forward(np.ones((2, 4, 5)))
    with pytest.raises(RuntimeError, match="call forward"):
        Tanh().backward(np.ones(3))
    layer = ReLU()
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^dout must have the shape"):
        layer.backward(np.ones((3, 2)))
