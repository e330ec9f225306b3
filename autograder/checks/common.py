"""What every check needs: calling student code safely, comparing arrays,
numerical gradients, and messages that teach without revealing hidden inputs.

Messages describe a test by its configuration (shapes, stride, padding) and
report the first mismatch of an output or gradient (index, expected, got);
they never print a hidden input array.
"""

import warnings

import numpy as np


class CheckFailed(AssertionError):
    """A check found the student's code wrong; the message is for the student."""


def need(ns, name):
    """The student's object called ``name``, or a failure saying to define it."""
    try:
        return ns[name]
    except KeyError:
        raise CheckFailed(
            f"{name} is not defined: run the answer cell that defines it (and the cells "
            "above it) before this test") from None


def call(label, fn, *args, **kwargs):
    """Call student code; turn any exception into a CheckFailed naming ``label``.

    Warnings are silenced: a correct answer that warns loses nothing.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any student error scores 0 with a reason
        if type(exc).__name__ == "SandboxError":  # timed out, crashed: say so plainly
            raise CheckFailed(f"{label}: {exc}") from None
        if not isinstance(exc, NotImplementedError):
            raise CheckFailed(f"{label} raised {type(exc).__name__}: {exc}") from None
        raise CheckFailed(f"{label} is not implemented yet ({type(exc).__name__}: {exc}). "
                          "Write its body in the answer cell.") from None


def as_array(label, value, shape=None):
    """The student's result as a float64 array of the expected shape, finite."""
    if value is None:
        raise CheckFailed(f"{label} returned None: did you forget a return statement?")
    if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
        raise CheckFailed(f"{label} must return a real numeric array, got dtype {value.dtype}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise CheckFailed(f"{label} must return a numeric array, got {type(value).__name__}"
                          ) from None
    if shape is not None and arr.shape != tuple(shape):
        raise CheckFailed(f"{label} has shape {arr.shape}, expected {tuple(shape)}")
    if not np.isfinite(arr).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise CheckFailed(f"{label} contains NaN or inf (first at index {index}): an "
                          "overflow, a division by zero or an uninitialised array (np.empty)")
    return arr


def describe(**config):
    """'x (2, 3, 9), stride=2, ...' from keyword arguments; arrays by shape."""
    parts = []
    for key, value in config.items():
        if isinstance(value, np.ndarray):
            parts.append(f"{key} of shape {value.shape}")
        else:
            parts.append(f"{key}={value!r}")
    return ", ".join(parts)


def first_mismatch(got, expected, rtol, atol):
    """Index of the first element outside tolerance, or None."""
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=False)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0])


def assert_close(quantity, got, expected, context="", rtol=1e-7, atol=1e-9, hint=""):
    """Fail with the first mismatching index, expected vs got, and a hint."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise CheckFailed(f"{quantity} has shape {got.shape}, expected {expected.shape}"
                          + (f" ({context})" if context else ""))
    index = first_mismatch(got, expected, rtol, atol)
    if index is None:
        return
    n_bad = int((~np.isclose(got, expected, rtol=rtol, atol=atol)).sum())
    message = (f"{quantity} is wrong" + (f" ({context})" if context else "")
               + f": {n_bad} of {got.size} values differ; first at index {index}: "
               f"expected {expected[index]:.6g}, got {got[index]:.6g}")
    if hint:
        message += f". Hint: {hint}"
    raise CheckFailed(message)


def numerical_gradient(f, x, dout, h=1e-5):
    """d sum(f(x) * dout) / dx by centred differences (x is perturbed and restored)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.asarray(f(), dtype=np.float64)
        flat[i] = old - h
        minus = np.asarray(f(), dtype=np.float64)
        flat[i] = old
        gflat[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(a, b):
    """Largest ``|a-b| / max(1e-8, |a|+|b|)``; inf when either holds NaN or inf, or
    the shapes differ (so ``rel_error(...) > tol`` can never pass a NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def assert_unchanged(label, before, after):
    """Fail when the student's code modified an input array in place."""
    if not np.array_equal(before, after):
        raise CheckFailed(f"{label} modified its input in place; work on a copy "
                          "(e.g. np.pad or x.copy()) so the caller's array is left as it was")


def grad_wrt(f, args, index, dout, h=1e-5):
    """Numerical gradient of ``sum(f(*args) * dout)`` with respect to ``args[index]``.

    ``f`` should build whatever it needs from its arguments on every call
    (e.g. a fresh layer from w and b), so that a layer that copies its
    parameters is still differentiated correctly. A ``LayerForward`` makes
    every evaluation in a few requests when the layer lives in a sandbox.
    """
    args = [np.array(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args]
    if not isinstance(f, LayerForward):
        return numerical_gradient(lambda: f(*args), args[index], dout, h)
    x = args[index]
    variants = []
    for i in range(x.size):
        for step in (h, -h):
            moved = x.copy()
            moved.reshape(-1)[i] += step
            variants.append([*args[:index], moved, *args[index + 1:]])
    outputs = f.many(variants)
    grad = np.zeros_like(x)
    for i in range(x.size):
        plus, minus = outputs[2 * i], outputs[2 * i + 1]
        grad.reshape(-1)[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


class LayerForward:
    """f(*ctor_args, x) = a fresh student layer's forward output:
    ``cls(*fixed, *ctor_args, **kwargs).forward(x)``, for numerical gradients.

    ``many`` evaluates a list of argument lists; where ``cls`` lives in a
    sandbox, it sends them in batches of ``BATCH`` (one request each) instead
    of two requests per evaluation.
    """

    BATCH = 256

    def __init__(self, cls, label, fixed=(), kwargs=None):
        self.cls, self.label, self.fixed, self.kwargs = cls, label, tuple(fixed), kwargs or {}

    def __call__(self, *args):
        layer = call(self.label, self.cls, *self.fixed, *args[:-1], **self.kwargs)
        return call(f"{self.label}.forward(x)", layer.forward, args[-1])

    def many(self, arg_lists):
        worker = getattr(self.cls, "_worker", None)
        if worker is None:
            outputs = [self(*args) for args in arg_lists]
        else:
            outputs = []
            for start in range(0, len(arg_lists), self.BATCH):
                calls = [(self.cls, (*self.fixed, *args[:-1]), self.kwargs,
                          [("forward", (args[-1],), {})])
                         for args in arg_lists[start:start + self.BATCH]]
                outputs += call(f"{self.label}.forward(x)", worker.map, calls)
        shape = None
        for i, out in enumerate(outputs):
            out = as_array(f"{self.label}.forward(x)", out, shape)
            shape, outputs[i] = out.shape, out
        return outputs


def place(near, array):
    """``array`` as an argument for student code that lives where ``near`` lives.

    In a sandbox the grader keeps its own copy and passes a handle to a copy
    kept there, which ``look`` reads back: the grader then compares its own
    copy with what the student's code left. Here, a copy of the array.
    """
    worker = getattr(near, "_worker", None)
    return np.array(array) if worker is None else worker.put(array)


def look(value):
    """The current contents of an array given to student code (see ``place``)."""
    from ..sandbox import Remote

    if isinstance(value, Remote):
        return value._worker.fetch(value)
    return np.asarray(value)
