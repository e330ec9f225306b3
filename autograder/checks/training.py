"""Checks of stage 5: ``MaxPool1d(kernel_size, stride=None)``, ``Flatten()`` and
``Scratch1dCNNClassifier`` (the student writes ``fit``, ``predict`` and
``predict_proba``; the rest of the class is given).

Every input is drawn from ``rng``; messages quote shapes and configurations
(kernel size, stride), never input values. A max-pooling output or gradient
IS a hidden input value (the maximum of a window, the upstream gradient), so
pooling and Flatten failures name the index, not the values.

The classifier checks grade the three methods the student writes and
nothing else: the given methods of the class (``_build``, ``decision_function``,
...) are replaced by the reference ones, whose layers are the reference
layers, so a bug in the student's MaxPool1d or Flatten costs only the
pooling and Flatten checks.

The accuracy check grades training, not weights: it trains the student's
fit with ``ACCURACY_CONFIG`` (the MNIST-1D paper's CNN with cosine
learning-rate decay and shift augmentation, ``ACCURACY_STEPS`` = 800 steps in
float32) on a task drawn from the secret (``secret_task``: MNIST-1D's
generator on ten templates of its own, 4000 training and 500 test signals)
and asks for a test accuracy of at least ``ACCURACY_THRESHOLD``. Weights
trained beforehand on MNIST-1D know nothing of such a task. Measured on
this kit's 2-core machine over task seeds 0-11 (2026-12-07): the reference
fit reaches 0.834-0.950 (mean 0.906); a network trained on the public
MNIST-1D, given fit's training set only to learn which label each of its
classes stands for (the best pasted weights can do), 0.364-0.518
(tests/test_redteam_grader.py). The threshold, 0.75, leaves room
for the seed (which comes from the student id) and for a legitimately
different batch order, and no broken training loop reaches it: a network
that never steps stays at chance (0.10), forgetting the ReLU's backward or
the bias gradients stalled it far lower on the digits. ``TIME_BUDGET_FACTOR`` bounds the
CPU time relative to the reference fit of ``CALIBRATION_STEPS`` steps timed
just before, so that a busy grader does not fail a correct fit; a fit that
evaluates the whole training set at every step, or loops over the samples
of a batch, is well beyond it.
"""

import threading
import time

import numpy as np

from solutions.augment import shift_and_noise
from solutions.losses import SoftmaxCrossEntropy, softmax
from solutions.model import MNIST1D_CNN
from solutions.model import Scratch1dCNNClassifier as Reference
from solutions.pool import MaxPool1d as RefMaxPool1d

from .common import (
    CheckFailed,
    LayerForward,
    as_array,
    assert_unchanged,
    call,
    grad_wrt,
    look,
    need,
    place,
    rel_error,
)

#: (kernel_size, stride) of the pooling checks; None = the default stride.
POOL_CONFIGS = ((2, None), (3, 2), (3, 1), (2, 3), (4, None), (5, 2))
POOL_FORMULA = "L_out = (L - F) // S + 1"

ACCURACY_STEPS = 800
ACCURACY_THRESHOLD = 0.75
ACCURACY_REFERENCE = 0.90
ACCURACY_AUGMENT = True        # shift each training sequence by up to 2 samples
ACCURACY_CONFIG = {
    "conv_layers": MNIST1D_CNN, "optimizer": "adam", "lr": 1e-2, "lr_decay": "cosine",
    "batch_size": 100, "steps": ACCURACY_STEPS, "init": "torch", "dtype": "float32",
    "verbose": False,
}
CALIBRATION_STEPS = 25
TIME_BUDGET_FACTOR = 6.0
TIME_BUDGET_EXTRA = 10.0       # seconds: process start-up, data, one slow moment

#: Methods of Scratch1dCNNClassifier that the student writes.
STUDENT_METHODS = ("fit", "predict", "predict_proba")


# --------------------------------------------------------------------------
# Comparisons that never print a hidden value
# --------------------------------------------------------------------------

