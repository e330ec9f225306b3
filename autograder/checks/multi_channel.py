"""Checks of stage 3: Conv1d(w, b) with w (C_out, C_in, F), b (C_out,) on one sample
x (C_in, L); forward gives (C_out, L - F + 1), backward returns dx and sets dw, db."""

import numpy as np

from solutions.multichannel import Conv1d as Reference

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

FORWARD_HINT = "out[o, i] = b[o] + sum over c and k of w[o, c, k] * x[c, i + k]"
DX_HINT = "dx[:, i:i+F] += sum over o of dout[o, i] * w[o] for every output position i"
CHANNEL_HINT = ("{grad} is zero for every input channel but the first: channel c reaches the "
                "output through w[:, c], so {slice} gets a contribution too")
EDGE_HINT = ("the ends of x sit under fewer windows: output positions outside 0 .. L_out-1 "
             "contribute nothing (careful: a negative index wraps around to the end in numpy)")


def _cases(rng, n=4):
    """Random (x, w, b): C_in and C_out from 2 to 4 (the last case from 1), L from 5 to 20,
    F from 2 to min(L, 6)."""
    for case in range(n):
        low = 1 if case == n - 1 else 2
        C_in, C_out = (int(v) for v in rng.integers(low, 5, size=2))
        L = int(rng.integers(5, 21))
        F = int(rng.integers(2, min(L, 6) + 1))
        yield (rng.standard_normal((C_in, L)), rng.standard_normal((C_out, C_in, F)),
               rng.standard_normal(C_out))


def _out_shape(x, w):
    return (w.shape[0], x.shape[1] - w.shape[2] + 1)


def _run(ns, x, w, b, dout=None):
    """Construct the student's layer, run forward (and backward); return results."""
    cls = need(ns, "Conv1d")
    config = describe(x=x, w=w, b=b)
    layer = call(f"Conv1d(w, b) with {config}", cls, w.copy(), b.copy())
    out = as_array(f"forward(x) with {config}",
                   call(f"forward(x) with {config}", layer.forward, x.copy()))
    if out.shape != _out_shape(x, w):
        raise CheckFailed(f"forward output has shape {out.shape}, expected (C_out, L - F + 1) = "
                          f"{_out_shape(x, w)} ({config}): one row per kernel, one column per "
                          "position where the kernel fits, i = 0 .. L - F")
    if dout is None:
        return layer, out, None
    dx = as_array(f"backward(dout) with {config}",
                  call(f"backward(dout) with {config}", layer.backward, dout.copy()), x.shape)
    return layer, out, dx


def _forward_hint(out, x, w, b):
    """Name the mistake whose output ``out`` is, if it is a common one."""
    def ref(x_, w_, b_):
        return Reference(w_, b_).forward(x_)

    only_first = ref(x[:1], w[:, :1], b)
    if x.shape[0] > 1 and np.allclose(out, only_first):
        return ("your output uses input channel 0 only: each kernel spans ALL input channels, "
                "sum the products over c as well as over k")
    if w.shape[2] > 1 and np.allclose(out, ref(x, w[:, :, ::-1].copy(), b)):
        return ("your output equals a true convolution (kernel flipped); deep-learning "
                "convolution is cross-correlation: use w[o, c, k] with x[c, i + k]")
    if w.shape[0] > 1 and np.allclose(out - ref(x, w, np.zeros_like(b)), b[0]):
        return "every row gets b[0]: add one bias per output channel, b[o] to row o"
    if np.allclose(out, ref(x, w, np.zeros_like(b))):
        return "the bias is missing: add b[o] to every value of row o"
    return FORWARD_HINT


def check_forward(ns, rng):
    """forward matches the reference for random channel counts, lengths and filter sizes."""
    for x, w, b in _cases(rng):
        _, out, _ = _run(ns, x, w, b)
        expected = Reference(w, b).forward(x)
        if not np.allclose(out, expected, rtol=1e-7, atol=1e-9):
            assert_close("forward output", out, expected, describe(x=x, w=w, b=b),
                         hint=_forward_hint(out, x, w, b))


def _forward_fn(cls):
    """f(w, b, x) = a fresh student layer's forward output, for numerical gradients."""
    return LayerForward(cls, "Conv1d(w, b)")


def _dx_hint(dx, target, F, L_out):
    """The edge hint when every wrong dx[c, j] sits under fewer than F windows."""
    if dx.shape[0] > 1 and not dx[1:].any() and target[1:].any():
        return CHANNEL_HINT.format(grad="dx", slice="dx[c]")
    bad = ~np.isclose(dx, target, rtol=1e-5, atol=1e-7)
    columns = np.unique(np.argwhere(bad)[:, 1])
    if len(columns) and all(j < F - 1 or j >= L_out for j in columns):
        return EDGE_HINT
    return DX_HINT


