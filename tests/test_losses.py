"""Tests of solutions/losses.py: softmax, cross-entropy, MSE, hinge, exponential."""

import warnings

import numpy as np
import pytest

from solutions.gradcheck import numerical_gradient, rel_error
from solutions.losses import (
    ExponentialLoss,
    HingeLoss,
    MSELoss,
    SoftmaxCrossEntropy,
    log_softmax,
    softmax,
)

# Float64, h = 1e-5, scores kept away from the hinge's kink.
GRAD_TOL = 1e-7
TORCH_RTOL = 1e-12


def grad_error(loss, pred, target, dout=1.0):
    """Relative error of loss.backward against centred differences."""
    loss.forward(pred, target)
    analytic = loss.backward(dout)
    numeric = numerical_gradient(lambda: loss.forward(pred, target) * dout, pred)
    return rel_error(analytic, numeric)


# --------------------------------------------------------------------------
# softmax and log_softmax
# --------------------------------------------------------------------------

def test_softmax_rows_sum_to_one_and_match_definition():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((5, 7))
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_allclose(p, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(softmax(z, axis=0).sum(axis=0), 1.0, rtol=1e-15)
    np.testing.assert_allclose(log_softmax(z), np.log(p), rtol=1e-14)


def test_softmax_is_stable_for_huge_logits():
    z = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        p = softmax(z)
        logp = log_softmax(z)
    np.testing.assert_allclose(p, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(logp[0], [0.0, -1e4, -2e4], rtol=1e-15)


# --------------------------------------------------------------------------
# SoftmaxCrossEntropy
# --------------------------------------------------------------------------

def test_cross_entropy_of_zero_logits_is_ln_k():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(np.zeros((8, 10)), np.arange(8))
    assert isinstance(value, float)
    np.testing.assert_allclose(value, 2.302585092994046, rtol=1e-15)
    np.testing.assert_allclose(value, np.log(10), rtol=1e-15)


@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_cross_entropy_gradient_numerically(targets):
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    y = rng.integers(0, 4, size=6)
    if targets == "probabilities":
        y = rng.dirichlet(np.ones(4), size=6)
    assert grad_error(SoftmaxCrossEntropy(), logits, y, dout=0.7) <= GRAD_TOL
    assert grad_error(SoftmaxCrossEntropy("sum"), logits, y) <= GRAD_TOL


def test_cross_entropy_gradient_is_softmax_minus_onehot_over_n():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, y)
    expected = (softmax(logits) - np.eye(3)[y]) / 5 * 2.5
    np.testing.assert_allclose(loss.backward(2.5), expected, rtol=1e-14)
    # Labels and the equivalent one-hot rows give the same loss.
    np.testing.assert_allclose(loss.forward(logits, np.eye(3)[y]),
                               SoftmaxCrossEntropy().forward(logits, y), rtol=1e-15)


@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_cross_entropy_matches_torch(targets):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    logits = 3 * rng.standard_normal((7, 5))
    y = rng.integers(0, 5, size=7) if targets == "labels" else rng.dirichlet(np.ones(5), size=7)
    zt = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(zt, torch.tensor(y))
    loss_t.backward()
    loss = SoftmaxCrossEntropy()
    np.testing.assert_allclose(loss.forward(logits, y), loss_t.item(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(loss.backward(), zt.grad.numpy(), rtol=TORCH_RTOL, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    loss = SoftmaxCrossEntropy()
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        right = loss.forward(logits, np.array([0, 1]))
        wrong = loss.forward(logits, np.array([1, 0]))
        grad = loss.backward()
    assert right == 0.0
    np.testing.assert_allclose(wrong, 2e4, rtol=1e-15)
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [-0.5, 0.5, 0.0]], atol=1e-15)


def test_cross_entropy_bad_arguments():
    loss = SoftmaxCrossEntropy()
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"^y must hold class labels 0..K-1 = 0..3, got y\[1\]"):
        loss.forward(z, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"^y must hold class labels"):
        loss.forward(z, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"^y must have shape \(N,\) = \(3,\)"):
        loss.forward(z, np.array([0, 1]))
    with pytest.raises(TypeError, match=r"^logits must be a floating-point array"):
        loss.forward(np.zeros((3, 4), dtype=int), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"^logits must have 2 dimensions"):
        loss.forward(np.zeros(4), np.array([0]))
    with pytest.raises(ValueError, match=r"^y must have the shape of logits"):
        loss.forward(z, np.full((3, 5), 0.2))
    with pytest.raises(ValueError, match=r"^y given as probabilities"):
        loss.forward(z, np.full((3, 4), 0.3))
    with pytest.raises(TypeError, match=r"^y must be integer labels"):
        loss.forward(z, np.array([True, False, True]))
    with pytest.raises(ValueError, match=r"^reduction must be one of"):
        SoftmaxCrossEntropy(reduction="avg")
    with pytest.raises(RuntimeError, match="call forward"):
        SoftmaxCrossEntropy().backward()


# --------------------------------------------------------------------------
# MSELoss
# --------------------------------------------------------------------------

def test_mse_value_gradient_and_torch():
    rng = np.random.default_rng(4)
    pred, target = rng.standard_normal((2, 6, 3))
    loss = MSELoss()
    np.testing.assert_allclose(loss.forward(pred, target), np.mean((pred - target) ** 2),
                               rtol=1e-15)
    np.testing.assert_allclose(loss.backward(), 2 * (pred - target) / 18, rtol=1e-15)
    assert grad_error(MSELoss(), pred, target) <= GRAD_TOL
    assert grad_error(MSELoss("sum"), pred, target, dout=0.3) <= GRAD_TOL
    torch = pytest.importorskip("torch")
    pt = torch.tensor(pred, requires_grad=True)
    loss_t = torch.nn.functional.mse_loss(pt, torch.tensor(target))
    loss_t.backward()
    np.testing.assert_allclose(loss.forward(pred, target), loss_t.item(), rtol=TORCH_RTOL)
    np.testing.assert_allclose(loss.backward(), pt.grad.numpy(), rtol=TORCH_RTOL)


def test_mse_bad_arguments():
    with pytest.raises(ValueError, match=r"^target must have the shape of pred"):
        MSELoss().forward(np.zeros((3, 2)), np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"^target must be a floating-point array"):
        MSELoss().forward(np.zeros(3), np.arange(3))
    with pytest.raises(RuntimeError, match="call forward"):
        MSELoss().backward()
    loss = MSELoss()
    loss.forward(np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match=r"^dout must be a real number"):
        loss.backward("1")


# --------------------------------------------------------------------------
# HingeLoss
# --------------------------------------------------------------------------

def test_hinge_hand_computed():
    scores = np.array([[2.0, -0.5], [0.3, 1.5]])
    t = np.array([[1, -1], [-1, 1]])
    loss = HingeLoss()
    # Per element max(0, 1 - t s): [0, 0.5], [1.3, 0]; mean over the 2 samples.
    np.testing.assert_allclose(loss.forward(scores, t), (0.5 + 1.3) / 2, rtol=1e-15)
    np.testing.assert_allclose(loss.backward(), [[0, 0.5], [0.5, 0]], rtol=1e-15)


def test_hinge_integer_labels_are_one_vs_all():
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((4, 3))
    labels = np.array([2, 0, 1, 2])
    T = 2 * np.eye(3)[labels] - 1
    a, b = HingeLoss(), HingeLoss()
    np.testing.assert_allclose(a.forward(scores, labels), b.forward(scores, T), rtol=1e-15)
    np.testing.assert_array_equal(a.backward(), b.backward())


@pytest.mark.parametrize("shape", [(8,), (5, 3)])
def test_hinge_gradient_numerically(shape):
    rng = np.random.default_rng(6)
    t = rng.choice([-1.0, 1.0], size=shape)
    scores = 2 * rng.standard_normal(shape)
    # Keep every margin t*s at least 1e-3 from the kink at t*s = 1.
    near = np.abs(t * scores - 1) < 1e-3
    scores[near] += 0.1 * t[near]
    assert grad_error(HingeLoss(), scores, t, dout=1.3) <= GRAD_TOL


def test_hinge_bad_arguments():
    with pytest.raises(ValueError, match=r"^t must hold only -1 and \+1"):
        HingeLoss().forward(np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"^t must hold class labels 0..K-1 = 0..1"):
        HingeLoss().forward(np.zeros((3, 2)), np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"^t must be -1/\+1 targets"):
        HingeLoss().forward(np.zeros((3, 2)), np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="call forward"):
        HingeLoss().backward()


# --------------------------------------------------------------------------
# ExponentialLoss
# --------------------------------------------------------------------------

def test_exponential_hand_computed():
    scores = np.array([[0.5, -1.0], [2.0, 0.0]])
    t = np.array([[1, -1], [-1, 1]])
    # Margins are the rows' dot products t.s: 1.5 and -2.0; beta = 0.5.
    loss = ExponentialLoss(beta=0.5)
    expected = (np.exp(-0.75) + np.exp(1.0)) / 2
    np.testing.assert_allclose(loss.forward(scores, t), expected, rtol=1e-15)
    grad = -0.5 * t * np.array([[np.exp(-0.75)], [np.exp(1.0)]]) / 2
    np.testing.assert_allclose(loss.backward(), grad, rtol=1e-15)
    summed = ExponentialLoss(beta=0.5, reduction="sum").forward(scores, t)
    np.testing.assert_allclose(summed, 2 * expected, rtol=1e-15)


@pytest.mark.parametrize("shape", [(7,), (4, 3)])
def test_exponential_gradient_numerically(shape):
    rng = np.random.default_rng(7)
    scores = rng.standard_normal(shape)
    t = rng.choice([-1, 1], size=shape)
    assert grad_error(ExponentialLoss(beta=1.7), scores, t, dout=0.4) <= GRAD_TOL
    labels = rng.integers(0, 3, size=4)
    assert grad_error(ExponentialLoss(), rng.standard_normal((4, 3)), labels) <= GRAD_TOL


def test_exponential_bad_arguments():
    with pytest.raises(ValueError, match=r"^beta must be > 0"):
        ExponentialLoss(beta=-1.0)
    with pytest.raises(ValueError, match=r"^scores must have 1 or 2 dimensions"):
        ExponentialLoss().forward(np.zeros((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(RuntimeError, match="call forward"):
        ExponentialLoss().backward()