def _assert_close(quantity, got, expected, context, hint="", rtol=1e-7, atol=1e-9):
    """Fail with the shape or the first mismatching index (no values: they are hidden inputs)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise CheckFailed(f"{quantity} has shape {got.shape}, expected {expected.shape} "
                          f"({context})" + (f". Hint: {hint}" if hint else ""))
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(f"{quantity} is wrong ({context}): {int(bad.sum())} of {got.size} "
                          f"values differ; first at index {index}"
                          + (f". Hint: {hint}" if hint else ""))


def _pool_context(K, S, x):
    if S is None:
        layer = f"MaxPool1d({K}) (default stride {K})"
    else:
        kind = " (overlapping windows)" if S < K else " (gaps between windows)" if S > K else ""
        layer = f"MaxPool1d({K}, stride={S}){kind}"
    return f"{layer}, x of shape {x.shape}"


def _pool_call(K, S):
    return f"MaxPool1d({K})" if S is None else f"MaxPool1d({K}, stride={S})"


def _make_pool(cls, K, S, context):
    args = (K,) if S is None else (K, S)
    return call(_pool_call(K, S), cls, *args)


def _pool_input(rng, K, S, ties=False):
    """(N, C, L) with L past several windows; distinct values 0.1 apart unless ``ties``."""
    N, C = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    L = int(rng.integers(K + 2 * (S or K), K + 5 * (S or K) + 2))
    if ties:
        return rng.integers(0, 3, size=(N, C, L)).astype(np.float64)
    return (rng.permutation(N * C * L).reshape(N, C, L) - N * C * L / 2) * 0.1


# --------------------------------------------------------------------------
# MaxPool1d
# --------------------------------------------------------------------------

def _forward_hint(out, x, K, S):
    S_used = K if S is None else S
    L_out = (x.shape[2] - K) // S_used + 1
    if out.ndim == 3 and out.shape[:2] == x.shape[:2] and out.shape[2] != L_out:
        if S is None:
            return (f"stride=None means S = kernel_size = {K}: windows start every S samples; "
                    f"{POOL_FORMULA}")
        if out.shape[2] == x.shape[2] - K + 1:
            return f"the stride is ignored: windows start every S={S_used} samples, {POOL_FORMULA}"
    return f"out[n, c, i] = max of x[n, c, i*S : i*S + K]; {POOL_FORMULA} = {L_out}"


def check_maxpool_forward(ns, rng):
    """MaxPool1d forward matches the reference for default, overlapping and gapped strides."""
    cls = need(ns, "MaxPool1d")
    for K, S in POOL_CONFIGS:
        x = _pool_input(rng, K, S)
        keep, given = x.copy(), place(cls, x)
        context = _pool_context(K, S, x)
        layer = _make_pool(cls, K, S, context)
        out = as_array(f"forward(x) with {context}",
                       call(f"forward(x) with {context}", layer.forward, given))
        expected = RefMaxPool1d(K, S).forward(keep)
        _assert_close("forward output", out, expected, context, _forward_hint(out, x, K, S))
        assert_unchanged(f"forward with {context}", keep, look(given))


def _dx_hint(dx, dout, K, S):
    """Name the common backward mistake that ``dx`` shows."""
    S_used = K if S is None else S
    total, got_total = float(dout.sum()), float(dx.sum())
    if np.isclose(got_total, K * total, rtol=1e-6, atol=1e-9) and K > 1:
        return ("the gradient went to every sample of the window; only the window's maximum "
                "receives dout (the others did not change the output)")
    if not np.isclose(got_total, total, rtol=1e-6, atol=1e-9) and S_used < K:
        return ("windows overlap (S < K): a sample that is the maximum of two windows "
                "receives the SUM of their gradients (+=, not =)")
    if not np.isclose(got_total, total, rtol=1e-6, atol=1e-9):
        return "each window's dout goes, whole, to one sample: dx must sum to sum(dout)"
    return ("dout[n, c, i] goes to the position of the maximum of window i, "
            "x[n, c, i*S + argmax_k x[n, c, i*S + k]]")


def _student_pool_fn(cls, K, S):
    """f(x) = a fresh student layer's forward output, for numerical gradients."""
    return LayerForward(cls, _pool_call(K, S), fixed=(K,) if S is None else (K, S))


def check_maxpool_backward(ns, rng):
    """dx matches the numerical gradient of the student's own forward (tie-free
    inputs) and the reference; on ties the gradient goes to the first maximum.
    dx can only be judged on a right forward: a layer whose forward computes
    nothing (a constant, zeros) earns nothing here either."""
    cls = need(ns, "MaxPool1d")
    for K, S in POOL_CONFIGS:
        x = _pool_input(rng, K, S)
        context = _pool_context(K, S, x)
        layer = _make_pool(cls, K, S, context)
        out = as_array(f"forward(x) with {context}",
                       call(f"forward(x) with {context}", layer.forward, x.copy()))
        ref = RefMaxPool1d(K, S)
        out_ref = ref.forward(x)
        if out.shape != out_ref.shape or not np.allclose(out, out_ref):
            raise CheckFailed(f"forward output differs from the reference ({context}), so dx "
                              "cannot be checked. "
                              "Hint: fix the maxpool_forward check first")
        dout = rng.standard_normal(out_ref.shape)
        keep, given = dout.copy(), place(layer, dout)
        dx = as_array(f"backward(dout) with {context}",
                      call(f"backward(dout) with {context}", layer.backward, given), x.shape)
        assert_unchanged(f"backward with {context}", keep, look(given))
        hint = _dx_hint(dx, keep, K, S)
        num = grad_wrt(_student_pool_fn(cls, K, S), [x], 0, keep)
        if rel_error(dx, num) > 1e-6:
            _assert_close("dx", dx, num, context + "; compared with the numerical gradient of "
                          "your forward", hint, rtol=1e-5, atol=1e-7)
        _assert_close("dx", dx, ref.backward(keep), context, hint)
    # Ties: several equal maxima in a window. The numerical gradient is not
    # defined there; the convention (numpy's argmax, PyTorch) is the first one.
    K, S = 3, 2
    x = _pool_input(rng, K, S, ties=True)
    context = _pool_context(K, S, x) + " with tied maxima"
    layer = _make_pool(cls, K, S, context)
    out = call(f"forward(x) with {context}", layer.forward, x.copy())
    ref = RefMaxPool1d(K, S)
    out_ref = ref.forward(x)
    dout = rng.standard_normal(out_ref.shape)
    if np.shape(out) != out_ref.shape or not np.allclose(out, out_ref):
        return  # the forward check reports it
    dx = as_array(f"backward(dout) with {context}",
                  call(f"backward(dout) with {context}", layer.backward, dout.copy()), x.shape)
    _assert_close("dx", dx, ref.backward(dout), context,
                  "when a window has several equal maxima, the gradient goes to the FIRST one "
                  "(as np.argmax and PyTorch), and only to it")


