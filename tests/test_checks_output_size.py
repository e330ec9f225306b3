"""The hidden checks of stage 2 (output_size) pass on the reference and fail on
plausible student bugs (mutants), each losing the points it deserves with a
message that names what is wrong.

The checks are run exactly as ``run_check`` runs them (the rng seeded by
``derive_seed`` for a student and a check id), for several students, so that
a mutant is caught whatever the hidden configuration.
"""

import math

import numpy as np
import pytest

from autograder.checks import derive_seed
from autograder.checks import output_size as stage
from autograder.checks.common import CheckFailed
from course.stages import get_stage
from solutions.conv import output_size as reference
from solutions.receptive_field import receptive_field, stack_output_size

STACK_CHECKS = ["stack_output_size", "receptive_field"]
CHECKS = [c.name for c in get_stage("output_size").checks if c.name not in STACK_CHECKS]
STUDENTS = ["", "alice", "bob", "carol", "dave", "erin"]


def run(name, fn, student=""):
    """run_check("output_size.<name>", {"output_size": fn}) for one student."""
    rng = np.random.default_rng(derive_seed(f"output_size.{name}", student))
    getattr(stage, f"check_{name}")({"output_size": fn}, rng)


def failures(fn, student=""):
    """{check name: message} of the checks ``fn`` fails."""
    failed = {}
    for name in CHECKS:
        try:
            run(name, fn, student)
        except CheckFailed as exc:
            failed[name] = str(exc)
    return failed


def test_every_check_has_a_function():
    for name in CHECKS + STACK_CHECKS:
        assert callable(getattr(stage, f"check_{name}"))


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_passes_every_check(student):
    assert failures(reference, student) == {}


def test_python_and_numpy_integers_both_pass():
    def numpy_int(n_in, filter_size, padding=0, stride=1, dilation=1):
        return np.int64(reference(n_in, filter_size, padding, stride, dilation))

    assert failures(numpy_int) == {}


# --------------------------------------------------------------------------
# Mutants: plausible student bugs. Each is written the way a student would.
# --------------------------------------------------------------------------

def _no_room(n_in, filter_size, padding, dilation):
    if dilation * (filter_size - 1) + 1 > n_in + 2 * padding:
        raise ValueError("the kernel does not fit")


def ceil_instead_of_floor(n_in, filter_size, padding=0, stride=1, dilation=1):
    _no_room(n_in, filter_size, padding, dilation)
    return math.ceil((n_in + 2 * padding - dilation * (filter_size - 1) - 1) / stride) + 1


def missing_plus_one(n_in, filter_size, padding=0, stride=1, dilation=1):
    _no_room(n_in, filter_size, padding, dilation)
    return (n_in + 2 * padding - dilation * (filter_size - 1) - 1) // stride


def padding_once(n_in, filter_size, padding=0, stride=1, dilation=1):
    L_out = (n_in + padding - dilation * (filter_size - 1) - 1) // stride + 1
    if L_out < 1:
        raise ValueError("no output position")
    return L_out


def dilation_ignored(n_in, filter_size, padding=0, stride=1, dilation=1):
    L_out = (n_in + 2 * padding - (filter_size - 1) - 1) // stride + 1
    if L_out < 1:
        raise ValueError("no output position")
    return L_out


def span_d_times_f(n_in, filter_size, padding=0, stride=1, dilation=1):
    span = dilation * filter_size
    if span > n_in + 2 * padding:
        raise ValueError("the kernel does not fit")
    return (n_in + 2 * padding - span) // stride + 1


def stride_ignored(n_in, filter_size, padding=0, stride=1, dilation=1):
    _no_room(n_in, filter_size, padding, dilation)
    return n_in + 2 * padding - dilation * (filter_size - 1)


