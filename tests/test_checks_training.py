"""The hidden checks of stage 5 (training) pass on the reference and fail on
plausible student bugs (mutants), each losing the points it deserves with a
message that names the wrong quantity and never shows a hidden input array.

The accuracy check trains a network; the reference runs it once at full size,
the mutants against a shortened configuration (``short_accuracy``).
"""

import re
import time

import numpy as np
import pytest

from autograder.checks import derive_seed
from autograder.checks import training as stage
from autograder.checks.common import CheckFailed
from course.stages import get_stage
from solutions.augment import shift_and_noise
from solutions.layers import Flatten as RefFlatten
from solutions.losses import SoftmaxCrossEntropy, softmax
from solutions.model import Scratch1dCNNClassifier as RefClassifier
from solutions.pool import MaxPool1d as RefMaxPool1d

CHECKS = [c.name for c in get_stage("training").checks]
FAST = [name for name in CHECKS if name != "accuracy"]
STUDENTS = ["", "alice", "bob"]
STUB = "not written yet: replace this line with your code"


def namespace(**overrides):
    ns = {"MaxPool1d": RefMaxPool1d, "Flatten": RefFlatten,
          "Scratch1dCNNClassifier": RefClassifier, "shift_and_noise": shift_and_noise}
    ns.update(overrides)
    return ns


def failures(ns, student="", names=FAST):
    """{check name: message} of the checks that fail on ``ns``."""
    failed = {}
    for name in names:
        rng = np.random.default_rng(derive_seed(f"training.{name}", student))
        try:
            getattr(stage, f"check_{name}")(ns, rng)
        except CheckFailed as exc:
            failed[name] = str(exc)
    return failed


@pytest.fixture
def short_accuracy(monkeypatch):
    """The accuracy check at a tenth of its steps and no time allowance: for mutants only."""
    monkeypatch.setattr(stage, "ACCURACY_STEPS", 80)
    monkeypatch.setattr(stage, "ACCURACY_CONFIG", dict(stage.ACCURACY_CONFIG, steps=80))
    monkeypatch.setattr(stage, "CALIBRATION_STEPS", 40)
    monkeypatch.setattr(stage, "ACCURACY_THRESHOLD", 0.2)  # the reference: 0.29, chance 0.1
    monkeypatch.setattr(stage, "TIME_BUDGET_EXTRA", 0.5)


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_passes_every_fast_check(student):
    assert failures(namespace(), student) == {}


def test_reference_passes_the_accuracy_check():
    assert failures(namespace(), "alice", ["accuracy"]) == {}


@pytest.mark.slow
@pytest.mark.parametrize("student", ["", "bob", "carol", "dave"])
def test_reference_passes_the_accuracy_check_for_other_students(student):
    assert failures(namespace(), student, ["accuracy"]) == {}


def test_the_short_accuracy_check_passes_the_reference(short_accuracy):
    """The shortened configuration the mutants are tried on is itself passable."""
    assert failures(namespace(), "alice", ["accuracy"]) == {}


# --------------------------------------------------------------------------
# MaxPool1d mutants
# --------------------------------------------------------------------------

class PoolToEveryElement(RefMaxPool1d):
    """Backward sends each window's gradient to every sample of the window."""

    def backward(self, dout):
        arg, shape, _, _ = self._cache
        K, S = self.kernel_size, self.stride
        dx = np.zeros(shape)
        for i in range(arg.shape[2]):
            dx[:, :, i * S:i * S + K] += dout[:, :, i:i + 1]
        return dx


class PoolToLastMaximum(RefMaxPool1d):
    """On ties the gradient goes to the last maximum instead of the first."""

    def forward(self, x):
        out = super().forward(x)
        K, S = self.kernel_size, self.stride
        windows = np.lib.stride_tricks.sliding_window_view(x, K, axis=2)[:, :, ::S]
        last = K - 1 - windows[..., ::-1].argmax(axis=3)
        self._cache = (last,) + self._cache[1:]
        return out


class PoolStrideIgnored(RefMaxPool1d):
    """Windows start at every sample, whatever the stride."""

    def __init__(self, kernel_size, stride=None):
        super().__init__(kernel_size, 1)


class PoolDefaultStrideOne(RefMaxPool1d):
    """stride=None taken as 1 instead of kernel_size."""

    def __init__(self, kernel_size, stride=None):
        super().__init__(kernel_size, 1 if stride is None else stride)