# --------------------------------------------------------------------------
# Flatten
# --------------------------------------------------------------------------

def check_flatten(ns, rng):
    """Flatten: (N, C, L) -> (N, C*L) in C order and back, N = 1 included."""
    cls = need(ns, "Flatten")
    shapes = [(int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(2, 7))),
              (1, int(rng.integers(2, 5)), int(rng.integers(2, 7))),
              (int(rng.integers(2, 5)), 1, int(rng.integers(2, 7)))]
    for shape in shapes:
        x = rng.standard_normal(shape)
        keep, given = x.copy(), place(cls, x)
        context = f"x of shape {shape}"
        layer = call("Flatten()", cls)
        N, C, L = shape
        out = as_array(f"forward(x) with {context}",
                       call(f"forward(x) with {context}", layer.forward, given))
        if out.shape != (N, C * L):
            lost = " (the batch axis N is lost)" if out.ndim != 2 else ""
            raise CheckFailed(f"forward output has shape {out.shape}, expected (N, C*L) = "
                              f"{(N, C * L)} ({context}){lost}. Hint: keep axis 0 and merge "
                              "the others: x.reshape(N, -1)")
        _assert_close("forward output", out, keep.reshape(N, C * L), context,
                      "row n must be x[n] flattened in C order (channel 0's L samples, then "
                      "channel 1's, ...), as x.reshape(N, -1) gives")
        assert_unchanged(f"forward with {context}", keep, look(given))
        dout = rng.standard_normal((N, C * L))
        dx = as_array(f"backward(dout) with {context}",
                      call(f"backward(dout) with {context}", layer.backward, dout.copy()))
        _assert_close("dx", dx, dout.reshape(shape), context,
                      "backward undoes forward: dout (N, C*L) reshaped to the input's shape "
                      "(N, C, L)")


# --------------------------------------------------------------------------
# Scratch1dCNNClassifier
# --------------------------------------------------------------------------

def _toy(rng, n=90, L=24):
    """Three classes of noisy sequences told apart by where a bump sits; string labels."""
    t = rng.integers(0, 3, size=n)
    X = rng.normal(0, 0.3, size=(n, L))
    X[np.arange(n), np.array([4, 11, 18])[t] + rng.integers(-1, 2, size=n)] += 3.0
    return X, np.array(["left", "middle", "right"])[t]


#: A small network for the API check: no pooling (MaxPool1d has checks of its own).
SMALL = {"conv_layers": ((4, 3, 1, 1), (4, 3, 2, 1)), "steps": 40, "batch_size": 30,
         "lr": 1e-2, "verbose": False, "dtype": "float64"}
_TOKEN = "grader_token_"


def _new_model(ns, kwargs):
    cls = need(ns, "Scratch1dCNNClassifier")
    return call(f"Scratch1dCNNClassifier({_kwargs_text(kwargs)})", cls, **kwargs)


def _kwargs_text(kwargs):
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "augment")


def _fit(model, X, y, context, token, validation=()):
    """Run fit (with ``validation`` = (X_val, y_val) when given); it must return
    the model itself (checked by a marker attribute, which also works when the
    model lives in the grader's sandbox)."""
    model.grader_token_ = token
    label = "fit(X, y, X_val, y_val)" if validation else "fit(X, y)"
    returned = call(f"{label} with {context}", model.fit, X, y, *validation)
    if returned is None:
        raise CheckFailed(f"fit(X, y) must return self, the fitted classifier, so that "
                          f"clf.fit(X, y).predict(X) works; it returned None: did you forget "
                          f"`return self`? ({context})")
    try:
        same = getattr(returned, _TOKEN) == token
    except Exception:  # noqa: BLE001 - anything without the marker is another object
        same = False
    if not same:
        raise CheckFailed(f"fit(X, y) must return self, the fitted classifier, so that "
                          f"clf.fit(X, y).predict(X) works; it returned another object "
                          f"({context})")
    for attr in ("classes_", "layers_"):
        try:
            getattr(model, attr)
        except Exception:  # noqa: BLE001
            raise CheckFailed(f"after fit(X, y) the classifier has no attribute {attr} "
                              f"({context}); start fit with self._setup_fit(X, y, X_val, "
                              "y_val)") from None


def _logits(model, X, context):
    """The fitted model's logits from its (given) decision_function."""
    return as_array(f"decision_function(X) with {context}",
                    call(f"decision_function(X) with {context}", model.decision_function, X))


