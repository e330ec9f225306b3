"""Pooling layers: max and average over sliding windows.

``L_out = floor((L - K) / S) + 1`` for window K and stride S (stride defaults
to K, so windows do not overlap; S < K gives overlapping pooling, as in
AlexNet's 3/2).
"""

import numpy as np

from ._checks import as_float_array, check_int, check_same_shape
from .conv import output_size
from .layer import Layer


class _Pool1d(Layer):
    def __init__(self, kernel_size, stride=None):
        self.kernel_size = check_int("kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else check_int("stride", stride, minimum=1)

    def __repr__(self):
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride})"

    def _windows(self, x):
        """Return ``(x3, windows)`` with windows of shape (N, C, L_out, K)."""
        x = as_float_array("x", x, ndim=(2, 3), shape_doc="(N, C, L) or (C, L)")
        x3 = x if x.ndim == 3 else x[None]
        K, S = self.kernel_size, self.stride
        L = x3.shape[2]
        if K > L:
            raise ValueError(f"kernel_size={K} is longer than the input x of length L={L}")
        output_size(L, K, 0, S)
        windows = np.lib.stride_tricks.sliding_window_view(x3, K, axis=2)[:, :, ::S]
        return x, x3, windows

    def _scatter(self, dwin, shape, dtype):
        """Add window gradients (N, C, L_out, K) back to the input positions."""
        N, C, L = shape
        K, S = self.kernel_size, self.stride
        L_out = dwin.shape[2]
        dx = np.zeros((N, C, L), dtype=dtype)
        last = S * (L_out - 1) + 1
        for k in range(K):  # overlapping windows add up at shared positions
            dx[:, :, k:k + last:S] += dwin[:, :, :, k]
        return dx

    def _dout(self, dout, x_ndim, out_shape):
        dout = as_float_array("dout", dout, ndim=x_ndim)
        dout3 = dout if x_ndim == 3 else dout[None]
        check_same_shape("dout", dout3, out_shape, "the forward output")
        return dout3


class MaxPool1d(_Pool1d):
    """Max over each window of ``kernel_size`` samples, ``stride`` apart.

    Parameters
    ----------
    kernel_size : int
        Window length K.
    stride : int, optional
        Step S between windows; defaults to ``kernel_size``.

    Notes
    -----
    ``L_out = floor((L - K) / S) + 1``. The gradient of a window goes only
    to its maximum (the first one on ties, as in PyTorch); where windows
    overlap, a sample that is the maximum of several receives the sum.
    """

    def forward(self, x):
        """Parameters: x (N, C, L) or (C, L). Returns: out (N, C, L_out) or (C, L_out)."""
        x, x3, windows = self._windows(x)
        arg = windows.argmax(axis=3)                                   # (N, C, L_out)
        out = np.take_along_axis(windows, arg[..., None], axis=3)[..., 0]
        self._cache = (arg, x3.shape, x.ndim, x.dtype)
        return out if x.ndim == 3 else out[0]

    def backward(self, dout):
        """Parameters: dout, shape of the output. Returns: dx, same shape as the input."""
        arg, shape, x_ndim, dtype = self._require_cache()
        dout3 = self._dout(dout, x_ndim, arg.shape)
        dwin = np.zeros(arg.shape + (self.kernel_size,), dtype=dtype)
        np.put_along_axis(dwin, arg[..., None], dout3[..., None], axis=3)
        dx = self._scatter(dwin, shape, dtype)
        return dx if x_ndim == 3 else dx[0]


class AvgPool1d(_Pool1d):
    """Mean over each window of ``kernel_size`` samples, ``stride`` apart.

    Notes
    -----
    ``L_out = floor((L - K) / S) + 1``. Every sample of a window receives
    ``dout / K``.
    """

    def forward(self, x):
        """Parameters: x (N, C, L) or (C, L). Returns: out (N, C, L_out) or (C, L_out)."""
        x, x3, windows = self._windows(x)
        out = windows.mean(axis=3)
        self._cache = (out.shape, x3.shape, x.ndim, x.dtype)
        return out if x.ndim == 3 else out[0]

    def backward(self, dout):
        """Parameters: dout, shape of the output. Returns: dx, same shape as the input."""
        out_shape, shape, x_ndim, dtype = self._require_cache()
        dout3 = self._dout(dout, x_ndim, out_shape)
        share = (dout3 / self.kernel_size)[..., None]                 # (N, C, L_out, 1)
        dwin = np.broadcast_to(share, out_shape + (self.kernel_size,))
        dx = self._scatter(dwin, shape, dtype)
        return dx if x_ndim == 3 else dx[0]
