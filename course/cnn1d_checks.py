"""Argument checks of the course's layers: each answers a mistake with a message
naming the argument, what it must be and what it got (stages 1-5).

The canonical copy is ``course/cnn1d_checks.py``; the build copies it into the
stage folders that use it. Edit it there, never in a stage folder.
"""

import numbers

import numpy as np


def _describe(value):
    """Short printable description of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_int(name, value, minimum=None):
    """Return ``value`` as a Python int, or raise naming ``name``.

    Booleans and floats are refused: ``stride=1.5`` or ``stride=True`` is
    always a mistake.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def check_float(name, value, minimum=None, maximum=None, inclusive=(True, True)):
    """Return ``value`` as a finite Python float within the given bounds."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    low_ok = minimum is None or (value >= minimum if inclusive[0] else value > minimum)
    high_ok = maximum is None or (value <= maximum if inclusive[1] else value < maximum)
    if not (low_ok and high_ok):
        low = "" if minimum is None else f"{'>=' if inclusive[0] else '>'} {minimum}"
        high = "" if maximum is None else f"{'<=' if inclusive[1] else '<'} {maximum}"
        raise ValueError(f"{name} must be {' and '.join(filter(None, [low, high]))}, got {value}")
    return value


def check_choice(name, value, choices):
    """Return ``value`` when it is one of ``choices``, else raise naming them."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {_describe(value)}")
    return value


def as_float_array(name, value, ndim=None, shape_doc=""):
    """Return ``value`` as a floating-point ndarray, checking rank and finiteness.

    Parameters
    ----------
    name : str
        Argument name used in error messages.
    value : array_like
        The input. Integer arrays are refused rather than silently cast,
        because integer arithmetic hides bugs (and ``x += ...`` truncates).
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions.
    shape_doc : str
        What the shape should look like, e.g. ``"(N, C_in, L)"``.

    Returns
    -------
    ndarray
        ``value`` itself when it already is a float ndarray (no copy).
    """
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype "
            f"{arr.dtype}; convert it with np.asarray({name}, dtype=float)"
        )
    if ndim is not None:
        accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in accepted:
            dims = " or ".join(str(d) for d in accepted)
            expected = f" {shape_doc}" if shape_doc else ""
            raise ValueError(
                f"{name} must have {dims} dimensions{expected}, got shape {arr.shape}"
            )
    # One reduction is far cheaper than np.isfinite over the whole array;
    # only when it is not finite do we look for the culprit. The sum stays in
    # the array's own dtype (a float64 sum of float32 data converts every
    # element first, 3x slower); should finite values overflow it, the exact
    # check below finds nothing and lets them through.
    with np.errstate(over="ignore"):
        total = arr.sum() if arr.size else 0.0
    if not np.isfinite(total):
        bad = np.argwhere(~np.isfinite(arr))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            raise ValueError(
                f"{name} contains NaN or infinity (first at index {index}: "
                f"{arr[index]}); the input must be finite"
            )
    return arr


def check_same_shape(name, value, expected_shape, what):
    """Raise a ValueError when ``value.shape`` differs from ``expected_shape``."""
    if value.shape != tuple(expected_shape):
        raise ValueError(
            f"{name} must have the shape of {what}, {tuple(expected_shape)}, got {value.shape}"
        )
