"""Loss functions: softmax cross-entropy, MSE, hinge and exponential.

A loss follows the layer protocol with two inputs: ``forward(pred, target)``
returns a Python float, ``backward(dout=1.0)`` returns the gradient with
respect to ``pred`` (same shape as ``pred``). Losses have no parameters.

Which loss for which task (the seed lecture):

- regression: mean squared error;
- single-target classification (exactly one class is true): softmax output
  with categorical cross-entropy;
- binary classification with targets in {-1, +1}: hinge or exponential loss;
  with several classes, one score per class against all the others
  ("one-vs-all"), which is what integer labels are turned into here.

Sanity check: with all logits equal, softmax is uniform and the
cross-entropy over K classes is ``ln K`` (2.302585 for K = 10); a freshly
initialised classifier should start near that value.
"""

import numpy as np

from ._checks import _describe, as_float_array, check_choice, check_float, check_same_shape


def softmax(z, axis=-1):
    """``exp(z) / sum(exp(z))`` along ``axis``; entries are in [0, 1] and sum to 1.

    Subtracting the maximum first changes nothing mathematically (the factor
    ``e^-max`` cancels) but keeps every exponent <= 0, so logits of 1e4 do
    not overflow.

    Parameters
    ----------
    z : ndarray, any shape, e.g. (N, K)

    Returns
    -------
    ndarray, same shape as z
    """
    z = as_float_array("z", z)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """``log(softmax(z))`` computed as ``z - max - log(sum(exp(z - max)))``.

    Finite even where softmax underflows to 0, which is what a cross-entropy
    needs.

    Parameters
    ----------
    z : ndarray, any shape, e.g. (N, K)

    Returns
    -------
    ndarray, same shape as z
    """
    z = as_float_array("z", z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Loss:
    """Base class: the forward-before-backward guard and the reduction."""

    def __init__(self, reduction="mean"):
        self.reduction = check_choice("reduction", reduction, ("mean", "sum"))
        self._cache = None

    def __repr__(self):
        return f"{type(self).__name__}(reduction={self.reduction!r})"

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def _require_cache(self):
        if self._cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward was called before forward; call "
                "forward(pred, target) first so that the loss can remember its inputs"
            )
        return self._cache

    @staticmethod
    def _dout(dout):
        if isinstance(dout, np.ndarray) and dout.size == 1 and dout.ndim <= 1:
            dout = dout.reshape(())[()]
        return check_float("dout", dout)


def _pm1_targets(scores, t):
    """Return targets of ``scores``' shape with values in {-1, +1}.

    ``t`` is either already of that shape (values -1 and +1) or, for scores
    (N, K), integer class labels (N,) that become one-vs-all targets: +1 for
    the true class, -1 for every other.
    """
    t = np.asarray(t)
    if t.shape == scores.shape:
        if t.dtype == bool or not np.isin(t, (-1, 1)).all():
            raise ValueError(f"t must hold only -1 and +1 targets, got values {np.unique(t)[:6]}")
        return t.astype(scores.dtype)
    if scores.ndim == 2 and t.ndim == 1 and np.issubdtype(t.dtype, np.integer):
        labels = _check_labels(t, *scores.shape, name="t")
        T = -np.ones_like(scores)
        T[np.arange(len(labels)), labels] = 1
        return T
    raise ValueError(
        f"t must be -1/+1 targets of the scores' shape {scores.shape}, or integer class labels "
        f"of shape (N,) for scores (N, K), got {_describe(t)}"
    )


