"""Layers around the convolutions: fully connected, flatten and dropout.

A 1D CNN ends like a multilayer perceptron: the feature maps (N, C, L) are
flattened to vectors (N, C*L) and a fully connected layer ``z = x W^T + b``
turns them into class scores. Dropout regularises those dense layers.
"""

import numbers

import numpy as np

from ._checks import _describe, as_float_array, check_float, check_int, check_same_shape
from .init import init_weights
from .layer import Layer


class Linear(Layer):
    """Fully connected (affine, dense) layer ``out = x @ w.T + b``.

    Parameters
    ----------
    w : ndarray, shape (out_features, in_features)
        PyTorch's layout: row ``j`` holds the weights of output unit ``j``.
    b : ndarray, shape (out_features,)

    Notes
    -----
    The seed lecture writes ``z = W^T a + b`` with ``W`` of shape (in, out);
    this ``w`` is that ``W`` transposed. For an upstream gradient ``dout``
    of shape (N, out)::

        dx = dout @ w          (N, in)
        dw = dout.T @ x        (out, in)    summed over the batch
        db = dout.sum(axis=0)  (out,)
    """

    params = ("w", "b")

    def __init__(self, w, b):
        self.w = as_float_array("w", w, ndim=2, shape_doc="(out_features, in_features)")
        self.b = as_float_array("b", b, ndim=1, shape_doc="(out_features,)")
        if self.b.shape[0] != self.w.shape[0]:
            raise ValueError(
                f"b must have shape (out_features,) = ({self.w.shape[0]},) to match w of shape "
                f"{self.w.shape}, got {self.b.shape}"
            )
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)

    @classmethod
    def init(cls, in_features, out_features, rng, scheme="he"):
        """A layer with freshly initialised weights and zero bias.

        Parameters
        ----------
        in_features, out_features : int
        rng : numpy.random.Generator
        scheme : {"he", "he_uniform", "xavier", "xavier_uniform", "torch"}
            See ``solutions.init.init_weights``; the fans are ``in_features``
            and ``out_features``.
        """
        in_features = check_int("in_features", in_features, minimum=1)
        out_features = check_int("out_features", out_features, minimum=1)
        w = init_weights((out_features, in_features), rng, scheme)
        return cls(w, np.zeros(out_features))

    def __repr__(self):
        out_features, in_features = self.w.shape
        return f"Linear(in_features={in_features}, out_features={out_features})"

    def forward(self, x):
        """Affine map of the last axis.

        Parameters
        ----------
        x : ndarray, shape (N, in_features), or (..., in_features)

        Returns
        -------
        out : ndarray, shape (N, out_features), or (..., out_features)
        """
        x = as_float_array("x", x, shape_doc="(N, in_features)")
        if x.ndim == 0 or x.shape[-1] != self.w.shape[1]:
            raise ValueError(
                f"x must have in_features = {self.w.shape[1]} on its last axis to match w of "
                f"shape {self.w.shape}, got shape {x.shape}"
            )
        self._cache = x
        return x @ self.w.T + self.b

    def backward(self, dout):
        """Gradients of the loss; sets ``dw`` and ``db``.

        Parameters
        ----------
        dout : ndarray, shape (N, out_features), the shape of the output

        Returns
        -------
        dx : ndarray, shape (N, in_features), same shape as the input x.
        """
        x = self._require_cache()
        dout = as_float_array("dout", dout)
        check_same_shape("dout", dout, x.shape[:-1] + (self.w.shape[0],), "the forward output")
        x2 = x.reshape(-1, x.shape[-1])                 # (N, in), any leading axes merged
        dout2 = dout.reshape(-1, self.w.shape[0])       # (N, out)
        self.dw = dout2.T @ x2
        self.db = dout2.sum(axis=0)
        return dout @ self.w


class Flatten(Layer):
    """Merge every axis but the first: (N, C, L) -> (N, C*L).

    Works for any rank >= 2: (N, d1, ..., dk) -> (N, d1*...*dk). The order
    is numpy's (C order), the same as ``torch.flatten(x, 1)``, so weights
    trained in either framework line up. ``backward`` reshapes the gradient
    back to the input's shape; there is nothing to learn.
    """

    def forward(self, x):
        """Parameters: x (N, C, L). Returns: out (N, C*L)."""
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(
                f"x must have at least 2 dimensions (N, ...), got shape {x.shape}; "
                "axis 0 is the batch and is kept"
            )
        self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        """Parameters: dout (N, C*L). Returns: dx (N, C, L), same shape as the input."""
        shape = self._require_cache()
        dout = np.asarray(dout)
        check_same_shape("dout", dout, (shape[0], int(np.prod(shape[1:]))), "the forward output")
        return dout.reshape(shape)


class Dropout(Layer):
    """Inverted dropout: zero each activation with probability ``p`` while training.

    Parameters
    ----------
    p : float
        Probability of DROPPING a unit, 0 <= p < 1 (PyTorch's convention).
        The seed lecture speaks of the keep probability ``p_keep = 1 - p``.
    seed : None, int or numpy.random.Generator
        Source of the masks. The same seed gives the same sequence of masks;
        pass the model's Generator to share one random stream.

    Notes
    -----
    Training: ``out = x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)``,
    drawn afresh on every forward. Dividing by ``1 - p`` keeps the expected
    activation unchanged, so evaluation (``layer.eval()``) is the identity:
    every unit is used with its learned weights, as the seed lecture asks,
    and nothing needs rescaling at test time. Dropped units receive no
    gradient: ``dx = dout * mask / (1 - p)``. The last mask (bool, True =
    kept) is in the attribute ``mask``; it is None in evaluation mode.
    """

    def __init__(self, p=0.5, seed=None):
        self.p = check_float("p", p, minimum=0.0, maximum=1.0, inclusive=(True, False))
        valid_seed = seed is None or isinstance(seed, np.random.Generator) or (
            isinstance(seed, numbers.Integral) and not isinstance(seed, bool | np.bool_))
        if not valid_seed:
            raise TypeError(
                f"seed must be None, an int or a numpy.random.Generator, got {_describe(seed)}"
            )
        self.rng = np.random.default_rng(seed)
        self.mask = None

    def __repr__(self):
        return f"Dropout(p={self.p})"

    def forward(self, x):
        """Parameters: x, any shape. Returns: out, same shape as x."""
        x = as_float_array("x", x)
        if not self.training or self.p == 0.0:
            self.mask = None
            self._cache = x.shape
            return x
        self.mask = self.rng.random(x.shape) >= self.p    # True = kept, P(kept) = 1 - p
        self._cache = x.shape
        return np.where(self.mask, x / (1.0 - self.p), 0.0).astype(x.dtype, copy=False)

    def backward(self, dout):
        """Parameters: dout, shape of the output. Returns: dx, same shape as the input."""
        shape = self._require_cache()
        dout = as_float_array("dout", dout)
        check_same_shape("dout", dout, shape, "the forward output")
        if self.mask is None:
            return dout
        return np.where(self.mask, dout / (1.0 - self.p), 0.0).astype(dout.dtype, copy=False)
