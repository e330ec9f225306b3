"""Checks of stage 1: SimpleConv1d(w, b) with forward(x) and backward(dout)."""

import numpy as np

from solutions.conv import SimpleConv1d as Reference

from .common import (
    CheckFailed,
    LayerForward,
    as_array,
    assert_close,
    assert_unchanged,
    call,
    describe,
    grad_wrt,
    look,
    need,
    place,
    rel_error,
)

FLIP_HINT = ("your output equals a true convolution (kernel flipped); deep-learning "
             "convolution is cross-correlation: out[i] = sum_k x[i + k] * w[k]")


def _cases(rng, n=4, min_F=1):
    """Random (x, w, b) with L from 6 to 30 and F from ``min_F`` to min(L, 9)."""
    for _ in range(n):
        L = int(rng.integers(6, 31))
        F = int(rng.integers(min_F, min(L, 9) + 1))
        yield rng.standard_normal(L), rng.standard_normal(F), rng.standard_normal(1)


def _run(ns, x, w, b, dout=None):
    """Construct the student's layer, run forward (and backward); return results."""
    cls = need(ns, "SimpleConv1d")
    config = describe(x=x, w=w)
    layer = call(f"SimpleConv1d(w, b) with {config}", cls, w.copy(), b.copy())
    out = as_array(f"forward(x) with {config}",
                   call(f"forward(x) with {config}", layer.forward, x.copy()),
                   (len(x) - len(w) + 1,))
    if dout is None:
        return layer, out, None
    dx = as_array(f"backward(dout) with {config}",
                  call(f"backward(dout) with {config}", layer.backward, dout.copy()), x.shape)
    return layer, out, dx


def check_forward(ns, rng):
    """forward matches the reference on random signals and filters."""
    for x, w, b in _cases(rng):
        _, out, _ = _run(ns, x, w, b)
        expected = Reference(w, b).forward(x)
        flipped = Reference(w[::-1].copy(), b).forward(x)
        hint = FLIP_HINT if len(w) > 1 and np.allclose(out, flipped) else (
            "out[i] = x[i:i+F] @ w + b for i = 0 .. L-F")
        assert_close("forward output", out, expected, describe(x=x, w=w), hint=hint)


def _forward_fn(cls):
    """f(w, b, x) = a fresh student layer's forward output, for numerical gradients."""
    return LayerForward(cls, "SimpleConv1d(w, b)")


def check_backward_dx(ns, rng):
    """dx matches the numerical gradient of the student's own forward and the reference."""
    f = _forward_fn(need(ns, "SimpleConv1d"))
    for x, w, b in _cases(rng, 3):
        dout = rng.standard_normal(len(x) - len(w) + 1)
        _, _, dx = _run(ns, x, w, b, dout)
        config = describe(x=x, w=w)
        num = grad_wrt(f, [w, b, x], 2, dout)
        if rel_error(dx, num) > 1e-6:
            assert_close("dx", dx, num, config + "; compared with the numerical gradient of "
                         "your forward", rtol=1e-5, atol=1e-7,
                         hint="dx[i:i+F] += dout[i] * w for every output position i")
        ref = Reference(w, b)
        ref.forward(x)
        assert_close("dx", dx, ref.backward(dout), config)


def check_backward_params(ns, rng):
    """dw and db match the numerical gradients of the student's own forward and
    the reference; db has the shape of b."""
    f = _forward_fn(need(ns, "SimpleConv1d"))
    hints = {"w": "weight sharing: dw[k] sums dout[i] * x[i + k] over every position i",
             "b": "db is the sum of dout, with the shape of b"}
    for x, w, b in _cases(rng, 3):
        dout = rng.standard_normal(len(x) - len(w) + 1)
        layer, _, _ = _run(ns, x, w, b, dout)
        config = describe(x=x, w=w)
        ref = Reference(w, b)
        ref.forward(x)
        ref.backward(dout)
        for index, (name, param) in enumerate((("w", w), ("b", b))):
            grad = as_array(f"d{name}", getattr(layer, "d" + name, None), param.shape)
            num = grad_wrt(f, [w, b, x], index, dout)
            assert_close(f"d{name}", grad, num, config + "; numerical gradient of your forward",
                         rtol=1e-5, atol=1e-7, hint=hints[name])
            assert_close(f"d{name}", grad, getattr(ref, "d" + name), config, hint=hints[name])


def check_no_side_effects(ns, rng):
    """forward is right and, with backward, leaves x, w, b and dout unchanged."""
    cls = need(ns, "SimpleConv1d")
    x, w, b = next(_cases(rng, 1, min_F=2))  # F >= 2: a flipped kernel must show
    dout = rng.standard_normal(len(x) - len(w) + 1)
    keep = [a.copy() for a in (x, w, b, dout)]
    given = [place(cls, a) for a in keep]  # the grader keeps its own copies
    layer = call("SimpleConv1d(w, b)", cls, given[1], given[2])
    out = call("forward(x)", layer.forward, given[0])
    if not isinstance(out, np.ndarray):
        raise CheckFailed("forward(x) must return a numpy array")
    out = as_array("forward(x)", out, (len(x) - len(w) + 1,))
    # leaving the inputs alone only counts for a layer that computes something
    ref = Reference(keep[1], keep[2])
    assert_close("forward output", out, ref.forward(keep[0]), describe(x=x, w=w),
                 hint="fix the forward check first")
    dx = as_array("backward(dout)", call("backward(dout)", layer.backward, given[3]), x.shape)
    assert_close("dx", dx, ref.backward(keep[3]), describe(x=x, w=w),
                 hint="fix the backward_dx check first")
    for label, before, sent in zip(("forward/backward on x", "SimpleConv1d on w",
                                    "SimpleConv1d on b", "backward on dout"),
                                   keep, given, strict=True):
        assert_unchanged(label, before, look(sent))
