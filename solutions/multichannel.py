"""Stage 3: multi-channel 1D convolution of one sample, written with a loop
over output positions.

Each output channel o has its own kernel ``w[o]`` of shape (C_in, F), which
spans every input channel; the products are summed over channels and taps:

    out[o, i] = b[o] + sum_c sum_k w[o, c, k] * x[c, i + k]

Stride 1, no padding, so ``L_out = L - F + 1``. The vectorised layer for
mini-batches, stride, padding and dilation is ``solutions.conv.Conv1d``.
"""

import numpy as np

from ._checks import as_float_array, check_same_shape
from .layer import Layer


class Conv1d(Layer):
    """Multi-channel 1D convolution (cross-correlation) of one sample.

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in, F)
        One kernel per output channel; each spans all C_in input channels.
    b : ndarray, shape (C_out,)
        One bias per output channel.

    Notes
    -----
    ``out[o, i] = b[o] + sum_c sum_k w[o, c, k] * x[c, i + k]`` for
    ``i = 0 .. L - F``, so ``L_out = L - F + 1``: the window ``x[:, i:i+F]``
    (all channels) is multiplied elementwise with ``w[o]`` and summed.

    Backward, with ``dout`` of shape (C_out, L_out):
    ``db[o] = sum_i dout[o, i]``;
    ``dw[o, c, k] = sum_i dout[o, i] * x[c, i + k]`` (weight sharing sums
    over positions); ``dx[c, j] = sum_o sum_i dout[o, i] * w[o, c, j - i]``
    over the i with ``0 <= j - i < F``.
    """

    params = ("w", "b")

    def __init__(self, w, b):
        self.w = as_float_array("w", w, ndim=3, shape_doc="(C_out, C_in, F)")
        self.b = as_float_array("b", b, ndim=1, shape_doc="(C_out,)")
        if 0 in self.w.shape:
            raise ValueError(f"w must have C_out, C_in and F all >= 1, got shape {self.w.shape}")
        check_same_shape("b", self.b, self.w.shape[:1], "(C_out,), one bias per kernel of w")
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        """Slide every kernel over all the channels of ``x``.

        Parameters
        ----------
        x : ndarray, shape (C_in, L)

        Returns
        -------
        out : ndarray, shape (C_out, L_out)
            ``L_out = L - F + 1``; row o is the feature map of kernel o.
        """
        x = as_float_array("x", x, ndim=2, shape_doc="(C_in, L)")
        C_out, C_in, F = self.w.shape
        if x.shape[0] != C_in:
            raise ValueError(f"x must have C_in = {C_in} channels (axis 0) to match w of shape "
                             f"{self.w.shape}, got shape {x.shape}")
        L_out = x.shape[1] - F + 1
        if L_out < 1:
            raise ValueError(f"x of length L={x.shape[1]} is shorter than the kernels (F={F})")
        out = np.empty((C_out, L_out), dtype=np.result_type(x, self.w))
        for i in range(L_out):
            window = x[:, i:i + F]                                          # (C_in, F)
            # every kernel against the same window: sum over channels and taps
            out[:, i] = np.tensordot(self.w, window, axes=([1, 2], [0, 1]))  # (C_out,)
        self._cache = x.copy()  # the caller may change x before backward
        return out + self.b[:, None]

    def backward(self, dout):
        """Gradients of the loss.

        Parameters
        ----------
        dout : ndarray, shape (C_out, L_out)

        Returns
        -------
        dx : ndarray, shape (C_in, L), same shape as the input.
            Also sets ``self.dw`` (C_out, C_in, F) and ``self.db`` (C_out,).
        """
        x = self._require_cache()
        dout = as_float_array("dout", dout, ndim=2, shape_doc="(C_out, L_out)")
        C_out, C_in, F = self.w.shape
        check_same_shape("dout", dout, (C_out, x.shape[1] - F + 1), "the forward output")
        dx = np.zeros_like(x)
        dw = np.zeros_like(self.w)
        for i in range(dout.shape[1]):
            g = dout[:, i]                                      # (C_out,)
            # out[:, i] read x[:, i:i+F] through every kernel
            dx[:, i:i + F] += np.tensordot(g, self.w, axes=1)   # (C_in, F)
            dw += g[:, None, None] * x[None, :, i:i + F]        # (C_out, C_in, F)
        self.dw = dw
        self.db = dout.sum(axis=1)  # one bias per output channel, used at every position
        return dx
