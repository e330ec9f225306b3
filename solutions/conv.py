"""1D convolution layers: the naive loops students write first, and the
vectorised layer the kit trains with.

Deep-learning "convolution" is cross-correlation: the kernel slides over the
input without being flipped,

    out[n, o, i] = b[o] + sum_c sum_k w[o, c, k] * x_pad[n, c, i*S + k*D]

Output length (P on each side, stride S, dilation D, filter size F)::

    L_out = floor((L + 2P - D*(F - 1) - 1) / S) + 1
"""

import numpy as np

from ._checks import as_float_array, check_choice, check_float, check_int, check_same_shape
from .layer import Layer
from .padding import PADDING_MODES, pad1d, pad1d_backward


def output_size(n_in, filter_size, padding=0, stride=1, dilation=1):
    """Length of the output of a 1D convolution or pooling window.

    Parameters
    ----------
    n_in : int
        Input length L, >= 1.
    filter_size : int
        Kernel size F, >= 1.
    padding : int
        Positions P added on each side, >= 0.
    stride : int
        Step S between windows, >= 1.
    dilation : int
        Spacing D between kernel taps, >= 1.

    Returns
    -------
    int
        ``L_out = floor((L + 2P - D*(F - 1) - 1) / S) + 1``.

    Raises
    ------
    ValueError
        When the dilated kernel does not fit in the padded input, so that no
        output position exists.
    """
    n_in = check_int("n_in", n_in, minimum=1)
    filter_size = check_int("filter_size", filter_size, minimum=1)
    padding = check_int("padding", padding, minimum=0)
    stride = check_int("stride", stride, minimum=1)
    dilation = check_int("dilation", dilation, minimum=1)
    span = dilation * (filter_size - 1) + 1
    if span > n_in + 2 * padding:
        raise ValueError(
            f"no output position: the kernel spans D*(F-1)+1 = {span} samples "
            f"(filter_size={filter_size}, dilation={dilation}) but the padded input has "
            f"only L+2P = {n_in + 2 * padding} (n_in={n_in}, padding={padding})"
        )
    return (n_in + 2 * padding - span) // stride + 1


def resolve_padding(padding, filter_size, stride=1, dilation=1):
    """Turn ``padding`` (int, "valid", "same" or "full") into (left, right).

    "same" keeps L_out = L at stride 1; when D*(F-1) is odd the extra sample
    goes to the right, as in PyTorch. "full" pads D*(F-1) on each side so
    that every partial overlap produces an output.
    """
    span_minus_one = dilation * (filter_size - 1)
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != 1:
                raise ValueError(f"padding='same' needs stride=1, got stride={stride}")
            return span_minus_one // 2, span_minus_one - span_minus_one // 2
        if padding == "full":
            return span_minus_one, span_minus_one
        raise ValueError(
            f"padding must be a non-negative int, 'valid', 'same' or 'full', got {padding!r}"
        )
    p = check_int("padding", padding, minimum=0)
    return p, p


# --------------------------------------------------------------------------
# Stage 1: one channel, stride 1, no padding, written with loops.
# --------------------------------------------------------------------------

class SimpleConv1d(Layer):
    """Single-channel 1D convolution (cross-correlation), stride 1, no padding.

    Parameters
    ----------
    w : ndarray, shape (F,)
        The filter.
    b : float or ndarray of shape () or (1,)
        The bias; ``db`` has the same shape.

    Notes
    -----
    ``out[i] = sum_k x[i + k] * w[k] + b`` for ``i = 0 .. L - F``, so
    ``L_out = L - F + 1``. The filter is shared by every position, so its
    gradient sums over positions: ``dw[k] = sum_i dout[i] * x[i + k]``.
    The input gradient is a full convolution of ``dout`` with ``w``:
    ``dx[j] = sum_i dout[i] * w[j - i]`` over the valid ``i``.
    """

    params = ("w", "b")

    def __init__(self, w, b):
        self.w = as_float_array("w", w, ndim=1, shape_doc="(F,)")
        self.b = as_float_array("b", b, ndim=(0, 1), shape_doc="() or (1,)")
        if self.b.size != 1:
            raise ValueError(f"b must hold a single value, got shape {self.b.shape}")
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        """Slide the filter over ``x``.

        Parameters
        ----------
        x : ndarray, shape (L,)

        Returns
        -------
        out : ndarray, shape (L - F + 1,)
        """
        x = as_float_array("x", x, ndim=1, shape_doc="(L,)")
        F = len(self.w)
        L_out = len(x) - F + 1
        if L_out < 1:
            raise ValueError(f"x of length L={len(x)} is shorter than the filter w (F={F})")
        out = np.empty(L_out, dtype=np.result_type(x, self.w))
        for i in range(L_out):
            out[i] = x[i:i + F] @ self.w
        self._cache = x.copy()  # the caller may change x before backward
        return out + self.b.reshape(())

    def backward(self, dout):
        """Gradients of the loss.

        Parameters
        ----------
        dout : ndarray, shape (L - F + 1,)

        Returns
        -------
        dx : ndarray, shape (L,), same shape as the input.
        """
        x = self._require_cache()
        dout = as_float_array("dout", dout, ndim=1)
        F = len(self.w)
        check_same_shape("dout", dout, (len(x) - F + 1,), "the forward output")
        dx = np.zeros_like(x)
        dw = np.zeros_like(self.w)
        for i, g in enumerate(dout):
            dx[i:i + F] += g * self.w
            dw += g * x[i:i + F]
        self.dw = dw
        self.db = np.full_like(self.b, dout.sum())
        return dx


