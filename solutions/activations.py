"""Elementwise activation functions, each a layer with forward and backward.

Why rectifiers and not sigmoid or tanh
--------------------------------------
Backpropagation multiplies the upstream gradient by the activation's
derivative at every layer. The sigmoid's derivative ``s(z)(1 - s(z))`` is at
most 0.25 (at z = 0) and tanh's ``1 - tanh(z)^2`` at most 1; both vanish as
soon as ``|z|`` is a few units, where the functions saturate. Through ten
sigmoid layers the gradient shrinks by at least ``0.25**10 ~ 1e-6``: the
early layers barely learn. This is the vanishing-gradient problem, and why
CNNs use rectifiers: ReLU's derivative is exactly 1 for every positive input
(AlexNet trained six times faster with ReLU than with tanh).

The bias-shift problem
----------------------
ReLU, ReLU6 and softplus only output values >= 0, so their mean activation is
positive. The next layer then sees inputs that cannot cancel each other, and
its weight updates are biased in one direction. Activations that also output
negative values push the mean towards zero: LeakyReLU (a fixed small slope
``alpha`` for z < 0), PReLU (the slope is learned), ELU (a smooth negative
saturation ``alpha (e^z - 1)``) and Swish ``z s(cz)``.

Every class works on arrays of any shape; ``backward(dout)`` returns ``dx``
of the input's shape, ``dout * f'(x)``. Build one by name with
``get_activation("relu")``.
"""

import numbers

import numpy as np

from ._checks import _describe, as_float_array, check_float, check_same_shape
from .layer import Layer


def _sigmoid(z):
    """``1 / (1 + e^-z)`` without overflow: e^-|z| is never larger than 1."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class _Elementwise(Layer):
    """Shared forward/backward: subclasses give f(x) and f'(x)."""

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)}" for k in getattr(self, "_repr_args", ()))
        return f"{type(self).__name__}({args})"

    def forward(self, x):
        """Parameters: x, any shape. Returns: out, same shape as x."""
        x = as_float_array("x", x)
        out = self._f(x)
        self._cache = (x, out)
        return out

    def backward(self, dout):
        """Parameters: dout, shape of the output. Returns: dx, same shape as the input."""
        x, out = self._require_cache()
        dout = as_float_array("dout", dout)
        check_same_shape("dout", dout, x.shape, "the forward output")
        return dout * self._df(x, out)


class ReLU(_Elementwise):
    """``f(z) = max(z, 0)``; ``f'(z) = 1 if z > 0 else 0`` (0 at the kink, as PyTorch)."""

    def _f(self, x):
        return np.maximum(x, 0)

    def _df(self, x, out):
        return (x > 0).astype(x.dtype)


class ReLU6(_Elementwise):
    """``f(z) = min(max(z, 0), 6)``; ``f'(z) = 1 if 0 < z < 6 else 0``.

    The bound keeps activations small, which suits low-precision arithmetic.
    """

    def _f(self, x):
        return np.clip(x, 0, 6)

    def _df(self, x, out):
        return ((x > 0) & (x < 6)).astype(x.dtype)


class LeakyReLU(_Elementwise):
    """``f(z) = z if z > 0 else alpha z``; ``f'(z) = 1 if z > 0 else alpha``.

    Parameters
    ----------
    alpha : float
        Slope for negative inputs (PyTorch's ``negative_slope``), fixed.
    """

    _repr_args = ("alpha",)

    def __init__(self, alpha=0.01):
        self.alpha = check_float("alpha", alpha)

    def _f(self, x):
        return np.where(x > 0, x, self.alpha * x)

    def _df(self, x, out):
        return np.where(x > 0, 1.0, self.alpha).astype(x.dtype)


