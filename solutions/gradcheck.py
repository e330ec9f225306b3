"""Numerical gradients by centred differences, and the relative error.

Expectations in float64 with ``h = 1e-5`` (as in CS231n's gradient_check):
about 1e-8 or less for a single smooth layer such as a convolution; up to
1e-2 for a whole network with kinks (ReLU, max-pooling) near the samples.
"""

import numpy as np


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Gradient of ``sum(f(x) * dout)`` with respect to ``x``, numerically.

    Parameters
    ----------
    f : callable
        Takes no argument and returns a scalar or an array; it must read ``x``
        (which is perturbed in place and restored).
    x : ndarray of float64
        The variable to differentiate with respect to, any shape.
    dout : ndarray, optional
        Upstream gradient, same shape as ``f()``; ``None`` for a scalar ``f``.
    h : float
        Step of the centred difference ``(f(x+h) - f(x-h)) / 2h``.

    Returns
    -------
    grad : ndarray
        Same shape as ``x``.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError("x must be a floating-point ndarray that f reads, perturbed in place")
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.asarray(f(), dtype=np.float64).copy()
        x[i] = old - h
        minus = np.asarray(f(), dtype=np.float64).copy()
        x[i] = old
        diff = plus - minus
        grad[i] = (diff.sum() if dout is None else np.sum(diff * dout)) / (2 * h)
    return grad


def rel_error(a, b):
    """Largest elementwise relative error ``|a-b| / max(1e-8, |a|+|b|)``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def check_layer_gradients(layer, x, dout=None, h=1e-5, seed=0):
    """Relative errors of a layer's analytic gradients against numerical ones.

    Parameters
    ----------
    layer : Layer
        Any layer of the kit (``forward``, ``backward``, ``params``).
    x : ndarray of float64
        Input to the layer; it is not modified on return.
    dout : ndarray, optional
        Upstream gradient; random normal of the output's shape when omitted.

    Returns
    -------
    dict
        ``{"dx": err, "d<param>": err, ...}``.
    """
    x = np.array(x, dtype=np.float64)
    out = layer.forward(x)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape)
    dx = layer.backward(dout)
    analytic = {"dx": dx}
    analytic.update({"d" + name: np.copy(g) for name, _, g in layer.parameters()})
    errors = {"dx": rel_error(dx, numerical_gradient(lambda: layer.forward(x), x, dout, h))}
    for name, value, _ in layer.parameters():
        num = numerical_gradient(lambda: layer.forward(x), value, dout, h)
        errors["d" + name] = rel_error(analytic["d" + name], num)
    return errors