class PoolOverwrites(RefMaxPool1d):
    """dx[...] = instead of +=: a sample that wins two overlapping windows keeps one gradient."""

    def backward(self, dout):
        arg, (N, C, L), _, _ = self._cache
        S = self.stride
        dx = np.zeros((N, C, L))
        n, c, i = np.indices(arg.shape)
        dx[n, c, i * S + arg] = dout
        return dx


class PoolMutatesInput(RefMaxPool1d):
    def forward(self, x):
        out = super().forward(x)
        x *= 2
        return out


class PoolStub(RefMaxPool1d):
    def __init__(self, kernel_size, stride=None):
        raise NotImplementedError(STUB)


# --------------------------------------------------------------------------
# Flatten mutants
# --------------------------------------------------------------------------

class FlattenLosesBatch(RefFlatten):
    def forward(self, x):
        self._cache = x.shape
        return x.reshape(-1)


class FlattenChannelsLast(RefFlatten):
    """Samples interleaved across channels: not the order Linear's weights expect."""

    def forward(self, x):
        self._cache = x.shape
        return x.transpose(0, 2, 1).reshape(x.shape[0], -1)


class FlattenBackwardKeepsShape(RefFlatten):
    def backward(self, dout):
        return dout


class FlattenStub(RefFlatten):
    def forward(self, x):
        raise NotImplementedError(STUB)


# --------------------------------------------------------------------------
# Classifier mutants (fit, predict, predict_proba only: the rest is given)
# --------------------------------------------------------------------------

class PredictReturnsProba(RefClassifier):
    def predict(self, X):
        return self.predict_proba(X)


class PredictReturnsIndices(RefClassifier):
    def predict(self, X):
        return np.argmax(self.decision_function(X), axis=1)


class OverflowingSoftmax(RefClassifier):
    def predict_proba(self, X):
        e = np.exp(self.decision_function(X))
        return e / e.sum(axis=1, keepdims=True)


class ProbaOverWrongAxis(RefClassifier):
    def predict_proba(self, X):
        return softmax(self.decision_function(X), axis=0)


class FitReturnsNothing(RefClassifier):
    def fit(self, X, y, X_val=None, y_val=None):
        super().fit(X, y, X_val, y_val)


class FitNeverSteps(RefClassifier):
    """Forward, loss and backward, but the optimiser never updates the weights."""

    def _make_optimizer(self):
        class Idle:
            def step(self, layers):
                pass
        return Idle()


class FitBackwardInForwardOrder(RefClassifier):
    """Backward through the layers in forward order: the shapes do not chain."""

    def fit(self, X, y, X_val=None, y_val=None):
        X, t, _, _, rng = self._setup_fit(X, y)
        loss_fn, opt = SoftmaxCrossEntropy(), self._make_optimizer()
        for _ in range(self.steps):
            idx = rng.integers(0, len(X), self.batch_size)
            loss_fn.forward(self._forward(X[idx]), t[idx])
            dout = loss_fn.backward()
            for layer in self.layers_:
                dout = layer.backward(dout)
            opt.step(self.layers_)
        return self


class FitSlow(RefClassifier):
    """A fit far slower than it needs to be (in real life: evaluating the whole set
    at every step): it computes on for 7 times its own training time plus 2 s of
    CPU (the budget is CPU time: sleeping would cost nothing)."""

    def fit(self, X, y, X_val=None, y_val=None):
        start = time.thread_time()
        result = super().fit(X, y, X_val, y_val)
        until = start + 8 * (time.thread_time() - start) + 2
        while time.thread_time() < until:
            np.sort(np.asarray(X, dtype=float), axis=1)
        return result


class ClassifierStub(RefClassifier):
    def fit(self, X, y, X_val=None, y_val=None):
        raise NotImplementedError(STUB)

    def predict(self, X):
        raise NotImplementedError(STUB)

    def predict_proba(self, X):
        raise NotImplementedError(STUB)