class PReLU(_Elementwise):
    """LeakyReLU whose negative slope ``alpha`` is learned.

    ``f(z) = z if z > 0 else alpha z``; ``df/dz = 1 if z > 0 else alpha``;
    ``df/dalpha = 0 if z > 0 else z``.

    Parameters
    ----------
    alpha : float or ndarray of shape (1,) or (C,)
        Initial slope. One value is shared by every element; C values apply
        one per channel along axis 1 of an (N, C, ...) input, like PyTorch's
        ``nn.PReLU(num_parameters=C)``. Stored as an array ``alpha`` of shape
        (1,) or (C,); its gradient ``dalpha`` has the same shape and sums over
        every position the slope is shared by.
    """

    params = ("alpha",)

    def __init__(self, alpha=0.25):
        if isinstance(alpha, numbers.Real) and not isinstance(alpha, bool | np.bool_):
            self.alpha = np.array([check_float("alpha", alpha)])
        else:
            self.alpha = np.array(as_float_array("alpha", alpha, ndim=1, shape_doc="(1,) or (C,)"))
            if self.alpha.size == 0:
                raise ValueError("alpha must hold at least one value, got shape (0,)")
        self.dalpha = np.zeros_like(self.alpha)

    def __repr__(self):
        a = self.alpha
        return f"PReLU(alpha={a[0]})" if a.size == 1 else f"PReLU(num_parameters={a.size})"

    def _slope(self, x):
        """``alpha`` shaped to broadcast against ``x``."""
        C = self.alpha.size
        if C == 1:
            return self.alpha.reshape(())
        if x.ndim < 2 or x.shape[1] != C:
            raise ValueError(
                f"x must have C = {C} channels on axis 1 to match alpha of shape "
                f"{self.alpha.shape}, got shape {x.shape}"
            )
        return self.alpha.reshape((1, C) + (1,) * (x.ndim - 2))      # (1, C, 1, ...)

    def _f(self, x):
        return np.where(x > 0, x, self._slope(x) * x).astype(x.dtype, copy=False)

    def _df(self, x, out):
        return np.where(x > 0, 1.0, self._slope(x)).astype(x.dtype)

    def backward(self, dout):
        """Sets ``dalpha``. Parameters: dout, shape of the output. Returns: dx."""
        dx = super().backward(dout)
        x, _ = self._cache
        g = np.where(x > 0, 0.0, np.asarray(dout) * x)
        axes = tuple(a for a in range(x.ndim) if self.alpha.size == 1 or a != 1)
        self.dalpha = g.sum(axis=axes).reshape(self.alpha.shape).astype(self.alpha.dtype)
        return dx


class ELU(_Elementwise):
    """``f(z) = z if z > 0 else alpha (e^z - 1)``; ``f'(z) = 1 if z > 0 else alpha e^z``.

    Parameters
    ----------
    alpha : float
        Saturation value for very negative inputs is ``-alpha`` (the seed
        lecture's c, 0 < c <= 1).
    """

    _repr_args = ("alpha",)

    def __init__(self, alpha=1.0):
        self.alpha = check_float("alpha", alpha)

    def _f(self, x):
        # expm1 is accurate near 0; the minimum keeps e^z from overflowing for z > 0.
        return np.where(x > 0, x, self.alpha * np.expm1(np.minimum(x, 0)))

    def _df(self, x, out):
        return np.where(x > 0, 1.0, self.alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)


class Softplus(_Elementwise):
    """``f(z) = log(1 + e^(beta z)) / beta``; ``f'(z) = sigmoid(beta z)``.

    A smooth ReLU. Computed as ``max(z, 0) + log1p(e^(-|beta z|)) / beta``,
    which never overflows (the exponent is <= 0) and is exact for large z.

    Parameters
    ----------
    beta : float
        Sharpness, > 0; larger beta is closer to ReLU.
    """

    _repr_args = ("beta",)

    def __init__(self, beta=1.0):
        self.beta = check_float("beta", beta, minimum=0.0, inclusive=(False, True))

    def _f(self, x):
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(self.beta * x))) / self.beta

    def _df(self, x, out):
        return _sigmoid(self.beta * x)


class Swish(_Elementwise):
    """``f(z) = z sigmoid(c z)``; ``f'(z) = s + c z s (1 - s)`` with ``s = sigmoid(c z)``.

    With c = 1 this is PyTorch's SiLU.

    Parameters
    ----------
    c : float
        Scale inside the sigmoid.
    """

    _repr_args = ("c",)

    def __init__(self, c=1.0):
        self.c = check_float("c", c)

    def _f(self, x):
        return x * _sigmoid(self.c * x)

    def _df(self, x, out):
        s = _sigmoid(self.c * x)
        return s * (1 + self.c * x * (1 - s))


class Sigmoid(_Elementwise):
    """``f(z) = 1 / (1 + e^-z)``; ``f'(z) = f(z) (1 - f(z))``, at most 0.25.

    Stable for any finite z: no overflow warning at z = -1e4.
    """

    def _f(self, x):
        return _sigmoid(x)

    def _df(self, x, out):
        return out * (1 - out)


class Tanh(_Elementwise):
    """``f(z) = tanh(z)``; ``f'(z) = 1 - tanh(z)^2``, at most 1."""

    def _f(self, x):
        return np.tanh(x)

    def _df(self, x, out):
        return 1 - out * out


ACTIVATIONS = {
    "relu": ReLU,
    "relu6": ReLU6,
    "leaky_relu": LeakyReLU,
    "prelu": PReLU,
    "elu": ELU,
    "softplus": Softplus,
    "swish": Swish,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
}


def get_activation(name, **kwargs):
    """A new activation layer by name, e.g. ``get_activation("leaky_relu", alpha=0.1)``.

    Parameters
    ----------
    name : str
        One of the keys of ``ACTIVATIONS``.
    **kwargs
        Passed to the class (``alpha``, ``beta``, ``c``).
    """
    if not isinstance(name, str) or name not in ACTIVATIONS:
        valid = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"name must be one of the activations {valid}, got {_describe(name)}")
    return ACTIVATIONS[name](**kwargs)
