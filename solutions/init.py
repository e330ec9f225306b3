"""Weight initialisers: Xavier/Glorot and He (Kaiming).

For a weight of shape (C_out, C_in, F) the fans are ``fan_in = C_in * F`` and
``fan_out = C_out * F``; for a Linear weight (out_features, in_features) they
are ``in_features`` and ``out_features``.

- Xavier/Glorot (Glorot & Bengio, 2010) keeps the variance of activations and
  gradients equal for tanh-like units: ``Var(w) = 2 / (fan_in + fan_out)``.
- He (He et al., 2015) compensates for ReLU zeroing half its inputs:
  ``Var(w) = 2 / fan_in``.
- "torch" is PyTorch's default for Conv1d and Linear:
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
"""

import numpy as np

from ._checks import check_choice

SCHEMES = ("he", "he_uniform", "xavier", "xavier_uniform", "torch")


def fans(shape):
    """Return ``(fan_in, fan_out)`` for a weight of the given shape."""
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions (out, in, ...), got {shape}")
    receptive = int(np.prod(shape[2:], dtype=np.int64))
    return shape[1] * receptive, shape[0] * receptive


def xavier_normal(shape, rng):
    """Normal with ``std = sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def xavier_uniform(shape, rng):
    """Uniform on ``[-a, a]`` with ``a = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape)


def he_normal(shape, rng):
    """Normal with ``std = sqrt(2 / fan_in)``."""
    fan_in, _ = fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)


def he_uniform(shape, rng):
    """Uniform on ``[-a, a]`` with ``a = sqrt(6 / fan_in)``."""
    fan_in, _ = fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape)


def torch_default(shape, rng):
    """Uniform on ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]`` (PyTorch's default)."""
    fan_in, _ = fans(shape)
    a = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-a, a, size=shape)


_INITIALISERS = {
    "he": he_normal,
    "he_uniform": he_uniform,
    "xavier": xavier_normal,
    "xavier_uniform": xavier_uniform,
    "torch": torch_default,
}


def init_weights(shape, rng, scheme="he"):
    """Draw a float64 weight array of ``shape`` with the named ``scheme``."""
    check_choice("scheme", scheme, SCHEMES)
    return _INITIALISERS[scheme](tuple(shape), rng).astype(np.float64)
