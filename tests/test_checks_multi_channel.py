"""The hidden checks of stage 3 (multi_channel) pass on the reference and fail on
plausible student bugs (mutants), each losing the points it deserves with a
message that names the wrong quantity and never shows a hidden input.

The checks are run exactly as ``run_check`` runs them (the rng seeded by
``derive_seed`` for a student and a check id), for several students.
"""

import numpy as np
import pytest

from autograder.checks import derive_seed
from autograder.checks import multi_channel as stage
from autograder.checks.common import CheckFailed
from course.stages import get_stage
from solutions.conv import Conv1d as FastConv1d
from solutions.multichannel import Conv1d as Reference

CHECKS = [c.name for c in get_stage("multi_channel").checks]
STUDENTS = ["", "alice", "bob", "carol"]


def run(name, cls, student=""):
    """run_check("multi_channel.<name>", {"Conv1d": cls}) for one student."""
    rng = np.random.default_rng(derive_seed(f"multi_channel.{name}", student))
    getattr(stage, f"check_{name}")({"Conv1d": cls}, rng)


def failures(cls, student=""):
    """{check name: message} of the checks ``cls`` fails."""
    failed = {}
    for name in CHECKS:
        try:
            run(name, cls, student)
        except CheckFailed as exc:
            failed[name] = str(exc)
    return failed


def hidden_inputs(name, student=""):
    """The (x, w, b) a check draws, re-derived from its seed."""
    rng = np.random.default_rng(derive_seed(f"multi_channel.{name}", student))
    return list(stage._cases(rng, 4))


def test_every_check_has_a_function():
    for name in CHECKS:
        assert callable(getattr(stage, f"check_{name}"))


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_passes_every_check(student):
    assert failures(Reference, student) == {}


def test_vectorised_layer_passes_every_check():
    assert failures(FastConv1d) == {}


# --------------------------------------------------------------------------
# Mutants: plausible student bugs, each a small change to the reference.
# --------------------------------------------------------------------------

class ChannelZeroOnly(Reference):
    """Forgets to sum over the input channels: uses channel 0 only."""

    def forward(self, x):
        x = np.asarray(x, dtype=float)
        F = self.w.shape[2]
        L_out = x.shape[1] - F + 1
        self._cache = x.copy()
        out = np.empty((self.w.shape[0], L_out))
        for i in range(L_out):
            out[:, i] = self.w[:, 0] @ x[0, i:i + F]
        return out + self.b[:, None]

    def backward(self, dout):
        x = self._cache
        F = self.w.shape[2]
        dx, dw = np.zeros_like(x), np.zeros_like(self.w)
        for i in range(dout.shape[1]):
            dx[0, i:i + F] += dout[:, i] @ self.w[:, 0]
            dw[:, 0] += np.outer(dout[:, i], x[0, i:i + F])
        self.dw, self.db = dw, dout.sum(axis=1)
        return dx


class OneBiasForAll(Reference):
    """Adds b[0] to every output channel."""

    def forward(self, x):
        return super().forward(x) - self.b[:, None] + self.b[0]


class FlippedKernel(Reference):
    """True convolution: the kernel is flipped, forward and backward alike."""

    def __init__(self, w, b):
        super().__init__(np.asarray(w)[:, :, ::-1].copy(), b)

    def backward(self, dout):
        dx = super().backward(dout)
        self.dw = self.dw[:, :, ::-1].copy()
        return dx


class DwWithoutShift(Reference):
    """dw uses the first window x[:, :F] at every position."""

    def backward(self, dout):
        dx = super().backward(dout)
        x, F = self._cache, self.w.shape[2]
        self.dw = dout.sum(axis=1)[:, None, None] * x[None, :, :F]
        return dx


class DbWrongAxis(Reference):
    """db summed over the output channels instead of the positions."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout.sum(axis=0)
        return dx


class DbSummedOverEverything(Reference):
    """db is a single number."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout.sum()
        return dx


class DxNegativeIndicesWrap(Reference):
    """dx[c, j] = sum_o sum_k dout[o, j - k] w[o, c, k] with j - k < 0 wrapping around."""

    def backward(self, dout):
        super().backward(dout)
        x = self._cache
        F, L_out = self.w.shape[2], dout.shape[1]
        dx = np.zeros_like(x)
        for j in range(x.shape[1]):
            for k in range(F):
                if j - k < L_out:  # forgets j - k >= 0
                    dx[:, j] += dout[:, j - k] @ self.w[:, :, k]
        return dx