def _check_predict(model, X, classes, context):
    """predict returns labels (values of classes_) matching the model's logits."""
    logits = _logits(model, X, context)
    expected = classes[np.argmax(logits, axis=1)]
    got = call(f"predict(X) with {context}", model.predict, X)
    if got is None:
        raise CheckFailed(f"predict(X) returned None ({context}): did you forget a return "
                          "statement?")
    got = np.asarray(got)
    N, K = logits.shape
    if got.shape != (N,):
        probs = " (probabilities? predict returns one label per sample)" if got.shape == (
            N, K) else ""
        raise CheckFailed(f"predict(X) has shape {got.shape}, expected (N,) = ({N},) "
                          f"({context}){probs}. Hint: classes_[np.argmax(logits, axis=1)]")
    known = np.isin(got, classes)
    if not known.all():
        index = int(np.flatnonzero(~known)[0])
        raise CheckFailed(f"predict(X) returned {got[index]!r} at index {index}, which is not "
                          f"one of the training labels classes_ = {list(classes)} ({context}). "
                          "Hint: map the argmax indices to labels with classes_[...]")
    wrong = np.flatnonzero(got != expected)
    if wrong.size:
        i = int(wrong[0])
        raise CheckFailed(f"predict(X) is wrong ({context}): {wrong.size} of {N} labels differ; "
                          f"first at index {i}: expected {expected[i]!r}, got {got[i]!r}. "
                          "Hint: the label of the largest logit (decision_function)")


def _check_proba(model, X, context):
    logits = _logits(model, X, context)
    got = as_array(f"predict_proba(X) with {context}",
                   call(f"predict_proba(X) with {context}", model.predict_proba, X))
    N, K = logits.shape
    if got.shape != (N, K):
        raise CheckFailed(f"predict_proba(X) has shape {got.shape}, expected (N, K) = "
                          f"{(N, K)} ({context}): one probability per class")
    if not np.isfinite(got).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        raise CheckFailed(f"predict_proba(X) contains NaN or inf ({context}); first at index "
                          f"{index}. Hint: np.exp overflows past logits of about 709: subtract "
                          "each row's maximum before np.exp (the softmax does not change)")
    sums = got.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0, atol=1e-6):
        i = int(np.flatnonzero(~np.isclose(sums, 1.0, rtol=0, atol=1e-6))[0])
        raise CheckFailed(f"predict_proba(X) rows must sum to 1 ({context}); row {i} sums to "
                          f"{sums[i]:.6g}. Hint: normalise over the classes (axis=1)")
    expected = softmax(logits, axis=1)
    bad = ~np.isclose(got, expected, rtol=1e-6, atol=1e-9)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(f"predict_proba(X) is wrong ({context}): {int(bad.sum())} of "
                          f"{got.size} values differ; first at index {index}: expected "
                          f"{expected[index]:.6g}, got {got[index]:.6g}. Hint: the softmax of "
                          "decision_function(X) over axis 1; column k is classes_[k]")


def check_classifier_api(ns, rng):
    """fit returns self; predict returns training labels (strings too), not probabilities;
    predict_proba gives (N, K) rows summing to 1, also for logits in the thousands."""
    X, y = _toy(rng)
    kwargs = dict(SMALL, seed=int(rng.integers(0, 1000)))
    context = f"X of shape {X.shape}, 3 string labels, {SMALL['steps']} steps"
    model = _new_model(ns, kwargs)
    _fit(model, X, y, context, int(rng.integers(1, 2**31)))
    classes = np.asarray(model.classes_)
    if classes.tolist() != ["left", "middle", "right"]:
        raise CheckFailed(f"classes_ must be the sorted distinct labels of y, "
                          f"['left', 'middle', 'right'], got {classes.tolist()} ({context})")
    _check_predict(model, X, classes, context)
    _check_proba(model, X, context)
    # Logits of magnitude ~1000: scale the last layer so that a plain np.exp overflows.
    last = model.layers_[-1]
    factor = 1000.0 / max(float(np.abs(_logits(model, X, context)).max()), 1e-12)
    last.w = np.asarray(last.w) * factor
    last.b = np.asarray(last.b) * factor
    big = context + ", logits of magnitude up to 1000"
    _check_proba(model, X, big)
    _check_predict(model, X, classes, big)


# --------------------------------------------------------------------------
# The fit contract (section 9 of the notebook), as the grader observes it
# --------------------------------------------------------------------------

#: Training mode at every step. MODE_TASK: N random sequences of length L with
#: random labels (two classes), which a softmax on the raw samples
#: (``conv_layers=()``: Flatten, Dropout, Linear) memorises when it trains
#: without dropout and cannot with dropout 0.9 before its Linear layer. With a
#: validation set and ``eval_every=1`` every step's ``_record`` evaluates it
#: through ``decision_function``, which switches every layer to evaluation
#: mode: a fit that switches training mode on once, before its loop, trains
#: its last 39 steps without dropout. The grader measures the trained
#: network's loss on its training set (its logits, in evaluation mode), never
#: the history the fit records. Measured over 300 tasks (2026-12-07, ``mode_loss``
#: on ``default_rng([7, i])``, i < 300; tests/test_checks_training.py repeats it on
#: 40): the reference 0.34-2.28, that fit 0.0001-0.005; MODE_LOSS_MIN lies
#: between, a factor of 6 or more from each.
MODE_TASK = (40, 64)
MODE_CONFIG = {"conv_layers": (), "dropout": 0.9, "optimizer": "adam", "lr": 0.2,
               "batch_size": 20, "steps": 40, "eval_every": 1, "verbose": False,
               "dtype": "float64"}