MUTANTS = {  # (name in the notebook, mutant): (checks it must fail, words its message contains)
    ("MaxPool1d", PoolToEveryElement): ({"maxpool_backward"}, "every sample of the window"),
    ("MaxPool1d", PoolToLastMaximum): ({"maxpool_backward"}, "FIRST one"),
    # dx is judged on a right forward only: a wrong forward costs maxpool_backward too
    ("MaxPool1d", PoolStrideIgnored): ({"maxpool_forward", "maxpool_backward"},
                                       "windows start every S"),
    ("MaxPool1d", PoolDefaultStrideOne): ({"maxpool_forward", "maxpool_backward"},
                                          "stride=None means S"),
    ("MaxPool1d", PoolOverwrites): ({"maxpool_backward"}, "SUM of their gradients"),
    ("MaxPool1d", PoolMutatesInput): ({"maxpool_forward"}, "modified its input"),
    ("MaxPool1d", PoolStub): ({"maxpool_forward", "maxpool_backward"}, "not implemented yet"),
    ("Flatten", FlattenLosesBatch): ({"flatten"}, "batch axis N is lost"),
    ("Flatten", FlattenChannelsLast): ({"flatten"}, "forward output is wrong"),
    ("Flatten", FlattenBackwardKeepsShape): ({"flatten"}, "dx has shape"),
    ("Flatten", FlattenStub): ({"flatten"}, "not implemented yet"),
    ("Scratch1dCNNClassifier", PredictReturnsProba): ({"classifier_api"}, "probabilities?"),
    ("Scratch1dCNNClassifier", PredictReturnsIndices): ({"classifier_api"},
                                                        "not one of the training labels"),
    ("Scratch1dCNNClassifier", OverflowingSoftmax): ({"classifier_api"}, "NaN or inf"),
    ("Scratch1dCNNClassifier", ProbaOverWrongAxis): ({"classifier_api"}, "rows must sum to 1"),
    ("Scratch1dCNNClassifier", FitReturnsNothing): ({"classifier_api", "fit_training_mode",
                                                     "fit_history"}, "must return self"),
    ("Scratch1dCNNClassifier", ClassifierStub): ({"classifier_api", "fit_training_mode",
                                                  "fit_history"}, "not implemented yet"),
}


@pytest.mark.parametrize("key", list(MUTANTS), ids=lambda k: k[1].__name__)
def test_mutant_loses_its_points_with_a_named_quantity(key):
    name, mutant = key
    must_fail, words = MUTANTS[key]
    failed = failures(namespace(**{name: mutant}), "alice")
    assert set(failed) == must_fail, failed
    assert any(words in message for message in failed.values()), failed
    for message in failed.values():
        if "is wrong" in message:
            assert "first at index" in message


ACCURACY_MUTANTS = {
    FitNeverSteps: "test accuracy is",
    FitReturnsNothing: "must return self",
    FitBackwardInForwardOrder: "fit(X, y)",
    FitSlow: "training and predicting took",
    ClassifierStub: "not implemented yet",
}


@pytest.mark.parametrize("mutant", list(ACCURACY_MUTANTS), ids=lambda m: m.__name__)
def test_accuracy_mutants_lose_the_accuracy_points(mutant, short_accuracy, monkeypatch):
    if mutant is FitSlow:  # a fixed reference time (1 ms a step): the budget does not move
        monkeypatch.setattr(stage, "_reference_cpu_per_step", lambda data, steps=None: 1e-3)
    failed = failures(namespace(Scratch1dCNNClassifier=mutant), "alice", ["accuracy"])
    assert ACCURACY_MUTANTS[mutant] in failed.get("accuracy", ""), failed


def test_stub_fails_every_check_as_not_implemented(short_accuracy):
    ns = namespace(MaxPool1d=PoolStub, Flatten=FlattenStub, Scratch1dCNNClassifier=ClassifierStub)
    failed = failures(ns, "alice", CHECKS)
    assert set(failed) == set(CHECKS)
    assert all("not implemented yet" in message for message in failed.values()), failed


def test_a_broken_maxpool_costs_only_the_pooling_checks():
    """The classifier checks build no pooling layer: a MaxPool1d bug costs nothing there."""
    failed = failures(namespace(MaxPool1d=PoolToEveryElement), "alice")
    assert set(failed) == {"maxpool_backward"}


# --------------------------------------------------------------------------
# The fit contract (issue 20, item 11): correct fits of other styles, mutants
# --------------------------------------------------------------------------