class MissingLastPosition(Reference):
    """Output length L - F instead of L - F + 1."""

    def forward(self, x):
        return super().forward(x)[:, :-1]


class FlipsKernelInPlace(Reference):
    """Backward reverses the kernel in place (dx is a full convolution with the reversed
    kernel), which reverses the caller's w; its results are right."""

    def backward(self, dout):
        self.w[:] = self.w[:, :, ::-1]   # the caller's array: as_float_array does not copy
        self.w = self.w[:, :, ::-1]      # a reversed view: the original values again
        return super().backward(dout)


class ReturnsList(Reference):
    """forward returns a list."""

    def forward(self, x):
        return super().forward(x).tolist()


class Stub(Reference):
    def __init__(self, w, b):
        raise NotImplementedError("not written yet: replace this line with your code")


# mutant -> {check it must fail: phrase its message must contain}; it passes the others
MUTANTS = {
    # no_side_effects counts only for a layer that computes the right thing
    ChannelZeroOnly: {"forward": "input channel 0 only", "backward_dx": "dx is zero for every",
                      "backward_params": "dw is zero for every",
                      "no_side_effects": "fix the forward check first"},
    OneBiasForAll: {"forward": "one bias per output channel", "backward_params": "db",
                    "no_side_effects": "fix the forward check first"},
    FlippedKernel: {"forward": "kernel flipped", "backward_dx": "dx", "backward_params": "dw",
                    "no_side_effects": "fix the forward check first"},
    DwWithoutShift: {"backward_params": "the window moves with i"},
    DbWrongAxis: {"backward_params": "db"},
    DbSummedOverEverything: {"backward_params": "db has shape ()"},
    DxNegativeIndicesWrap: {"backward_dx": "negative index wraps",
                            "no_side_effects": "fix the backward_dx check first"},
    MissingLastPosition: {**dict.fromkeys(["forward", "backward_dx", "backward_params"],
                                          "forward output has shape"),
                          "no_side_effects": "shape"},
    FlipsKernelInPlace: {"no_side_effects": "Conv1d on w modified its input in place"},
    ReturnsList: {"no_side_effects": "must return a numpy array"},
    Stub: dict.fromkeys(CHECKS, "not implemented yet"),
}


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_mutant_loses_exactly_its_points(mutant, student):
    expected = MUTANTS[mutant]
    failed = failures(mutant, student)
    assert set(failed) == set(expected), f"{mutant.__name__} failed {sorted(failed)}"
    for name, message in failed.items():
        assert expected[name] in message, f"{name}: {message}"


@pytest.mark.parametrize(("mutant", "check", "quantity"), [
    (ChannelZeroOnly, "forward", "forward output"),
    (OneBiasForAll, "forward", "forward output"),
    (FlippedKernel, "backward_dx", "dx"),
    (DwWithoutShift, "backward_params", "dw"),
    (DxNegativeIndicesWrap, "backward_dx", "dx"),
])
def test_value_messages_give_the_first_mismatch(mutant, check, quantity):
    message = failures(mutant)[check]
    assert message.startswith(f"{quantity} is wrong"), message
    assert "first at index" in message and "expected" in message and "got" in message


def test_db_over_the_wrong_axis_is_named():
    for student in STUDENTS:
        message = failures(DbWrongAxis, student)["backward_params"]
        assert message.startswith("db "), message
        assert "(C_out,)" in message


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_messages_never_show_hidden_inputs(mutant):
    for name, message in failures(mutant).items():
        for x, w, b in hidden_inputs(name):
            for array in (x, w, b):
                assert repr(array) not in message and str(array) not in message
                values = {f"{v:.6g}" for v in array.ravel()}
                tokens = set(message.replace(",", " ").replace(")", " ").split())
                assert not values & tokens, f"{name}: {message}"


def test_messages_describe_the_configuration():
    message = failures(FlippedKernel)["forward"]
    assert "x of shape (" in message and "w of shape (" in message


def test_undefined_class_is_reported():
    with pytest.raises(CheckFailed, match="Conv1d is not defined"):
        stage.check_forward({}, np.random.default_rng(0))