def check_backward_dx(ns, rng):
    """dx matches the numerical gradient of the student's own forward and the reference."""
    f = _forward_fn(need(ns, "Conv1d"))
    for x, w, b in _cases(rng, 3):
        dout = rng.standard_normal(_out_shape(x, w))
        _, _, dx = _run(ns, x, w, b, dout)
        config = describe(x=x, w=w, b=b)
        F, L_out = w.shape[2], dout.shape[1]
        num = grad_wrt(f, [w, b, x], 2, dout)
        if rel_error(dx, num) > 1e-6:
            assert_close("dx", dx, num, config + "; compared with the numerical gradient of "
                         "your forward", rtol=1e-5, atol=1e-7, hint=_dx_hint(dx, num, F, L_out))
        ref = Reference(w, b)
        ref.forward(x)
        expected = ref.backward(dout)
        assert_close("dx", dx, expected, config, hint=_dx_hint(dx, expected, F, L_out))


def check_backward_params(ns, rng):
    """dw (C_out, C_in, F) and db (C_out,) match the numerical gradients."""
    f = _forward_fn(need(ns, "Conv1d"))
    hints = {"w": "weight sharing: dw[o, c, k] sums dout[o, i] * x[c, i + k] over every "
                  "position i (the window moves with i)",
             "b": "db[o] is the sum of dout[o, :] over positions: one value per output "
                  "channel, shape (C_out,)"}
    for x, w, b in _cases(rng, 3):
        dout = rng.standard_normal(_out_shape(x, w))
        layer, _, _ = _run(ns, x, w, b, dout)
        config = describe(x=x, w=w, b=b)
        ref = Reference(w, b)
        ref.forward(x)
        ref.backward(dout)
        for index, (name, param) in enumerate((("w", w), ("b", b))):
            grad = getattr(layer, "d" + name, None)
            if grad is None:
                raise CheckFailed(f"d{name} is not set: backward must store the gradient of "
                                  f"{name} in self.d{name}")
            grad = as_array(f"d{name}", grad)
            if grad.shape != param.shape:
                raise CheckFailed(f"d{name} has shape {grad.shape}, expected {param.shape} "
                                  f"(the shape of {name}; {config}). Hint: {hints[name]}")
            expected = getattr(ref, "d" + name)
            hint = hints[name]
            if name == "w" and w.shape[1] > 1 and not grad[:, 1:].any() and expected[:, 1:].any():
                hint = CHANNEL_HINT.format(grad="dw", slice="dw[:, c]")
            num = grad_wrt(f, [w, b, x], index, dout)
            assert_close(f"d{name}", grad, num, config + "; numerical gradient of your forward",
                         rtol=1e-5, atol=1e-7, hint=hint)
            assert_close(f"d{name}", grad, expected, config, hint=hint)


def check_no_side_effects(ns, rng):
    """A correct forward and backward leave x, w, b and dout unchanged; forward
    returns an ndarray. (A layer that computes nothing earns nothing here.)"""
    cls = need(ns, "Conv1d")
    x, w, b = next(_cases(rng, 2))  # C_in, C_out >= 2: a layer that reads one channel shows
    dout = rng.standard_normal(_out_shape(x, w))
    keep = [a.copy() for a in (x, w, b, dout)]
    given = [place(cls, a) for a in keep]  # the grader keeps its own copies
    layer = call("Conv1d(w, b)", cls, given[1], given[2])
    out = call("forward(x)", layer.forward, given[0])
    if not isinstance(out, np.ndarray):
        raise CheckFailed(f"forward(x) must return a numpy array, got {type(out).__name__}")
    ref = Reference(keep[1], keep[2])
    assert_close("forward output", as_array("forward(x)", out, _out_shape(x, w)),
                 ref.forward(keep[0]), describe(x=x, w=w, b=b), hint="fix the forward check first")
    dx = as_array("backward(dout)", call("backward(dout)", layer.backward, given[3]), x.shape)
    assert_close("dx", dx, ref.backward(keep[3]), describe(x=x, w=w, b=b),
                 hint="fix the backward_dx check first")
    for label, before, sent in zip(("forward/backward on x", "Conv1d on w", "Conv1d on b",
                                    "backward on dout"), keep, given, strict=True):
        assert_unchanged(label, before, look(sent))
