"""The hidden checks of stage 1 (single_channel) pass on the reference and fail
on plausible student bugs (mutants), each losing the points it deserves with a
message that names the wrong quantity and never shows a hidden input array."""

import numpy as np
import pytest

from autograder.checks import derive_seed
from autograder.checks import single_channel as stage
from autograder.checks.common import CheckFailed
from course.stages import get_stage
from solutions.conv import SimpleConv1d as Reference

CHECKS = [c.name for c in get_stage("single_channel").checks]
STUDENTS = ["", "alice", "bob"]


def failures(cls, student=""):
    """{check name: message} of the checks ``cls`` fails."""
    failed = {}
    for name in CHECKS:
        rng = np.random.default_rng(derive_seed(f"single_channel.{name}", student))
        try:
            getattr(stage, f"check_{name}")({"SimpleConv1d": cls}, rng)
        except CheckFailed as exc:
            failed[name] = str(exc)
    return failed


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_passes_every_check(student):
    assert failures(Reference, student) == {}


class Flipped(Reference):
    def forward(self, x):
        F = len(self.w)
        self._cache = x.copy()
        return np.array([x[i:i + F] @ self.w[::-1] for i in range(len(x) - F + 1)]) + self.b


class OneShort(Reference):
    """range(len(x) - len(w)) as the output positions: the last one is lost."""

    def forward(self, x):
        return super().forward(x)[:-1]


class NoWindowShift(Reference):
    def backward(self, dout):
        dx = super().backward(dout)
        x, F = self._cache, len(self.w)
        self.dw = sum(g * x[:F] for g in dout)
        return dx


class DwOverwritten(Reference):
    def backward(self, dout):
        dx = super().backward(dout)
        x, F = self._cache, len(self.w)
        self.dw = dout[-1] * x[len(dout) - 1:len(dout) - 1 + F]
        return dx


class DbLast(Reference):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = np.array([dout[-1]])
        return dx


class DbScalar(Reference):
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout.sum()
        return dx


class DxOverwrite(Reference):
    def backward(self, dout):
        super().backward(dout)
        dx = np.zeros_like(self._cache)
        F = len(self.w)
        for i, g in enumerate(dout):
            dx[i:i + F] = g * self.w
        return dx


class DxFlipped(Reference):
    def backward(self, dout):
        super().backward(dout)
        dx = np.zeros_like(self._cache)
        F = len(self.w)
        for i, g in enumerate(dout):
            dx[i:i + F] += g * self.w[::-1]
        return dx


class MutatesInput(Reference):
    def forward(self, x):
        out = super().forward(x)
        x -= x.mean()
        return out


class Stub(Reference):
    def forward(self, x):
        raise NotImplementedError("not written yet: replace this line with your code")


MUTANTS = {  # mutant: (checks it must fail, words its message must contain)
    Flipped: ({"forward", "backward_dx", "backward_params"}, "forward output"),
    OneShort: ({"forward", "backward_dx", "backward_params"}, "shape"),
    NoWindowShift: ({"backward_params"}, "dw is wrong"),
    DwOverwritten: ({"backward_params"}, "dw is wrong"),
    DbLast: ({"backward_params"}, "db is wrong"),
    DbScalar: ({"backward_params"}, "db"),
    DxOverwrite: ({"backward_dx"}, "dx is wrong"),
    DxFlipped: ({"backward_dx"}, "dx is wrong"),
    MutatesInput: ({"no_side_effects"}, "modified its input"),
    Stub: (set(CHECKS), "not implemented yet"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_mutant_loses_its_points_with_a_named_quantity(mutant):
    must_fail, words = MUTANTS[mutant]
    failed = failures(mutant, "alice")
    assert must_fail <= set(failed), failed
    assert any(words in message for message in failed.values()), failed
    for message in failed.values():
        if "is wrong" in message:
            assert "first at index" in message and "expected" in message


def test_messages_never_show_hidden_arrays():
    for name in CHECKS:
        rng = np.random.default_rng(derive_seed(f"single_channel.{name}", "alice"))
        hidden = [a for case in stage._cases(rng, 4) for a in case]
        for mutant in MUTANTS:
            for message in failures(mutant, "alice").values():
                for arr in hidden:
                    assert np.array2string(arr, precision=4)[:20] not in message
