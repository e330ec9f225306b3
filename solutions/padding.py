"""Padding a sequence at both ends, and the gradient of that padding.

Padding fabricates data at the borders. The modes follow PyTorch's names and
meanings, with numpy's ``symmetric`` added so that the two kinds of
"mirror" padding can be compared. For ``x = [a, b, c, d]`` and 2 on each side::

    zeros      0 0 | a b c d | 0 0
    constant   v v | a b c d | v v      (v = padding_value)
    reflect    c b | a b c d | c b      (mirror without repeating the edge)
    symmetric  b a | a b c d | d c      (mirror repeating the edge)
    replicate  a a | a b c d | d d
    circular   c d | a b c d | a b      (wrap around)
"""

import numpy as np

from ._checks import check_choice

PADDING_MODES = ("zeros", "constant", "reflect", "symmetric", "replicate", "circular")


def source_index(L, pad_left, pad_right, mode):
    """Index into the unpadded sequence for every position of the padded one.

    Parameters
    ----------
    L : int
        Length of the unpadded sequence.
    pad_left, pad_right : int
        Number of positions added before and after.
    mode : str
        One of the index-based modes: reflect, symmetric, replicate, circular.

    Returns
    -------
    idx : ndarray of int, shape (pad_left + L + pad_right,)
        ``x_pad[..., j] == x[..., idx[j]]``.
    """
    limits = {  # largest padding each mode can build from a length-L input
        "reflect": L - 1,
        "symmetric": L,
        "circular": L,
        "replicate": None,
    }
    limit = limits[mode]
    largest = max(pad_left, pad_right)
    if limit is not None and largest > limit:
        raise ValueError(
            f"padding={largest} is too large for padding_mode={mode!r} on an input of "
            f"length {L}: {mode} padding needs padding <= {limit}"
        )
    j = np.arange(-pad_left, L + pad_right)
    if mode == "reflect":
        j = np.where(j < 0, -j, j)
        return np.where(j >= L, 2 * (L - 1) - j, j)
    if mode == "symmetric":
        j = np.where(j < 0, -j - 1, j)
        return np.where(j >= L, 2 * L - 1 - j, j)
    if mode == "replicate":
        return np.clip(j, 0, L - 1)
    return j % L  # circular


def pad1d(x, pad_left, pad_right, mode="zeros", value=0.0):
    """Pad the last axis of ``x``.

    Parameters
    ----------
    x : ndarray, shape (..., L)
    pad_left, pad_right : int
        Positions added before and after, each >= 0.
    mode : str
        One of ``PADDING_MODES``.
    value : float
        Fill value for ``mode="constant"``.

    Returns
    -------
    x_pad : ndarray, shape (..., pad_left + L + pad_right)
        Always a new array, also when there is nothing to pad: a layer that
        keeps ``x_pad`` for its backward must not share memory with the
        caller's ``x`` (which the caller may change in place).
    """
    check_choice("padding_mode", mode, PADDING_MODES)
    if pad_left == 0 and pad_right == 0:
        return np.array(x, copy=True)
    if mode in ("zeros", "constant"):
        fill = 0.0 if mode == "zeros" else value
        widths = [(0, 0)] * (x.ndim - 1) + [(pad_left, pad_right)]
        return np.pad(x, widths, mode="constant", constant_values=fill)
    return x[..., source_index(x.shape[-1], pad_left, pad_right, mode)]


def pad1d_backward(dx_pad, pad_left, pad_right, mode="zeros"):
    """Gradient of :func:`pad1d`: fold the padded positions back to their sources.

    A fabricated position that copies ``x[i]`` passes its gradient to ``x[i]``;
    a constant position passes its gradient to nothing.

    Parameters
    ----------
    dx_pad : ndarray, shape (..., pad_left + L + pad_right)

    Returns
    -------
    dx : ndarray, shape (..., L)
        A new array (never a view of ``dx_pad``).
    """
    Lp = dx_pad.shape[-1]
    L = Lp - pad_left - pad_right
    dx = dx_pad[..., pad_left:pad_left + L].copy()
    if mode in ("zeros", "constant") or (pad_left == 0 and pad_right == 0):
        return dx
    idx = source_index(L, pad_left, pad_right, mode)
    border = np.r_[0:pad_left, pad_left + L:Lp]  # fabricated positions
    # np.add.at accumulates repeated targets (replicate sends many to one).
    np.add.at(np.moveaxis(dx, -1, 0), idx[border], np.moveaxis(dx_pad[..., border], -1, 0))
    return dx
