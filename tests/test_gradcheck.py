"""Tests of solutions/gradcheck.py: numerical_gradient, rel_error, check_layer_gradients.

Centred differences with h = 1e-5 have a truncation error of about h**2 * f'''/6
and a rounding error of about eps * |f| / h, so a smooth function is checked
to rtol 1e-7 with atol 1e-8. The last tests prove the check can fail: layers
with a deliberately broken backward give errors far above 1e-3.
"""

import numpy as np
import pytest

from solutions.conv import Conv1d, SimpleConv1d
from solutions.gradcheck import check_layer_gradients, numerical_gradient, rel_error


def test_numerical_gradient_of_sum_of_cubes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x_copy = x.copy()
    grad = numerical_gradient(lambda: np.sum(x**3), x)
    np.testing.assert_allclose(grad, 3 * x_copy**2, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(x, x_copy)  # perturbed in place, then restored


def test_numerical_gradient_with_upstream_gradient():
    """For an array-valued f, the gradient of sum(f(x) * dout)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(7)
    dout = rng.standard_normal(7)
    grad = numerical_gradient(lambda: np.sin(x), x, dout)
    np.testing.assert_allclose(grad, np.cos(x) * dout, rtol=1e-7, atol=1e-8)


def test_numerical_gradient_of_a_linear_map_is_its_transpose():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((5, 3))
    x = rng.standard_normal(3)
    dout = rng.standard_normal(5)
    grad = numerical_gradient(lambda: A @ x, x, dout)
    np.testing.assert_allclose(grad, A.T @ dout, rtol=1e-7, atol=1e-8)


def test_numerical_gradient_refuses_non_float_arrays():
    with pytest.raises(TypeError, match=r"x must be a floating-point ndarray"):
        numerical_gradient(lambda: 0.0, np.arange(3))
    with pytest.raises(TypeError, match=r"x must be a floating-point ndarray"):
        numerical_gradient(lambda: 0.0, [1.0, 2.0])


def test_rel_error_basics():
    a = np.array([1.0, -2.0, 3.0])
    assert rel_error(a, a) == 0.0
    assert isinstance(rel_error(a, a), float)
    assert rel_error([1.0], [1.1]) == pytest.approx(0.1 / 2.1, rel=1e-12)
    assert rel_error([1.0], [1.1]) == rel_error([1.1], [1.0])
    # The largest elementwise error counts, not an average.
    assert rel_error([1.0, 1.0, 1.0], [1.0, 1.0, 3.0]) == pytest.approx(0.5, rel=1e-12)
    # Opposite signs give the maximum, 1.
    assert rel_error([2.0], [-2.0]) == pytest.approx(1.0, rel=1e-12)
    # The 1e-8 floor keeps tiny values from producing huge relative errors.
    assert rel_error([0.0], [1e-12]) == pytest.approx(1e-4, rel=1e-12)
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0


def test_rel_error_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape.*\(3,\).*\(1, 3\)"):
        rel_error(np.zeros(3), np.zeros((1, 3)))


def test_check_layer_gradients_on_a_correct_layer():
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((2, 3, 3)), rng.standard_normal(2)
    w_copy, b_copy = w.copy(), b.copy()
    x = rng.standard_normal((2, 3, 8))
    x_copy = x.copy()
    layer = Conv1d(w, b, stride=2, padding=1)
    errors = check_layer_gradients(layer, x)
    assert set(errors) == {"dx", "dw", "db"}
    assert max(errors.values()) <= 1e-7, errors
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(layer.w, w_copy)  # parameters restored after perturbation
    np.testing.assert_array_equal(layer.b, b_copy)
    assert check_layer_gradients(layer, x) == errors  # same seed, same errors


def test_check_layer_gradients_uses_the_given_dout():
    rng = np.random.default_rng(4)
    layer = SimpleConv1d(rng.standard_normal(3), rng.standard_normal(1))
    x = rng.standard_normal(6)
    errors = check_layer_gradients(layer, x, dout=np.zeros(4))
    assert errors == {"dx": 0.0, "dw": 0.0, "db": 0.0}


class DropsLastTapInDx(Conv1d):
    """Mutant: dx forgets the contribution of the last kernel tap."""

    def backward(self, dout):
        w = self.w
        self.w = w.copy()
        self.w[:, :, -1] = 0.0
        try:
            dx = super().backward(dout)
        finally:
            self.w = w
        return dx


class BiasOfFirstSampleOnly(Conv1d):
    """Mutant: db sums over positions but forgets to sum over the batch."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout[0].sum(axis=-1)
        return dx


class FlipsKernelInDw(Conv1d):
    """Mutant: dw comes back flipped, true convolution confused with cross-correlation."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.dw = self.dw[:, :, ::-1].copy()
        return dx


def test_check_can_fail_on_dx():
    rng = np.random.default_rng(5)
    layer = DropsLastTapInDx(rng.standard_normal((2, 3, 3)), rng.standard_normal(2), padding=1)
    errors = check_layer_gradients(layer, rng.standard_normal((2, 3, 7)))
    assert errors["dx"] > 1e-3, errors
    assert errors["dw"] <= 1e-7 and errors["db"] <= 1e-7, errors  # it points at dx only


def test_check_can_fail_on_db():
    rng = np.random.default_rng(6)
    layer = BiasOfFirstSampleOnly(rng.standard_normal((2, 3, 3)), rng.standard_normal(2))
    errors = check_layer_gradients(layer, rng.standard_normal((3, 3, 7)))
    assert errors["db"] > 1e-3, errors
    assert errors["dx"] <= 1e-7 and errors["dw"] <= 1e-7, errors


def test_check_can_fail_on_dw():
    rng = np.random.default_rng(7)
    layer = FlipsKernelInDw(rng.standard_normal((2, 3, 3)), rng.standard_normal(2), stride=2)
    errors = check_layer_gradients(layer, rng.standard_normal((2, 3, 9)))
    assert errors["dw"] > 1e-3, errors
    assert errors["dx"] <= 1e-7 and errors["db"] <= 1e-7, errors
