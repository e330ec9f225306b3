"""Checks of stage 2: output_size(n_in, filter_size, padding=0, stride=1, dilation=1),
and for a stack of layers receptive_field(layers) and stack_output_size(n_in, layers).

The arguments of ``output_size`` are the configuration of a convolution (L,
F, P, S, D), not data, so messages quote them: a student cannot learn to
count windows from "wrong for some input".
"""

import numbers
import warnings

from solutions.conv import output_size as reference
from solutions.receptive_field import receptive_field as reference_field
from solutions.receptive_field import stack_output_size as reference_stack

from .common import CheckFailed, call, need

FORMULA = "L_out = (L + 2P - D*(F - 1) - 1) // S + 1"


def _label(L, F, P=None, S=None, D=None):
    """How the student's function was called, e.g. 'output_size(40, 5, padding=1)'."""
    args = [str(L), str(F)] + [f"{name}={value}" for name, value in
                               (("padding", P), ("stride", S), ("dilation", D))
                               if value is not None]
    return f"output_size({', '.join(args)})"


def _kwargs(P=None, S=None, D=None):
    return {name: value for name, value in (("padding", P), ("stride", S), ("dilation", D))
            if value is not None}


def _hint(got, L, F, P, S, D):
    """Name the common mistakes whose formula gives ``got``, or restate the formula."""
    span = D * (F - 1) + 1
    room = L + 2 * P - span  # how far the first window can slide
    candidates = (
        ("the last window must fit entirely, so round down (floor, // in Python), not up",
         -(-room // S) + 1),
        ("the + 1 is missing: the window at position 0 counts too", room // S),
        ("padding adds P samples on EACH side: the padded length is L + 2P",
         (L + P - span) // S + 1),
        ("a dilated kernel spans D*(F - 1) + 1 samples: with dilation D the taps are D "
         "apart", (L + 2 * P - F) // S + 1),
        ("a dilated kernel spans D*(F - 1) + 1 samples, not D*F", (L + 2 * P - D * F) // S + 1),
        ("divide by the stride: windows start at 0, S, 2S, ...", room + 1),
    )
    expected = room // S + 1
    # several mistakes can give the same number: name each of them
    hints = [hint for hint, value in candidates if value != expected and got == value]
    return "; or ".join(hints) if hints else f"count the window positions: {FORMULA}"


def _as_int(label, got):
    """The student's result, which must be an integer (not a float, not a bool)."""
    if got is None:
        raise CheckFailed(f"{label} returned None: did you forget a return statement?")
    if isinstance(got, bool) or not isinstance(got, numbers.Integral):
        raise CheckFailed(
            f"{label} returned {got!r} of type {type(got).__name__}; it must return an int "
            "(a number of positions): use integer division // rather than /, or int(...)")
    return int(got)


def _call_fitting(fn, L, F, P=None, S=None, D=None):
    """Call the student's output_size on a kernel that fits; a ValueError is wrong."""
    label = _label(L, F, P, S, D)
    try:
        got = call(label, fn, L, F, **_kwargs(P, S, D))
    except CheckFailed as exc:
        if " raised ValueError" not in str(exc):
            raise
        span, padded = (D or 1) * (F - 1) + 1, L + 2 * (P or 0)
        raise CheckFailed(f"{exc}; but the kernel fits: it spans D*(F - 1) + 1 = {span} "
                          f"samples and the padded input has L + 2P = {padded} (padding "
                          "makes room), so at least one output position exists") from None
    return label, _as_int(label, got)


def _expect(ns, L, F, P=None, S=None, D=None):
    """Call the student's output_size and compare it with the reference."""
    label, got = _call_fitting(need(ns, "output_size"), L, F, P, S, D)
    expected = reference(L, F, P or 0, S or 1, D or 1)
    if got != expected:
        hint = _hint(got, L, F, P or 0, S or 1, D or 1)
        raise CheckFailed(f"output_size is wrong: {label} returned {got}, expected {expected} "
                          f"(L={L}, F={F}, P={P or 0}, S={S or 1}, D={D or 1}). Hint: {hint}")


def _fitting(rng, L, P, max_F):
    """A random filter size F (1 .. max_F) that fits in L + 2P samples."""
    return int(rng.integers(1, min(max_F, L + 2 * P) + 1))


def check_formula(ns, rng):
    """Stride 1, no dilation: valid, same, full and arbitrary padding; the defaults."""
    cases = []
    for _ in range(6):  # arbitrary padding
        L, P = int(rng.integers(1, 65)), int(rng.integers(0, 5))
        cases.append((L, _fitting(rng, L, P, 12), P))
    L = int(rng.integers(8, 65))
    cases.append((L, int(rng.integers(2, 8)), 0))                # valid: L - F + 1
    F = int(rng.choice([3, 5, 7]))
    cases.append((int(rng.integers(F, 65)), F, (F - 1) // 2))     # same: L
    F = int(rng.integers(2, 8))
    cases.append((int(rng.integers(1, 65)), F, F - 1))            # full: L + F - 1
    P = int(rng.integers(1, 4))
    L = int(rng.integers(1, 20))
    cases.append((L, L + 2 * P, P))                               # exactly one window
    for L, F, P in cases:
        # padding=0 uses the default, so the defaults are checked too
        _expect(ns, L, F, P if P else None)


def check_stride_and_dilation(ns, rng):
    """Strides 1 to 6 and dilations 1 to 4, with and without padding."""
    cases = []
    for _ in range(3):  # a stride that does not divide the room: floor matters
        L, P, S = int(rng.integers(10, 120)), int(rng.integers(0, 4)), int(rng.integers(2, 6))
        F = _fitting(rng, L, P, 11)
        if (L + 2 * P - F) % S == 0:
            L += 1
        cases.append((L, F, P, S, 1))
    for _ in range(3):  # dilation alone
        L, P, D = int(rng.integers(12, 80)), int(rng.integers(0, 4)), int(rng.integers(2, 5))
        F = int(rng.integers(2, min(7, (L + 2 * P - 1) // D + 1) + 1))
        cases.append((L, F, P, 1, D))
    for _ in range(4):  # everything at once
        L, P = int(rng.integers(12, 300)), int(rng.integers(0, 6))
        S, D = int(rng.integers(1, 7)), int(rng.integers(1, 5))
        F = int(rng.integers(1, min(12, (L + 2 * P - 1) // D + 1) + 1))
        cases.append((L, F, P, S, D))
    for L, F, P, S, D in cases:
        _expect(ns, L, F, P, S, D)


def _no_value_error(label, thunk, why):
    """Run ``thunk`` (student code that must raise ValueError). Returns None when
    it did, else ``(result,)``; any other exception fails with ``why``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = thunk()
    except ValueError:
        return None
    except CheckFailed:
        raise
    except NotImplementedError as exc:
        raise CheckFailed(f"{label} is not implemented yet ({type(exc).__name__}: {exc}). "
                          "Write its body in the answer cell.") from None
    except Exception as exc:  # noqa: BLE001 - any other error is the wrong error
        raise CheckFailed(f"{label} raised {type(exc).__name__}: {exc}, but expected a "
                          f"ValueError: {why}. Raise ValueError(...) with a message that "
                          "says so (an assert is not an argument check)") from None
    return (got,)


def _must_raise(fn, label, L, F, P, S, D):
    """The student's function must raise ValueError for a kernel that does not fit."""
    span, padded = D * (F - 1) + 1, L + 2 * P
    why = (f"the kernel spans D*(F - 1) + 1 = {span} samples and the padded input only "
           f"L + 2P = {padded}, so no output position exists")
    returned = _no_value_error(label, lambda: fn(L, F, **_kwargs(P, S, D)), why)
    if returned is not None:
        raise CheckFailed(f"output_size should raise ValueError: {label} returned "
                          f"{returned[0]!r}, yet {why}. A count of {returned[0]!r} would "
                          "silently build a broken layer; raise ValueError(...) instead")


def check_no_output_position(ns, rng):
    """ValueError when the dilated kernel does not fit in the padded input; no error
    when it fits exactly once."""
    fn = need(ns, "output_size")
    L = int(rng.integers(1, 20))
    P = int(rng.integers(1, 4))
    D = int(rng.integers(2, 4))
    F_dil = (L + 2 * P - 1) // D + 2  # F <= L + 2P, but D*(F-1)+1 > L + 2P
    raising = [
        (L, L + int(rng.integers(1, 4)), None, None, None),          # filter longer than x
        (L, L + 2 * P + int(rng.integers(1, 3)), P, None, None),     # padding not enough
        (L, F_dil, P, None, D),                                      # dilation too wide
        (L, L + 2 * P + 1, P, int(rng.integers(2, 5)), None),        # stride cannot help
    ]
    for L_, F, P_, S, D_ in raising:
        _must_raise(fn, _label(L_, F, P_, S, D_), L_, F, P_ or 0, S or 1, D_ or 1)
    # the boundary: the kernel fills the padded input exactly, so it fits once
    D = int(rng.integers(2, 4))
    F = int(rng.integers(2, 6))
    P_dil = int(rng.integers(0, D * (F - 1) // 2 + 1))
    for L_, F_, P_, D_ in ((L, L + 2 * P, P, None), (D * (F - 1) + 1 - 2 * P_dil, F, P_dil, D)):
        label, got = _call_fitting(fn, L_, F_, P_ if P_ else None, None, D_)
        if got != 1:
            raise CheckFailed(f"output_size is wrong at the boundary: {label} returned {got}, "
                              "expected 1: the kernel spans exactly the L + 2P padded samples, "
                              "so it fits once. Raise ValueError only when D*(F - 1) + 1 > "
                              "L + 2P")


# --------------------------------------------------------------------------
# A stack of layers: receptive_field(layers), stack_output_size(n_in, layers)
# --------------------------------------------------------------------------

RECEPTIVE_FIELD = "r = 1 + sum over layers l of D_l*(F_l - 1) * (S_1 * ... * S_(l-1))"


def _random_stack(rng, depth, max_F=7, max_S=3, max_D=3):
    """``depth`` layers (filter_size, padding, stride, dilation) drawn at random."""
    return [(int(rng.integers(1, max_F + 1)), int(rng.integers(0, 4)),
             int(rng.integers(1, max_S + 1)), int(rng.integers(1, max_D + 1)))
            for _ in range(depth)]


def _stack_label(layers):
    return "[" + ", ".join(f"({F}, {P}, {S}, {D})" for F, P, S, D in layers) + "]"


def _field_hint(got, layers):
    """Name the mistake whose formula gives ``got``, or restate the formula."""
    def field(term):
        total, jump = 1, 1
        for F, P, S, D in layers:
            total, jump = total + term(F, P, S, D, jump), jump * S
        return total

    def before(F, P, S, D, jump):  # the layer's own stride counted too
        return D * (F - 1) * jump * S

    candidates = (
        ("a layer's taps are D_l*(F_l - 1) apart in its own input, and one step there is "
         "S_1 * ... * S_(l-1) input samples: strides multiply the growth of the layers above "
         "them", field(lambda F, P, S, D, jump: D * (F - 1))),
        ("a dilated kernel spans D*(F - 1) + 1 samples: dilation widens the field",
         field(lambda F, P, S, D, jump: (F - 1) * jump)),
        ("a layer's own stride only spaces ITS outputs: it multiplies the growth of the "
         "layers above it, not its own", field(before)),
        ("a kernel of F taps adds F - 1 positions to the field, not F",
         field(lambda F, P, S, D, jump: D * F * jump)),
        ("padding moves the windows but does not widen them: leave P out",
         field(lambda F, P, S, D, jump: (D * (F - 1) + 2 * P) * jump)),
    )
    expected = reference_field(layers)
    hints = [hint for hint, value in candidates if value != expected and got == value]
    return "; or ".join(hints) if hints else RECEPTIVE_FIELD


def check_receptive_field(ns, rng):
    """Random stacks of 1 to 5 layers with strides and dilations, the empty stack,
    and the MNIST-1D CNN."""
    fn = need(ns, "receptive_field")
    stacks = [[], [(5, 1, 2, 1), (3, 1, 2, 1), (3, 1, 2, 1)]]
    stacks += [_random_stack(rng, depth) for depth in (1, 2, 3, 4, 5)]
    stacks += [[(int(rng.integers(2, 6)), 0, 1, 2 ** l) for l in range(4)]]  # WaveNet-like
    for layers in stacks:
        label = f"receptive_field({_stack_label(layers)})"
        got = _as_int(label, call(label, fn, [tuple(layer) for layer in layers]))
        expected = reference_field(layers)
        if got != expected:
            raise CheckFailed(f"receptive_field is wrong: {label} returned {got}, expected "
                              f"{expected} (layers are (filter_size, padding, stride, "
                              f"dilation)). Hint: {_field_hint(got, layers)}")


def _fitting_stack(rng, depth):
    """A random stack and an input length on which every layer fits."""
    layers = _random_stack(rng, depth)
    n_in = int(rng.integers(1, 40))
    while True:
        try:
            reference_stack(n_in, layers)
            return n_in, layers
        except ValueError:
            n_in = 2 * n_in + int(rng.integers(1, 10))


def check_stack_output_size(ns, rng):
    """[L, L_1, ..., L_n] for random stacks with stride, padding and dilation, the
    empty stack and the MNIST-1D CNN; ValueError when a layer has no output position."""
    fn = need(ns, "stack_output_size")
    cases = [(int(rng.integers(1, 50)), []), (40, [(5, 1, 2, 1), (3, 1, 2, 1), (3, 1, 2, 1)])]
    cases += [_fitting_stack(rng, depth) for depth in (1, 2, 3, 4)]
    for n_in, layers in cases:
        label = f"stack_output_size({n_in}, {_stack_label(layers)})"
        got = call(label, fn, n_in, [tuple(layer) for layer in layers])
        expected = reference_stack(n_in, layers)
        if got is None:
            raise CheckFailed(f"{label} returned None: did you forget a return statement?")
        try:
            got = [_as_int(label, value) for value in got]
        except TypeError:
            raise CheckFailed(f"{label} returned {got!r}; it must return a list of ints "
                              f"[L, L_1, ..., L_n]") from None
        if got != expected:
            hint = ("the list starts with the input length n_in, then one length per layer"
                    if got == expected[1:] else
                    "each layer's input is the previous layer's output: apply output_size "
                    "to the length the layer below produced, with that layer's (filter_size, "
                    "padding, stride, dilation)")
            raise CheckFailed(f"stack_output_size is wrong: {label} returned {got}, expected "
                              f"{expected}. Hint: {hint}")
    # a stack whose last layer cannot fit: the signal has become too short
    n_in, layers = _fitting_stack(rng, 2)
    short = reference_stack(n_in, layers)[-1]
    layers = layers + [(short + 3 + int(rng.integers(0, 3)), 1, 1, 1)]
    label = f"stack_output_size({n_in}, {_stack_label(layers)})"
    span = layers[-1][0]
    _must_raise_stack(fn, label, n_in, layers,
                      f"layer {len(layers)} (filter_size={span}, padding=1) gets an input of "
                      f"length {short}, so its kernel does not fit")


def _must_raise_stack(fn, label, n_in, layers, why):
    returned = _no_value_error(label, lambda: fn(n_in, [tuple(layer) for layer in layers]), why)
    if returned is not None:
        raise CheckFailed(f"stack_output_size should raise ValueError: {label} returned "
                          f"{returned[0]!r}, yet {why}. Let output_size's ValueError through "
                          "(or raise one naming the layer)")