# --------------------------------------------------------------------------
# Naive multi-channel loops: the definition, used to test the fast layer.
# --------------------------------------------------------------------------

def conv1d_forward_naive(x_pad, w, b, stride=1, dilation=1):
    """Convolution by the definition, looping over every index.

    Parameters
    ----------
    x_pad : ndarray, shape (N, C_in, L_pad)
        Already-padded input.
    w : ndarray, shape (C_out, C_in, F)
    b : ndarray, shape (C_out,)

    Returns
    -------
    out : ndarray, shape (N, C_out, L_out)
        ``L_out = floor((L_pad - D*(F-1) - 1) / S) + 1``.
    """
    N, C_in, L_pad = x_pad.shape
    C_out, _, F = w.shape
    L_out = output_size(L_pad, F, 0, stride, dilation)
    out = np.zeros((N, C_out, L_out), dtype=np.result_type(x_pad, w))
    for n in range(N):
        for o in range(C_out):
            for i in range(L_out):
                window = x_pad[n, :, i * stride:i * stride + dilation * (F - 1) + 1:dilation]
                out[n, o, i] = np.sum(window * w[o]) + b[o]
    return out


def conv1d_backward_naive(dout, x_pad, w, stride=1, dilation=1):
    """Gradients of :func:`conv1d_forward_naive` by the same loops.

    Returns
    -------
    dx_pad : ndarray, shape (N, C_in, L_pad)
    dw : ndarray, shape (C_out, C_in, F)
    db : ndarray, shape (C_out,)
    """
    N, C_out, L_out = dout.shape
    F = w.shape[2]
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for n in range(N):
        for o in range(C_out):
            for i in range(L_out):
                taps = slice(i * stride, i * stride + dilation * (F - 1) + 1, dilation)
                dx_pad[n, :, taps] += dout[n, o, i] * w[o]
                dw[o] += dout[n, o, i] * x_pad[n, :, taps]
    return dx_pad, dw, dout.sum(axis=(0, 2))


# --------------------------------------------------------------------------
# The vectorised layer (im2col).
# --------------------------------------------------------------------------