class HandWritten(RefClassifier):
    """A fit written from the notebook's contract alone, in another style than the
    reference: epochs written out (a permutation, its slices), its own softmax
    cross-entropy and gradient, the recorded loss the mean of a list of every
    sample's loss. The flags make it one of the mutants below (False: correct)."""

    mode_once = False        # training mode switched on once, before the loop
    no_training_call = False  # never switches training mode on (layers start training)
    leave_training = False   # returns with the layers in training mode
    loss_per_batch = False   # the recorded loss: a mean of batch means
    drop_last = False        # the epoch's last, smaller batch dropped
    top_up = False           # every batch batch_size samples, running into the next epoch
    step_from_zero = False   # records step - 1
    last_twice = False       # the last step recorded again when it is also a multiple
    per_epoch = False        # eval_every ignored: records once per epoch
    no_validation = False    # _record without the validation set

    def _epochs(self, N, rng):
        """Batches of indices, epoch after epoch (the flags' variants of the contract's)."""
        B, rest = self.batch_size, np.empty(0, dtype=int)
        while True:
            order = rng.permutation(N)
            if self.top_up:
                order, rest = np.concatenate([rest, order]), np.empty(0, dtype=int)
                while len(order) >= B:
                    yield order[:B]
                    order = order[B:]
                rest = order
                continue
            for first in range(0, N, B):
                if self.drop_last and first + B > N:
                    break
                yield order[first:first + B]

    def fit(self, X, y, X_val=None, y_val=None):
        X, t, X_val, t_val, rng = self._setup_fit(X, y, X_val, y_val)
        opt = self._make_optimizer()
        N = len(X)
        every = -(-N // self.batch_size) if self.per_epoch or self.eval_every is None \
            else self.eval_every
        began = time.perf_counter()
        losses, batch_means, hits, count = [], [], 0, 0
        if self.mode_once:
            self._set_training(True)
        batches = self._epochs(N, rng)
        for step in range(1, self.steps + 1):
            idx = next(batches)
            xb = X[idx] if self.augment is None else \
                self.augment(X[idx], rng).astype(self.dtype, copy=False)
            if not (self.mode_once or self.no_training_call):
                self._set_training(True)
            z = self._forward(xb)
            z = z - z.max(axis=1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=1, keepdims=True)
            rows = np.arange(len(idx))
            losses.extend(-np.log(p[rows, t[idx]]))
            batch_means.append(-np.log(p[rows, t[idx]]).mean())
            hits += int(np.sum(p.argmax(axis=1) == t[idx]))
            count += len(idx)
            grad = p
            grad[rows, t[idx]] -= 1.0
            grad = (grad / len(idx)).astype(self.dtype)
            for layer in self.layers_[::-1]:
                grad = layer.backward(grad)
            opt.step(self.layers_)
            due = step % every == 0
            if due or step == self.steps:
                loss = np.mean(batch_means) if self.loss_per_batch else np.mean(losses)
                val = (None, None) if self.no_validation else (X_val, t_val)
                for _ in range(2 if self.last_twice and due and step == self.steps else 1):
                    self._record(step - self.step_from_zero, loss, hits / count, *val,
                                 time.perf_counter() - began)
                losses, batch_means, hits, count = [], [], 0, 0
        if not self.leave_training:
            self._set_training(False)
        return self


class WeightedAverage(RefClassifier):
    """Another correct fit: the given _batches, the given loss, the record's loss as
    np.average of the batch losses weighted by the batch sizes, a while loop."""

    def fit(self, X, y, X_val=None, y_val=None):
        X, t, X_val, t_val, rng = self._setup_fit(X, y, X_val, y_val)
        loss_fn, opt, N = SoftmaxCrossEntropy(), self._make_optimizer(), len(X)
        every = self.eval_every or int(np.ceil(N / self.batch_size))
        began, batches = time.perf_counter(), self._batches(N, rng)
        seen, step = [], 0
        while step < self.steps:
            idx = next(batches)
            step += 1
            self._set_training(True)
            logits = self._forward(X[idx])
            seen.append((loss_fn.forward(logits, t[idx]),
                         np.mean(np.argmax(logits, axis=1) == t[idx]), len(idx)))
            dout = loss_fn.backward()
            for layer in reversed(self.layers_):
                dout = layer.backward(dout)
            opt.step(self.layers_)
            if step % every == 0 or step == self.steps:
                loss, acc, n = np.array(seen).T
                self._record(step, np.average(loss, weights=n), np.average(acc, weights=n),
                             X_val, t_val, time.perf_counter() - began)
                seen = []
        self._set_training(False)
        return self


def variant(**flags):
    return type("HandWritten_" + "_".join(flags), (HandWritten,), flags)


CONTRACT = ["fit_training_mode", "fit_history"]


@pytest.mark.parametrize("cls", [RefClassifier, HandWritten, WeightedAverage],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("student", STUDENTS)
def test_correct_fits_of_other_styles_pass_the_contract_checks(cls, student):
    """About 0.3 s each."""
    ns = namespace(Scratch1dCNNClassifier=cls)
    assert failures(ns, student, CONTRACT + ["classifier_api"]) == {}


FIT_MUTANTS = {  # flags of HandWritten: (the check it fails, words its message contains)
    "mode_once": ("fit_training_mode", "before EVERY forward pass"),
    "no_training_call": ("fit_training_mode", "memorised its random labels"),
    "leave_training": ("fit_training_mode", "must be in evaluation mode"),
    "loss_per_batch": ("fit_history", "mean over the SAMPLES"),
    "drop_last": ("fit_history", "history_['loss'][0]"),
    "top_up": ("fit_history", "history_['loss'][0]"),
    "step_from_zero": ("fit_history", "from 1"),
    "last_twice": ("fit_history", "the last step once"),
    "per_epoch": ("fit_history", "eval_every=10"),
    "no_validation": ("fit_history", "history_['val_loss'] has 0 entries"),
}


@pytest.mark.parametrize("flag", list(FIT_MUTANTS))
def test_fit_mutants_lose_the_contract_point_they_break(flag):
    """Each mutant fails the one check of the part it breaks, and only it. About 1 s each."""
    check, words = FIT_MUTANTS[flag]
    for student in ("alice", "bob"):
        failed = failures(namespace(Scratch1dCNNClassifier=variant(**{flag: True})), student)
        assert set(failed) == {check}, failed
        assert words in failed[check], failed


def test_the_red_team_fits_of_other_styles_train_in_training_mode_but_record_nothing():
    """tests/test_redteam_grader.py's correct-for-accuracy fits (batches drawn with
    replacement; epochs by hand, no augmentation) set training mode at every step:
    they keep the training-mode point. Neither calls _record, which the notebook's
    contract asks for: they lose the history point, told so."""
    from test_redteam_grader import SampledBatches

    for cls in (SampledBatches.make(), SampledBatches.epochs_by_hand()):
        failed = failures(namespace(Scratch1dCNNClassifier=cls), "alice", CONTRACT)
        assert set(failed) == {"fit_history"}, failed
        assert "fit recorded nothing" in failed["fit_history"]


def test_the_training_mode_threshold_lies_well_between_the_two_trainings():
    """MODE_LOSS_MIN against the loss the check measures, over 40 tasks (about 4 s):
    the reference stays 3x above it, a fit that switches training mode on once 3x
    below (the check module's docstring gives the same over 300 tasks)."""
    rngs = [np.random.default_rng([7, i]) for i in range(40)]
    reference = [stage.mode_loss(RefClassifier, rng) for rng in rngs]
    rngs = [np.random.default_rng([7, i]) for i in range(40)]
    once = [stage.mode_loss(variant(mode_once=True), rng) for rng in rngs]
    assert min(reference) > 3 * stage.MODE_LOSS_MIN, min(reference)
    assert max(once) < stage.MODE_LOSS_MIN / 3, max(once)


# --------------------------------------------------------------------------
# Hidden inputs never appear in a message
# --------------------------------------------------------------------------

def _hidden_inputs(name, student):
    """Re-derive the arrays the check drew for ``student``."""
    rng = np.random.default_rng(derive_seed(f"training.{name}", student))
    arrays = []
    if name in ("maxpool_forward", "maxpool_backward"):
        for K, S in stage.POOL_CONFIGS:
            x = stage._pool_input(rng, K, S)
            arrays.append(x)
            if name == "maxpool_backward":
                arrays.append(rng.standard_normal(RefMaxPool1d(K, S).forward(x).shape))
    elif name == "classifier_api":
        arrays += list(stage._toy(rng)[:1])
    return arrays


def test_messages_never_show_hidden_arrays():
    for key in MUTANTS:
        name, mutant = key
        for check, message in failures(namespace(**{name: mutant}), "alice").items():
            for arr in _hidden_inputs(check, "alice"):
                assert np.array2string(arr, precision=4)[:20] not in message
                # Pooling outputs and gradients are hidden values: none is printed.
                printed = set(re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", message))
                assert not printed & {f"{v:.6g}" for v in arr.ravel()}, (check, message)


def test_accuracy_configuration_is_documented():
    """The constants the check module explains are the ones it uses."""
    assert stage.ACCURACY_CONFIG["steps"] == stage.ACCURACY_STEPS
    assert stage.ACCURACY_THRESHOLD < stage.ACCURACY_REFERENCE
    assert f"{stage.ACCURACY_THRESHOLD:.2f}" in stage.__doc__
    assert str(stage.ACCURACY_STEPS) in stage.__doc__
