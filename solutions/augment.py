"""Label-preserving data augmentation for sequences.

A digit shifted by a few samples, or with a little noise added, is still the
same digit: training on such copies teaches the network that these changes
do not matter. Each function takes a batch ``X`` of shape (N, C, L) and a
``numpy.random.Generator`` and returns a new array of the same shape.
"""

import numpy as np

from ._checks import as_float_array, check_float, check_int


def random_shift(X, max_shift, rng):
    """Shift every sequence by its own random offset in ``[-max_shift, max_shift]``.

    Samples shifted in from outside are zeros (a circular roll would carry
    the end of the signal round to its start).
    """
    X = as_float_array("X", X, ndim=3, shape_doc="(N, C, L)")
    max_shift = check_int("max_shift", max_shift, minimum=0)
    N, _, L = X.shape
    shifts = rng.integers(-max_shift, max_shift + 1, size=N)        # (N,)
    src = np.arange(L)[None, :] - shifts[:, None]                   # (N, L)
    valid = (src >= 0) & (src < L)
    out = np.take_along_axis(X, np.clip(src, 0, L - 1)[:, None, :], axis=2)
    return out * valid[:, None, :]


def add_noise(X, scale, rng):
    """Add Gaussian noise of standard deviation ``scale``."""
    X = as_float_array("X", X, ndim=3, shape_doc="(N, C, L)")
    scale = check_float("scale", scale, minimum=0.0)
    return X + rng.normal(0.0, scale, size=X.shape).astype(X.dtype)


def shift_and_noise(max_shift=2, noise=0.0):
    """An augmentation for ``Scratch1dCNNClassifier(augment=...)``."""
    check_int("max_shift", max_shift, minimum=0)
    check_float("noise", noise, minimum=0.0)

    def augment(X, rng):
        X = random_shift(X, max_shift, rng)
        return add_noise(X, noise, rng) if noise > 0 else X

    return augment