MODE_LOSS_MIN = 0.05

#: The history: which steps are recorded, and the loss and accuracy of a record
#: as means over the SAMPLES trained since the previous one. With a learning
#: rate of 1e-12 the weights do not move, so the grader computes every
#: sample's loss itself from the trained network; a record that covers whole
#: epochs (each sample once an epoch, the last batch smaller) must hold the
#: mean over all N samples, whatever the batch order. (batch_size, steps,
#: eval_every) of each fit: 250 samples in batches of 100 (3 steps an epoch, the
#: last of 50), records at steps 3, 6 and 7; batches of 50 with eval_every=10,
#: records at 10 and 20 (the last step once).
HISTORY_TASK = (250, 16, 3)
HISTORY_FITS = ((100, 7, None), (50, 20, 10))
HISTORY_CONFIG = {"conv_layers": (), "optimizer": "sgd", "lr": 1e-12, "verbose": False,
                  "dtype": "float64"}


def _loss_and_accuracy(logits, t):
    """Mean softmax cross-entropy and accuracy of ``logits`` (N, K) against targets ``t``."""
    return (float(SoftmaxCrossEntropy().forward(logits, t)),
            float(np.mean(np.argmax(logits, axis=1) == t)))


def _layers_left_training(model, context):
    """Indices of the layers that fit left in training mode."""
    layers = call(f"layers_ after fit with {context}", lambda: list(model.layers_))
    return [i for i, layer in enumerate(layers)
            if call(f"layers_[{i}].training after fit with {context}",
                    lambda layer=layer: bool(layer.training))]


def mode_task(rng):
    """(X, y, X_val, y_val, constructor arguments) of the training-mode check."""
    N, L = MODE_TASK
    X, y = rng.standard_normal((N, L)), rng.permutation(np.arange(N) % 2)
    X_val, y_val = rng.standard_normal((4, L)), np.array([0, 1, 0, 1])
    return X, y, X_val, y_val, dict(MODE_CONFIG, seed=int(rng.integers(0, 1000)))


def mode_loss(cls, rng):
    """The training loss, in evaluation mode, of ``cls`` trained as the training-mode
    check trains it, in this process (measuring MODE_LOSS_MIN's margins)."""
    X, y, X_val, y_val, kwargs = mode_task(rng)
    logits = cls(**kwargs).fit(X, y, X_val, y_val).decision_function(X)
    return _loss_and_accuracy(logits, y)[0]


def check_fit_training_mode(ns, rng):
    """Every step trains in training mode (dropout on), though each record evaluates
    the validation set in evaluation mode; fit returns with the layers in evaluation mode."""
    X, y, X_val, y_val, kwargs = mode_task(rng)
    N, L = X.shape
    context = (f"{N} random sequences of length {L} with random labels, a validation set, "
               f"{_kwargs_text(kwargs)}")
    model = _new_model(ns, kwargs)
    _fit(model, X, y, context, int(rng.integers(1, 2**31)), (X_val, y_val))
    logits = _logits(model, X, context)
    if logits.shape != (N, 2):
        raise CheckFailed(f"decision_function(X) has shape {logits.shape}, expected ({N}, 2), "
                          f"one logit per class ({context})")
    loss, _ = _loss_and_accuracy(logits, y)
    if loss < MODE_LOSS_MIN:
        raise CheckFailed(
            f"the trained network memorised its random labels: its loss on the training set "
            f"is {loss:.3f} in evaluation mode, as after training without dropout; trained "
            f"with dropout 0.9 at every step it stays above {MODE_LOSS_MIN} ({context}). "
            "Hint: call self._set_training(True) before EVERY forward pass, not once before "
            "the loop: _record evaluates the validation set through decision_function, which "
            "switches every layer to evaluation mode")
    # At the end: evaluation mode (without a validation set no record switches to it).
    short = dict(kwargs, steps=3)
    context = f"{N} sequences of length {L}, no validation set, {_kwargs_text(short)}"
    model = _new_model(ns, short)
    _fit(model, X, y, context, int(rng.integers(1, 2**31)))
    left = _layers_left_training(model, context)
    if left:
        raise CheckFailed(f"after fit the layers must be in evaluation mode; layers_{left} "
                          f"are still training ({context}). Hint: end fit with "
                          "self._set_training(False)")


