"""A single-channel convolution as a dense matrix (stage 1's exploration).

The layer is linear in its input: ``out = W @ x + b`` for a banded matrix
``W`` of shape (L - F + 1, L) whose row i holds the filter in columns
i .. i + F - 1. The gradient of a linear map with respect to its input is
the transposed matrix: ``dx = W.T @ dout``. Reading a column of ``W`` (the
filter reversed, going down) shows why dx is a full convolution.
"""

import numpy as np


def conv_matrix(w, L):
    """The matrix of the single-channel convolution (no padding, stride 1).

    Parameters
    ----------
    w : ndarray, shape (F,)
        The filter.
    L : int
        Input length, >= F.

    Returns
    -------
    W : ndarray, shape (L - F + 1, L)
        ``W @ x + b`` equals ``SimpleConv1d(w, b).forward(x)`` for every x of
        length L.
    """
    F = len(w)
    W = np.zeros((L - F + 1, L))
    for i in range(L - F + 1):
        W[i, i:i + F] = w  # output i reads x[i:i+F]
    return W