def _check_labels(y, N, K, name="y"):
    """Integer labels (N,) with values in 0..K-1, or raise naming ``name``."""
    if y.shape != (N,):
        raise ValueError(f"{name} must have shape (N,) = ({N},) like the scores, got {y.shape}")
    bad = np.flatnonzero((y < 0) | (y >= K))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{name} must hold class labels 0..K-1 = 0..{K - 1}, got {name}[{i}] = {y[i]}"
        )
    return y


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by categorical cross-entropy, fused for stability.

    ``loss = -(1/N) sum_n sum_k y[n, k] log softmax(z)[n, k]``
    (``reduction="sum"`` leaves out the 1/N).

    Notes
    -----
    The gradient of the fused pair is simply ``(softmax(z) - y) / N``: the
    large and tiny factors of the two separate derivatives cancel, which is
    why frameworks never backpropagate through a separate softmax.
    """

    def forward(self, logits, y):
        """Mean cross-entropy of a batch.

        Parameters
        ----------
        logits : ndarray, shape (N, K)
            Unnormalised class scores z.
        y : ndarray of int, shape (N,), or ndarray of float, shape (N, K)
            Class labels in 0..K-1, or one-hot / probability rows (each
            non-negative and summing to 1).

        Returns
        -------
        float
        """
        logits = as_float_array("logits", logits, ndim=2, shape_doc="(N, K)")
        N, K = logits.shape
        y = np.asarray(y)
        if np.issubdtype(y.dtype, np.integer):
            labels = _check_labels(y, N, K)
            Y = np.zeros_like(logits)
            Y[np.arange(N), labels] = 1                            # one-hot (N, K)
        elif np.issubdtype(y.dtype, np.floating):
            Y = as_float_array("y", y, ndim=2, shape_doc="(N, K)")
            check_same_shape("y", Y, logits.shape, "logits (N, K)")
            if (Y < 0).any() or not np.allclose(Y.sum(axis=1), 1.0, rtol=0, atol=1e-6):
                raise ValueError("y given as probabilities (N, K) must have non-negative rows "
                                 "that each sum to 1")
        else:
            raise TypeError(f"y must be integer labels (N,) or float probabilities (N, K), "
                            f"got {_describe(y)}")
        logp = log_softmax(logits, axis=1)                         # (N, K), finite
        scale = 1.0 / N if self.reduction == "mean" else 1.0
        self._cache = (np.exp(logp), Y, scale)
        # Y == 0 entries contribute exactly 0 even where logp is very negative.
        return float(-np.sum(Y * logp) * scale)

    def backward(self, dout=1.0):
        """Parameters: dout, float. Returns: dlogits (N, K), same shape as logits."""
        p, Y, scale = self._require_cache()
        return (p - Y) * (scale * self._dout(dout))


class MSELoss(Loss):
    """Mean squared error ``mean((pred - target)^2)`` over every element.

    This is PyTorch's ``MSELoss``. The seed lecture's ``(1/N) sum_n
    ||pred_n - target_n||^2`` averages over samples only; for (N, K)
    arrays it is K times this value. ``reduction="sum"`` gives the plain sum.
    """

    def forward(self, pred, target):
        """Parameters: pred, any shape; target, same shape. Returns: float."""
        pred = as_float_array("pred", pred)
        target = as_float_array("target", target)
        check_same_shape("target", target, pred.shape, "pred")
        diff = pred - target
        scale = 1.0 / max(diff.size, 1) if self.reduction == "mean" else 1.0
        self._cache = (diff, scale)
        return float(np.sum(diff * diff) * scale)

    def backward(self, dout=1.0):
        """Parameters: dout, float. Returns: dpred = 2 (pred - target) / size, pred's shape."""
        diff, scale = self._require_cache()
        return diff * (2.0 * scale * self._dout(dout))


class HingeLoss(Loss):
    """``loss = (1/N) sum_n sum_k max(0, 1 - t[n, k] s[n, k])`` with t in {-1, +1}.

    A score on the right side of the margin (``t s >= 1``) costs nothing;
    below it the cost grows linearly. The gradient is ``-t / N`` where
    ``t s < 1`` and 0 elsewhere (0 at the kink ``t s = 1``).
    """

    def forward(self, scores, t):
        """Mean hinge loss.

        Parameters
        ----------
        scores : ndarray, shape (N,) or (N, K)
        t : ndarray, same shape as scores with values -1 and +1, or
            integer labels (N,) for scores (N, K) (one-vs-all targets).

        Returns
        -------
        float
        """
        scores = as_float_array("scores", scores, ndim=(1, 2), shape_doc="(N,) or (N, K)")
        T = _pm1_targets(scores, t)
        margin = 1.0 - T * scores
        scale = 1.0 / len(scores) if self.reduction == "mean" else 1.0
        self._cache = (T, margin > 0, scale)
        return float(np.sum(np.maximum(margin, 0)) * scale)

    def backward(self, dout=1.0):
        """Parameters: dout, float. Returns: dscores, same shape as scores."""
        T, active, scale = self._require_cache()
        return np.where(active, -T, 0.0) * (scale * self._dout(dout))


class ExponentialLoss(Loss):
    """The seed's exponential loss ``(1/N) sum_n exp(-beta t_n . s_n)``, t in {-1, +1}.

    For scores (N, K) the margin of a sample is the dot product
    ``m_n = sum_k t[n, k] s[n, k]`` (the seed's ``y_i^T y_hat_i``); for
    scores (N,) it is ``t_n s_n``. The gradient is
    ``-beta t[n, k] exp(-beta m_n) / N``. Unlike the hinge it never stops
    pushing, and a badly wrong score costs exponentially much (it overflows
    to inf for ``beta m < -709``).

    Parameters
    ----------
    beta : float
        > 0.
    reduction : {"mean", "sum"}
        "sum" is the seed's formula.
    """

    def __init__(self, beta=1.0, reduction="mean"):
        super().__init__(reduction)
        self.beta = check_float("beta", beta, minimum=0.0, inclusive=(False, True))

    def __repr__(self):
        return f"ExponentialLoss(beta={self.beta}, reduction={self.reduction!r})"

    def forward(self, scores, t):
        """Parameters: scores (N,) or (N, K); t as in HingeLoss. Returns: float."""
        scores = as_float_array("scores", scores, ndim=(1, 2), shape_doc="(N,) or (N, K)")
        T = _pm1_targets(scores, t)
        m = T * scores if scores.ndim == 1 else np.sum(T * scores, axis=1)   # (N,)
        e = np.exp(-self.beta * m)                                           # (N,)
        scale = 1.0 / len(scores) if self.reduction == "mean" else 1.0
        self._cache = (T, e, scale)
        return float(np.sum(e) * scale)

    def backward(self, dout=1.0):
        """Parameters: dout, float. Returns: dscores, same shape as scores."""
        T, e, scale = self._require_cache()
        e = e if T.ndim == 1 else e[:, None]
        return -self.beta * T * e * (scale * self._dout(dout))