def _history(model, keys, context):
    """{key: float array} of ``model.history_``, each of the keys present."""
    history = call(f"history_ after fit with {context}", lambda: model.history_)
    out = {}
    for key in keys:
        try:
            values = history[key]
        except Exception:  # noqa: BLE001 - not a dict, or the key is missing
            raise CheckFailed(f"after fit, history_ has no entry {key!r} ({context}); "
                              "record with self._record(step, loss, train_acc, X_val, "
                              "t_val, elapsed), which fills it") from None
        out[key] = as_array(f"history_[{key!r}] after fit with {context}",
                            call(f"history_[{key!r}]", lambda v=values: list(v)))
    return out


def _shown(values, most=10):
    values = [int(v) if float(v).is_integer() else float(v) for v in values[:most]]
    return f"{values}" if len(values) < most else f"{values[:-1]} and more"


def _records(N, batch_size, steps, eval_every):
    """The steps fit records at, by the contract."""
    every = eval_every or -(-N // batch_size)
    return [s for s in range(1, steps + 1) if s % every == 0 or s == steps]


def _step_hint(got, expected, eval_every):
    if len(got) == 0:
        return ("fit recorded nothing: call self._record(step, loss, train_acc, X_val, t_val, "
                "elapsed) every eval_every steps and after the last step")
    if len(got) == len(expected) and np.array_equal(got + 1, expected):
        return (f"step counts optimiser steps from 1: the first record here is after step "
                f"{expected[0]}")
    if len(got) == len(expected) + 1 and np.array_equal(got[:-1], expected):
        return "record the last step once, even when it is also a multiple of eval_every"
    if eval_every is None:
        return ("eval_every=None records once per epoch, every ceil(N / batch_size) steps: the "
                "epoch's last, smaller batch is a step too")
    return f"record every eval_every={eval_every} steps and after the last step"


def check_fit_history(ns, rng):
    """history_ records at the contract's steps (from 1, per epoch or eval_every, the
    last step once); each record's loss and accuracy are means over the samples since the
    previous record, every sample once an epoch (a smaller last batch weighs by its size)."""
    N, L, K = HISTORY_TASK
    X, y = rng.normal(0.0, 3.0, (N, L)), rng.permutation(np.arange(N) % K)
    X_val, y_val = rng.normal(0.0, 3.0, (30, L)), np.arange(30) % K
    for batch_size, steps, eval_every in HISTORY_FITS:
        kwargs = dict(HISTORY_CONFIG, batch_size=batch_size, steps=steps, eval_every=eval_every,
                      seed=int(rng.integers(0, 1000)))
        context = f"{N} sequences of length {L}, {K} classes, {_kwargs_text(kwargs)}"
        validation = (X_val, y_val) if eval_every is None else ()
        if validation:
            context += ", a validation set"
        model = _new_model(ns, kwargs)
        _fit(model, X, y, context, int(rng.integers(1, 2**31)), validation)
        keys = ("step", "loss", "train_acc") + (("val_loss", "val_acc") if validation else ())
        history = _history(model, keys, context)
        expected = _records(N, batch_size, steps, eval_every)
        got = history["step"]
        if got.shape != (len(expected),) or not np.array_equal(got, expected):
            raise CheckFailed(f"history_['step'] is {_shown(got)}, expected {expected} "
                              f"({context}: {-(-N // batch_size)} steps an epoch). Hint: "
                              + _step_hint(got, np.array(expected), eval_every))
        for key in keys[1:]:
            if history[key].shape != got.shape:
                raise CheckFailed(f"history_[{key!r}] has {history[key].size} entries and "
                                  f"history_['step'] {got.size} ({context}): one of each per "
                                  "record; self._record appends them (val_loss and val_acc "
                                  "when you pass it X_val and t_val as _setup_fit returned them)")
        # The weights have not moved (lr 1e-12): each sample's loss is the trained network's.
        loss, accuracy = _loss_and_accuracy(_logits(model, X, context), y)
        per_epoch = -(-N // batch_size)
        for i, (start, end) in enumerate(zip([0] + expected[:-1], expected, strict=True)):
            if start % per_epoch or end % per_epoch:
                continue  # not whole epochs: which samples it saw depends on the batch order
            span = (f"the record at step {end} covers steps {start + 1}-{end}, "
                    f"{(end - start) // per_epoch} epoch(s): every sample equally often")
            for key, want, what in (("loss", loss, "loss"), ("train_acc", accuracy, "accuracy")):
                value = float(history[key][i])
                if not np.isclose(value, want, rtol=1e-7, atol=1e-9):
                    raise CheckFailed(
                        f"history_[{key!r}][{i}] is {value:.6g}, expected {want:.6g}, the mean "
                        f"{what} over the {N} samples ({context}; {span}). Hint: the mean over "
                        "the SAMPLES of the batches since the previous record: add "
                        "loss * len(batch) and the hits of each batch, divide by the samples "
                        f"seen (the epoch's last batch has {N % batch_size or batch_size} "
                        "samples, not batch_size); each epoch visits every sample once")
        if validation:
            val = _loss_and_accuracy(_logits(model, X_val, context), y_val)
            for key, want in zip(("val_loss", "val_acc"), val, strict=True):
                if not np.allclose(history[key], want, rtol=1e-7, atol=1e-9):
                    raise CheckFailed(f"history_[{key!r}] does not hold the validation set's "
                                      f"{key[4:]} at every record ({context}). Hint: pass X_val "
                                      "and t_val, as _setup_fit returned them, to self._record")


def _augment(ns):
    """shift_and_noise(2) made where the student's code runs (None without it)."""
    make = ns.get("shift_and_noise") if hasattr(ns, "get") else None
    if make is None or not ACCURACY_AUGMENT:
        return None
    return call("shift_and_noise(max_shift=2)", make, max_shift=2)


#: MNIST-1D's generator (mnist1d.data.get_dataset_args): templates of 12
#: samples padded with 36-60 zeros, dilated to 72 samples, scaled by up to
#: +-20 %, translated by up to 47 samples (circularly), correlated noise where
#: the signal is zero, iid noise, sheared, subsampled to 40.
_GEN = {"template_len": 12, "padding": (36, 60), "scale_coeff": 0.4, "max_translation": 48,
        "corr_noise_scale": 0.25, "iid_noise_scale": 0.02, "shear_scale": 0.75, "length": 40}
TASK_TRAIN, TASK_TEST = 4000, 500
TEMPLATE_MAX_CORRELATION = 0.75


def secret_templates(rng, classes=10):
    """``classes`` templates of 12 samples drawn from ``rng``: random walks that
    start and end at 0, whitened as MNIST-1D's digits are, no two alike (their
    correlation at any shift of up to 3 samples at most TEMPLATE_MAX_CORRELATION)."""
    F = _GEN["template_len"]
    found = []
    for _ in range(10_000):
        walk = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.8, F - 1))])
        walk -= np.linspace(0.0, walk[-1], F)  # back where it started
        x = (walk - walk.mean()) / walk.std()
        x -= x[0]
        if all(np.corrcoef(x[max(s, 0):F + min(s, 0)], y[max(-s, 0):F - max(s, 0)])[0, 1]
               <= TEMPLATE_MAX_CORRELATION for y in found for s in range(-3, 4)):
            found.append(x)
            if len(found) == classes:
                return np.stack(found) / 6.0  # (classes, 12), MNIST-1D's scale
    raise RuntimeError("could not draw distinct templates")  # never seen: 10,000 tries


