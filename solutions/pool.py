"""Pooling layers: max and average over sliding windows.

``L_out = floor((L - F) / S) + 1`` for window F (``kernel_size``, the same
letter as a convolution's filter size) and stride S (stride defaults to F, so
windows do not overlap; S < F gives overlapping pooling, as in AlexNet's 3/2).

``MaxPool1d`` is written out in full, on its own, because it is the stage-5
exercise; ``AvgPool1d`` uses the small helpers ``_pool_windows`` and
``_pool_scatter`` below.
"""

import numpy as np

from ._checks import as_float_array, check_int, check_same_shape
from .layer import Layer


class MaxPool1d(Layer):
    """Max over each window of ``kernel_size`` samples, ``stride`` apart.

    Parameters
    ----------
    kernel_size : int
        Window length F, >= 1.
    stride : int, optional
        Step S between windows, >= 1; defaults to ``kernel_size``.

    Notes
    -----
    ``out[n, c, i] = max_k x[n, c, i*S + k]`` for k = 0 .. F-1, so
    ``L_out = floor((L - F) / S) + 1``. The gradient of a window goes only
    to its maximum (the first one on ties, as in PyTorch); where windows
    overlap (S < F), a sample that is the maximum of several windows
    receives the sum of their gradients.
    """

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else check_int("stride", stride, minimum=1)

    def __repr__(self):
        return f"MaxPool1d(kernel_size={self.kernel_size}, stride={self.stride})"

    def forward(self, x):
        """Max over each window.

        Parameters
        ----------
        x : ndarray, shape (N, C, L)
            (Accepting a single sample (C, L) too is optional: the tests
            give (N, C, L).)

        Returns
        -------
        out : ndarray, shape (N, C, L_out)
            ``L_out = floor((L - F) / S) + 1``.
        """
        x = as_float_array("x", x, ndim=(2, 3), shape_doc="(N, C, L) or (C, L)")
        x3 = x if x.ndim == 3 else x[None]                             # (N, C, L)
        F, S = self.kernel_size, self.stride
        L = x3.shape[2]
        if F > L:
            raise ValueError(f"kernel_size={F} is longer than the input x of length L={L}")
        last = S * ((L - F) // S) + 1          # window i starts at i*S, i < L_out
        # A running maximum over the F taps (tap k of window i is x[i*S + k]):
        # F passes over strided views of x, much faster than an argmax along
        # the short window axis.
        out = x3[:, :, 0:last:S].copy()                                # (N, C, L_out)
        arg = np.zeros(out.shape, dtype=np.min_scalar_type(F - 1))     # the winning tap
        for k in range(1, F):
            tap = x3[:, :, k:k + last:S]
            wins = tap > out  # strictly: on ties the first maximum keeps it, as in PyTorch
            # arg = k where tap k wins; k only grows, so that is a maximum (and
            # arithmetic on the mask is far faster than np.where or arg[wins] = k).
            np.maximum(arg, wins * arg.dtype.type(k), out=arg)
            np.maximum(out, tap, out=out)
        self._cache = (arg, x3.shape, x.ndim, x.dtype)
        return out if x.ndim == 3 else out[0]

    def backward(self, dout):
        """Route each window's gradient to its maximum.

        Parameters
        ----------
        dout : ndarray, shape of the forward output

        Returns
        -------
        dx : ndarray, same shape as the input x.
        """
        arg, (N, C, L), x_ndim, dtype = self._require_cache()
        dout = as_float_array("dout", dout, ndim=x_ndim)
        dout3 = dout if x_ndim == 3 else dout[None]                    # (N, C, L_out)
        check_same_shape("dout", dout3, arg.shape, "the forward output")
        S = self.stride
        last = S * (arg.shape[2] - 1) + 1
        dx = np.zeros((N, C, L), dtype=dtype)
        for k in range(self.kernel_size):
            # Tap k of window i is x[i*S + k]; it gets dout[i] when it was the maximum.
            taps = dx[:, :, k:k + last:S]
            if k < S:  # the first S taps of all windows are distinct samples: write
                np.multiply(dout3, arg == k, out=taps)  # (faster than np.where)
            else:  # overlapping windows (S < F): a sample may win several, so add
                taps += dout3 * (arg == k)
        return dx if x_ndim == 3 else dx[0]


def _pool_windows(x, F, S):
    """Check ``x`` and view its windows.

    Returns ``(x, x3, windows)``: x as a float array, x3 of shape (N, C, L)
    and windows of shape (N, C, L_out, F), a view of x3.
    """
    x = as_float_array("x", x, ndim=(2, 3), shape_doc="(N, C, L) or (C, L)")
    x3 = x if x.ndim == 3 else x[None]
    L = x3.shape[2]
    if F > L:
        raise ValueError(f"kernel_size={F} is longer than the input x of length L={L}")
    return x, x3, np.lib.stride_tricks.sliding_window_view(x3, F, axis=2)[:, :, ::S]


def _pool_scatter(dwin, shape, S, dtype):
    """Add window gradients (N, C, L_out, F) back to the input positions (N, C, L)."""
    F, L_out = dwin.shape[3], dwin.shape[2]
    dx = np.zeros(shape, dtype=dtype)
    last = S * (L_out - 1) + 1
    for k in range(F):  # overlapping windows add up at shared positions
        dx[:, :, k:k + last:S] += dwin[:, :, :, k]
    return dx


class AvgPool1d(Layer):
    """Mean over each window of ``kernel_size`` samples, ``stride`` apart.

    Parameters
    ----------
    kernel_size : int
        Window length F, >= 1.
    stride : int, optional
        Step S between windows, >= 1; defaults to ``kernel_size``.

    Notes
    -----
    ``L_out = floor((L - F) / S) + 1``. Every sample of a window receives
    ``dout / F``; where windows overlap, the shares add up.
    """

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else check_int("stride", stride, minimum=1)

    def __repr__(self):
        return f"AvgPool1d(kernel_size={self.kernel_size}, stride={self.stride})"

    def forward(self, x):
        """Parameters: x (N, C, L) or (C, L). Returns: out (N, C, L_out) or (C, L_out)."""
        x, x3, windows = _pool_windows(x, self.kernel_size, self.stride)
        out = windows.mean(axis=3)                                     # (N, C, L_out)
        self._cache = (out.shape, x3.shape, x.ndim, x.dtype)
        return out if x.ndim == 3 else out[0]

    def backward(self, dout):
        """Parameters: dout, shape of the output. Returns: dx, same shape as the input."""
        out_shape, shape, x_ndim, dtype = self._require_cache()
        dout = as_float_array("dout", dout, ndim=x_ndim)
        dout3 = dout if x_ndim == 3 else dout[None]
        check_same_shape("dout", dout3, out_shape, "the forward output")
        share = (dout3 / self.kernel_size)[..., None]                  # (N, C, L_out, 1)
        dwin = np.broadcast_to(share, out_shape + (self.kernel_size,))
        dx = _pool_scatter(dwin, shape, self.stride, dtype)
        return dx if x_ndim == 3 else dx[0]