def returns_zero(n_in, filter_size, padding=0, stride=1, dilation=1):
    return max(0, (n_in + 2 * padding - dilation * (filter_size - 1) - 1) // stride + 1)


def returns_negative(n_in, filter_size, padding=0, stride=1, dilation=1):
    return (n_in + 2 * padding - dilation * (filter_size - 1) - 1) // stride + 1


def returns_float(n_in, filter_size, padding=0, stride=1, dilation=1):
    _no_room(n_in, filter_size, padding, dilation)
    return np.floor((n_in + 2 * padding - dilation * (filter_size - 1) - 1) / stride) + 1


def asserts_instead_of_raising(n_in, filter_size, padding=0, stride=1, dilation=1):
    assert dilation * (filter_size - 1) + 1 <= n_in + 2 * padding, "kernel too long"
    return (n_in + 2 * padding - dilation * (filter_size - 1) - 1) // stride + 1


def refuses_filter_longer_than_input(n_in, filter_size, padding=0, stride=1, dilation=1):
    if filter_size > n_in:  # forgets that padding makes room
        raise ValueError("filter longer than the input")
    return (n_in + 2 * padding - dilation * (filter_size - 1) - 1) // stride + 1


def stub(n_in, filter_size, padding=0, stride=1, dilation=1):
    raise NotImplementedError("not written yet: replace this line with your code")


# mutant -> (checks it must fail, a phrase every failure message must contain,
# or a {check: phrase} dict)
MUTANTS = {
    ceil_instead_of_floor: ({"stride_and_dilation"}, "round down"),
    missing_plus_one: (set(CHECKS), "output_size"),
    padding_once: (set(CHECKS), "output_size"),
    dilation_ignored: ({"stride_and_dilation", "no_output_position"}, "output_size"),
    span_d_times_f: ({"stride_and_dilation", "no_output_position"}, "output_size"),
    stride_ignored: ({"stride_and_dilation"}, "stride"),
    returns_zero: ({"no_output_position"}, "should raise ValueError"),
    returns_negative: ({"no_output_position"}, "should raise ValueError"),
    returns_float: (set(CHECKS), "must return an int"),
    asserts_instead_of_raising: ({"no_output_position"}, "expected a ValueError"),
    refuses_filter_longer_than_input: ({"formula", "no_output_position"},
                                       {"formula": "raised ValueError",
                                        "no_output_position": "output_size"}),
    stub: (set(CHECKS), "not implemented yet"),
}


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_mutant_loses_exactly_its_points(mutant, student):
    must_fail, phrase = MUTANTS[mutant]
    failed = failures(mutant, student)
    assert set(failed) == must_fail, f"{mutant.__name__} failed {sorted(failed)}"
    for name, message in failed.items():
        expected = phrase[name] if isinstance(phrase, dict) else phrase
        assert expected in message, f"{name}: {message}"
        assert "Traceback" not in message and "solutions" not in message


@pytest.mark.parametrize(("mutant", "hint"), [
    (missing_plus_one, "+ 1 is missing"),
    (padding_once, "EACH side"),
    (dilation_ignored, "D*(F - 1) + 1"),
    (span_d_times_f, "not D*F"),
    (stride_ignored, "divide by the stride"),
])
def test_value_mistakes_get_their_own_hint(mutant, hint):
    messages = failures(mutant)
    assert any(hint in m for m in messages.values()), messages


def test_wrong_value_message_says_expected_and_got():
    message = failures(missing_plus_one)["formula"]
    assert "returned" in message and "expected" in message and "Hint:" in message


def test_stub_message_is_the_not_implemented_one():
    for message in failures(stub).values():
        assert message.startswith("output_size(") and "not implemented yet" in message


def test_undefined_function_is_reported():
    rng = np.random.default_rng(0)
    with pytest.raises(CheckFailed, match="output_size is not defined"):
        stage.check_formula({}, rng)


# --------------------------------------------------------------------------
# A stack of layers: receptive_field and stack_output_size, with their mutants
# --------------------------------------------------------------------------

def run_stack(name, ns, student=""):
    rng = np.random.default_rng(derive_seed(f"output_size.{name}", student))
    getattr(stage, f"check_{name}")(ns, rng)


def stack_failure(name, fn, student=""):
    """The message of check ``name`` run on ``fn`` (as that check's function), or None."""
    try:
        run_stack(name, {name: fn}, student)
    except CheckFailed as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_stack_functions_pass(student):
    assert stack_failure("receptive_field", receptive_field, student) is None
    assert stack_failure("stack_output_size", stack_output_size, student) is None


def test_the_mnist1d_cnn_sees_17_of_its_40_samples():
    layers = [(5, 1, 2, 1), (3, 1, 2, 1), (3, 1, 2, 1)]
    assert stack_output_size(40, layers) == [40, 19, 10, 5]
    assert receptive_field(layers) == 17
    assert receptive_field([]) == 1 and stack_output_size(7, []) == [7]
    # WaveNet's doubling dilations: 1 + 2 * (1 + 2 + 4 + 8) = 31
    assert receptive_field([(3, 0, 1, 2 ** k) for k in range(4)]) == 31


def field_stride_ignored(layers):
    return 1 + sum(D * (F - 1) for F, P, S, D in layers)


def field_dilation_ignored(layers):
    field, jump = 1, 1
    for F, _P, S, _D in layers:
        field, jump = field + (F - 1) * jump, jump * S
    return field


def field_own_stride_counted(layers):
    field, jump = 1, 1
    for F, _P, S, D in layers:
        jump *= S  # updated too early
        field += D * (F - 1) * jump
    return field


def field_f_not_f_minus_one(layers):
    field, jump = 1, 1
    for F, _P, S, D in layers:
        field, jump = field + D * F * jump, jump * S
    return field


def field_with_padding(layers):
    field, jump = 1, 1
    for F, P, S, D in layers:
        field, jump = field + (D * (F - 1) + 2 * P) * jump, jump * S
    return field


def field_last_layer_only(layers):
    if not layers:
        return 1
    F, P, S, D = layers[-1]
    return D * (F - 1) + 1


def field_float(layers):
    return float(receptive_field(layers))


def stack_without_input_length(n_in, layers):
    return stack_output_size(n_in, layers)[1:]


def stack_not_chained(n_in, layers):
    return [n_in] + [reference(n_in, *layer) for layer in layers]


def stack_swallows_errors(n_in, layers):
    lengths = [n_in]
    for layer in layers:
        try:
            lengths.append(reference(lengths[-1], *layer))
        except ValueError:
            lengths.append(0)
    return lengths


def stack_ignores_dilation(n_in, layers):
    lengths = [n_in]
    for F, P, S, _D in layers:
        lengths.append(reference(lengths[-1], F, P, S))
    return lengths


def stack_stub(n_in, layers):
    return stub(n_in, 1)  # raises NotImplementedError, as the released cell does


STACK_MUTANTS = {
    field_stride_ignored: ("receptive_field", "strides multiply"),
    field_dilation_ignored: ("receptive_field", "dilation widens"),
    field_own_stride_counted: ("receptive_field", "own stride"),
    field_f_not_f_minus_one: ("receptive_field", "not F"),
    field_with_padding: ("receptive_field", "leave P out"),
    field_last_layer_only: ("receptive_field", "receptive_field is wrong"),
    field_float: ("receptive_field", "must return an int"),
    stack_without_input_length: ("stack_output_size", "starts with the input length"),
    stack_not_chained: ("stack_output_size", "previous layer's output"),
    stack_swallows_errors: ("stack_output_size", "should raise ValueError"),
    stack_ignores_dilation: ("stack_output_size", "stack_output_size is wrong"),
    stack_stub: ("stack_output_size", "not implemented yet"),
}


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("mutant", list(STACK_MUTANTS), ids=lambda m: m.__name__)
def test_stack_mutant_fails_with_its_hint(mutant, student):
    name, phrase = STACK_MUTANTS[mutant]
    message = stack_failure(name, mutant, student)
    assert message is not None, f"{mutant.__name__} passed {name}"
    assert phrase in message, message
    assert "Traceback" not in message and "solutions" not in message


def test_stack_checks_need_their_own_function():
    for name in STACK_CHECKS:
        with pytest.raises(CheckFailed, match=f"{name} is not defined"):
            run_stack(name, {"output_size": reference})