def _gaussian_smooth(x, sigma):
    """``x`` smoothed along axis 1 by a Gaussian of ``sigma`` samples, as
    scipy.ndimage.gaussian_filter1d does by default (the kernel cut at 4 sigma,
    the edges mirrored with the edge sample repeated), in numpy alone: the
    grader need not import scipy.ndimage (0.35 s) for one convolution."""
    radius = int(4.0 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(x, ((0, 0), (radius, radius)), mode="symmetric")
    out = np.zeros_like(x)
    for k, tap in enumerate(taps):
        out += tap * padded[:, k:k + x.shape[1]]
    return out


def _signals(rng, templates, labels):
    """One signal (length 40) per label, by MNIST-1D's recipe (see _GEN) done on
    the whole batch at once (mnist1d.transform does it one signal at a time)."""
    n, F = len(labels), templates.shape[1]
    low, high = _GEN["padding"]
    L = F + high                                                # 72 after dilation
    pads = low + (rng.random(n) * (high - low + 1)).astype(int)
    # pad each template with pads[i] zeros, then stretch it to L samples by
    # linear interpolation (np.interp of each padded signal, all at once)
    padded = np.zeros((n, L))
    padded[:, :F] = templates[labels] + 1e-8
    pos = np.linspace(0, 1, L)[None, :] * (F + pads - 1)[:, None]
    left = np.minimum(pos.astype(int), (F + pads - 2)[:, None])
    frac = pos - left
    rows = np.arange(n)[:, None]
    x = padded[rows, left] * (1 - frac) + padded[rows, left + 1] * frac
    x *= 1 + _GEN["scale_coeff"] * (rng.random((n, 1)) - 0.5)
    shift = rng.integers(0, _GEN["max_translation"], n)
    x = x[np.arange(n)[:, None], (np.arange(L)[None, :] - shift[:, None]) % L]
    noise = _gaussian_smooth(_GEN["corr_noise_scale"] * rng.standard_normal((n, L)), 2)
    x = np.where(x != 0, x, noise) + _GEN["iid_noise_scale"] * rng.standard_normal((n, L))
    x -= _GEN["shear_scale"] * (rng.random((n, 1)) - 0.5) * np.linspace(-0.5, 0.5, L)
    position = np.linspace(0, L - 1, _GEN["length"])            # subsample to 40
    left = np.minimum(position.astype(int), L - 2)
    frac = position - left
    return x[:, left] * (1 - frac) + x[:, left + 1] * frac      # (n, 40)


def secret_task(rng, n_train=TASK_TRAIN, n_test=TASK_TEST):
    """(X_train, y_train, X_test, y_test): a classification task no submission
    has seen. MNIST-1D's generator applied to ten templates drawn from the
    grader's secret-seeded ``rng`` instead of the ten digits: weights trained
    beforehand on MNIST-1D (pasted into a submission), or a table of its
    public splits, know nothing of it; only a fit that learns from the
    training set it is given can label the test set."""
    templates = secret_templates(rng)
    labels = rng.permutation(np.arange(n_train + n_test) % len(templates))
    X = _signals(rng, templates, labels)
    X = (X - X.mean()) / X.std()  # as MNIST-1D: the whole set centred, unit variance
    return X[:n_train], labels[:n_train], X[n_train:], labels[n_train:]


_CALIBRATION = {}


def _reference_cpu_per_step(data, steps=None):
    """CPU seconds per step of the reference fit, on one BLAS thread as in the
    sandbox; measured once per grader process (CPU time hardly moves with the
    machine's load, so the budget does not either)."""
    steps = steps or CALIBRATION_STEPS
    if steps not in _CALIBRATION:
        from .mini_batch import _single_threaded_blas

        model = Reference(**dict(ACCURACY_CONFIG, steps=steps, seed=0, augment=shift_and_noise(
            max_shift=2) if ACCURACY_AUGMENT else None))
        with _single_threaded_blas():
            start = time.thread_time()  # this thread's: another may grade beside it
            model.fit(data.X_train, data.y_train)
            _CALIBRATION[steps] = (time.thread_time() - start) / steps
    return _CALIBRATION[steps]


def _training_clock(model):
    """A function giving (seconds, what) of the submission's training so far.

    In a sandbox: its CPU time since the stage's answer cells began (cgroup
    or /proc; every thread and process, however the training is scheduled: in the
    answer cells, in a thread, left for later), else wall-clock time. In the
    notebook's own kernel: this thread's CPU time (the caller runs BLAS on one
    thread, as the sandbox does)."""
    worker = getattr(model, "_worker", None)
    if worker is not None:
        return worker.stage_clock
    start = time.thread_time()
    return lambda: (time.thread_time() - start, "CPU time")


def check_accuracy(ns, rng):
    """Train for ACCURACY_STEPS steps on a task drawn from the secret (MNIST-1D's
    generator on ten secret templates: secret_task); accuracy >= ACCURACY_THRESHOLD
    on its test signals, within a CPU-time budget relative to the reference
    that covers the training however it is scheduled (threads, processes,
    work left for later) up to the test predictions. Weights trained
    elsewhere know nothing of the task: only training on the data given counts."""
    import types

    seed = int(rng.integers(0, 1000))
    X_train, y_train, X_test, y_test = secret_task(rng)
    data = types.SimpleNamespace(X_train=X_train, y_train=y_train)
    config = (f"MNIST-1D's generator on ten templates drawn for this check, "
              f"{len(X_train)} training sequences of length {X_train.shape[1]}, the paper's "
              f"CNN, Adam lr 1e-2 with cosine decay, batches of 100, {ACCURACY_STEPS} steps, "
              "float32")
    from .mini_batch import _single_threaded_blas

    model = _new_model(ns, dict(ACCURACY_CONFIG, seed=seed, augment=_augment(ns)))
    clock = _training_clock(model)
    with _single_threaded_blas():
        # the reference's cost per step is timed here (its own thread's CPU
        # time) while the submission trains in its sandbox
        calibration = threading.Thread(target=_reference_cpu_per_step, args=(data,),
                                       name="calibration", daemon=True)
        calibration.start()
        try:
            _fit(model, X_train, y_train, config, int(rng.integers(1, 2**31)))
            logits = _logits(model, X_test, config)
        finally:
            calibration.join()
    seconds, what = clock()
    per_step = _reference_cpu_per_step(data)
    budget = TIME_BUDGET_FACTOR * per_step * ACCURACY_STEPS + TIME_BUDGET_EXTRA
    if seconds > budget:
        raise CheckFailed(
            f"training and predicting took {seconds:.1f} s of {what}, counted from when your "
            f"answer cells started running ({config}); the budget "
            f"is {budget:.1f} s ({TIME_BUDGET_FACTOR:g}x the reference's "
            f"{per_step * ACCURACY_STEPS:.1f} s + {TIME_BUDGET_EXTRA:g} s). Hint: one forward "
            "and one backward pass per step, on one mini-batch; evaluate the whole set only "
            "when recording history")
    classes = np.asarray(model.classes_)
    if logits.shape != (len(X_test), len(classes)) or classes.shape != (10,):
        raise CheckFailed(f"decision_function(X) has shape {logits.shape}, expected "
                          f"({len(X_test)}, 10), one logit per class ({config})")
    accuracy = float(np.mean(classes[np.argmax(logits, axis=1)] == y_test))
    if accuracy < ACCURACY_THRESHOLD:
        try:
            last = list(model.history_["train_acc"])
        except Exception:  # noqa: BLE001 - no history: say nothing about it
            last = []
        seen = f" Last recorded training accuracy: {last[-1]:.3f}." if last else ""
        raise CheckFailed(
            f"test accuracy is {accuracy:.3f} after training ({config}); at least "
            f"{ACCURACY_THRESHOLD:.2f} is needed (the reference reaches about "
            f"{ACCURACY_REFERENCE:.2f} in {ACCURACY_STEPS} steps).{seen} "
            "Hint: every step must run forward, the loss, backward through every layer in "
            "reverse order, then opt.step(self.layers_); set training mode before the "
            "forward pass")