class Conv1d(Layer):
    """Multi-channel 1D convolution (cross-correlation) over a mini-batch.

    Parameters
    ----------
    w : ndarray, shape (C_out, C_in, F)
        One kernel per output channel, spanning every input channel.
    b : ndarray, shape (C_out,)
    stride : int
        Step S between output positions, >= 1.
    padding : int or {"valid", "same", "full"}
        An int P pads P positions on each side; "valid" pads none; "same"
        pads D*(F-1) in all, so that L_out = L at stride 1 (the odd one on
        the right, as ``resolve_padding`` says); "full" pads D*(F-1) on each
        side.
    padding_mode : {"zeros", "constant", "reflect", "symmetric", "replicate", "circular"}
        How the padded positions are filled (PyTorch's names and meanings;
        "symmetric" is numpy's edge-repeating mirror).
    dilation : int
        Spacing D between kernel taps, >= 1.
    padding_value : float
        The fill for ``padding_mode="constant"``.

    Notes
    -----
    ``out[n, o, i] = b[o] + sum_c sum_k x_pad[n, c, i*S + k*D] * w[o, c, k]``
    for ``i = 0 .. L_out - 1``, where ``x_pad`` is ``x`` padded on the left
    and right, and ``L_out = floor((L + P_left + P_right - D*(F - 1) - 1) / S) + 1``.
    No Python loop over the samples or the positions (section 10).
    """

    params = ("w", "b")

    def __init__(self, w, b, stride=1, padding=0, padding_mode="zeros", dilation=1,
                 padding_value=0.0):
        self.w = as_float_array("w", w, ndim=3, shape_doc="(C_out, C_in, F)")
        self.b = as_float_array("b", b, ndim=1, shape_doc="(C_out,)")
        if self.b.shape[0] != self.w.shape[0]:
            raise ValueError(
                f"b must have shape (C_out,) = ({self.w.shape[0]},) to match w of shape "
                f"{self.w.shape}, got {self.b.shape}"
            )
        if 0 in self.w.shape:
            raise ValueError(f"w must have C_out, C_in and F all >= 1, got shape {self.w.shape}")
        self.stride = check_int("stride", stride, minimum=1)
        self.dilation = check_int("dilation", dilation, minimum=1)
        self.padding_mode = check_choice("padding_mode", padding_mode, PADDING_MODES)
        self.padding_value = check_float("padding_value", padding_value)
        self.padding = padding
        self.pad = resolve_padding(padding, self.w.shape[2], self.stride, self.dilation)
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)
        # How this implementation lays out its work (not part of the layer's contract):
        # forward gathers every window into im2col columns, row c*F + k holding tap k of
        # channel c, and does one matrix product per sample, or one for the whole batch
        # when L_out is short (a product per sample then costs more in call overhead than
        # it saves in copies). The columns are about F/S times larger than x; a batch
        # whose columns would exceed max_cols_bytes is done in slices of as many samples
        # as fit, and backward then rebuilds each slice's columns. 1 MiB fits a core's
        # L2 cache (faster than bigger slices, measured) and bounds the memory.
        self.max_cols_bytes = 2**20
        self.per_sample_min_l_out = 32

    def __repr__(self):
        C_out, C_in, F = self.w.shape
        return (f"Conv1d({C_in}, {C_out}, F={F}, stride={self.stride}, "
                f"padding={self.padding!r}, padding_mode={self.padding_mode!r}, "
                f"dilation={self.dilation})")

    def forward(self, x):
        """Convolve ``x`` with every kernel.

        Parameters
        ----------
        x : ndarray, shape (N, C_in, L) or (C_in, L)

        Returns
        -------
        out : ndarray, shape (N, C_out, L_out) or (C_out, L_out)
            ``L_out = floor((L + 2P - D*(F - 1) - 1) / S) + 1``.
        """
        x = as_float_array("x", x, ndim=(2, 3), shape_doc="(N, C_in, L) or (C_in, L)")
        batched = x.ndim == 3
        x3 = x if batched else x[None]
        C_out, C_in, F = self.w.shape
        if x3.shape[1] != C_in:
            raise ValueError(
                f"x must have C_in = {C_in} channels (axis {x.ndim - 2}) to match w of shape "
                f"{self.w.shape}, got shape {x.shape}"
            )
        N, _, L = x3.shape
        if L == 0:
            raise ValueError(f"x must have length L >= 1 along its last axis, got shape {x.shape}")
        P_l, P_r = self.pad
        S, D = self.stride, self.dilation
        span = D * (F - 1) + 1
        if span > L + P_l + P_r:
            raise ValueError(
                f"the kernel spans D*(F-1)+1 = {span} samples but the padded input x has "
                f"only {L + P_l + P_r} (L={L}, padding={self.padding!r}); use a shorter "
                "kernel, a smaller dilation or more padding"
            )
        x_pad = pad1d(x3, P_l, P_r, self.padding_mode, self.padding_value)  # (N, C_in, Lp)
        L_out = (x_pad.shape[2] - span) // S + 1
        dtype = np.result_type(x3, self.w, self.b)
        w_mat = self.w.reshape(C_out, C_in * F).astype(dtype, copy=False)
        out = np.empty((N, C_out, L_out), dtype=dtype)
        step = max(1, self.max_cols_bytes // (C_in * F * L_out * out.itemsize))  # samples
        last = S * (L_out - 1) + 1
        per_sample = L_out >= self.per_sample_min_l_out
        cols = None
        for n0 in range(0, N, step):
            x_n = x_pad[n0:n0 + step]                                   # (n, C_in, Lp)
            n = len(x_n)
            # im2col: row c*F + k of a sample's columns holds tap k of channel c,
            # and window i reads x_pad[i*S + k*D]. Per sample, cols is
            # (n, C_in*F, L_out); otherwise the samples sit side by side,
            # (C_in*F, n*L_out). taps views either as (n, C_in, F, L_out).
            if per_sample:
                cols = np.empty((n, C_in, F, L_out), dtype=dtype)
                taps = cols
            else:
                cols = np.empty((C_in, F, n, L_out), dtype=dtype)
                taps = cols.transpose(2, 0, 1, 3)
            for k in range(F):  # one tap at a time
                taps[:, :, k] = x_n[:, :, k * D:k * D + last:S]
            cols = cols.reshape((n, C_in * F, L_out) if per_sample else (C_in * F, n * L_out))
            if per_sample:
                # One product per sample, written straight into out: (n, C_out, L_out).
                np.matmul(w_mat, cols, out=out[n0:n0 + n])
                out[n0:n0 + n] += self.b[:, None]
            else:  # short outputs: one product for the whole slice beats n tiny ones
                prod = (w_mat @ cols).reshape(C_out, n, L_out)
                np.add(prod.transpose(1, 0, 2), self.b[:, None], out=out[n0:n0 + n])
        if step < N:  # several slices: backward rebuilds each one's cols from x_pad
            cols = None
            if np.may_share_memory(x_pad, x):  # the caller may change x before backward
                x_pad = x_pad.copy()
        self._cache = (cols, x_pad, L_out, x.ndim)
        return out if batched else out[0]

    def backward(self, dout):
        """Gradients of the loss.

        Parameters
        ----------
        dout : ndarray, shape of the forward output

        Returns
        -------
        dx : ndarray, same shape as the input x.
        """
        cached_cols, x_pad, L_out, x_ndim = self._require_cache()
        dout = as_float_array("dout", dout, ndim=x_ndim)
        dout3 = dout if x_ndim == 3 else dout[None]
        N, C_in, _ = x_pad.shape
        C_out, _, F = self.w.shape
        check_same_shape("dout", dout3, (N, C_out, L_out), "the forward output")
        P_l, P_r = self.pad
        S, D = self.stride, self.dilation
        last = S * (L_out - 1) + 1
        dtype = np.result_type(dout3, x_pad, self.w)
        w_mat = self.w.reshape(C_out, C_in * F).astype(dtype, copy=False)
        dw = np.zeros((C_out, C_in * F), dtype=dtype)
        dx_pad = np.zeros(x_pad.shape, dtype=dtype)                       # (N, C_in, Lp)
        if cached_cols is None:
            step = max(1, self.max_cols_bytes // (C_in * F * L_out * dw.itemsize))
        else:  # forward kept the whole batch's cols
            step = N
        per_sample = L_out >= self.per_sample_min_l_out
        for n0 in range(0, N, step):
            dout_n = dout3[n0:n0 + step]                                # (n, C_out, L_out)
            n = len(dout_n)
            if cached_cols is not None:
                cols = cached_cols
            else:  # the same im2col as in forward, for this slice only
                x_n = x_pad[n0:n0 + n]
                if per_sample:
                    cols = np.empty((n, C_in, F, L_out), dtype=dtype)
                    taps = cols
                else:
                    cols = np.empty((C_in, F, n, L_out), dtype=dtype)
                    taps = cols.transpose(2, 0, 1, 3)
                for k in range(F):
                    taps[:, :, k] = x_n[:, :, k * D:k * D + last:S]
                cols = cols.reshape((n, C_in * F, L_out) if per_sample else (C_in * F, n * L_out))
            dx_n = dx_pad[n0:n0 + n]
            if per_sample:
                # dw = sum_n dout[n] @ cols[n].T, computed as its transpose
                # cols[n] @ dout[n].T: the same sums, but OpenBLAS is faster with
                # the taps (C_in*F) rather than C_out as the rows of the result.
                dw += np.matmul(cols, dout_n.transpose(0, 2, 1)).sum(axis=0).T  # (C_out, C_in*F)
                dcols = np.matmul(w_mat.T, dout_n).reshape(n, C_in, F, L_out)
            else:  # short outputs: single products over the whole slice
                g = dout_n.transpose(1, 0, 2).reshape(C_out, n * L_out)   # (C_out, n*L_out)
                dw += (cols @ g.T).T
                dcols = (w_mat.T @ g).reshape(C_in, F, n, L_out).transpose(2, 0, 1, 3)
            for k in range(F):  # col2im: tap k of window i read x_pad[i*S + k*D]
                dx_n[:, :, k * D:k * D + last:S] += dcols[:, :, k]
        self.dw = dw.reshape(self.w.shape)
        self.db = dout3.sum(axis=(0, 2))
        dx = pad1d_backward(dx_pad, P_l, P_r, self.padding_mode)
        return dx if x_ndim == 3 else dx[0]
