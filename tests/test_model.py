"""Tests of solutions/model.py: the Scratch1dCNNClassifier."""

import numpy as np
import pytest

from solutions import Conv1d, Linear, MaxPool1d, Scratch1dCNNClassifier
from solutions.gradcheck import numerical_gradient, rel_error
from solutions.losses import SoftmaxCrossEntropy


def _toy(n=120, L=24, seed=0):
    """Two classes told apart by where a bump sits: a job for a convolution."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(0, 0.3, size=(n, L))
    pos = np.where(y == 0, 5, 17) + rng.integers(-2, 3, size=n)
    X[np.arange(n), pos] += 3.0
    return X, np.where(y == 0, "left", "right")


SMALL = {"conv_layers": ((4, 3, 1, 1), (4, 3, 2, 1)), "steps": 60, "batch_size": 20,
         "lr": 1e-2, "verbose": False}


def test_fit_predict_shapes_and_labels():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**SMALL).fit(X, y)
    assert list(model.classes_) == ["left", "right"]
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    pred = model.predict(X)
    assert pred.shape == (len(X),) and set(pred) <= {"left", "right"}
    # predict returns labels, not probabilities, and agrees with predict_proba
    np.testing.assert_array_equal(pred, model.classes_[proba.argmax(axis=1)])


def test_learns_a_separable_toy_problem():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**SMALL).fit(X, y)
    assert model.score(X, y) >= 0.95
    assert model.history_["loss"][-1] < model.history_["loss"][0]


def test_initial_loss_is_ln_k():
    """A sanity check from CS231n: small random weights give loss ~ ln(K)."""
    X, y = _toy()
    model = Scratch1dCNNClassifier(**dict(SMALL, steps=1, lr=1e-12)).fit(X, y)
    assert model.history_["loss"][0] == pytest.approx(np.log(2), abs=0.35)


def test_same_seed_same_model_and_different_seed_differs():
    X, y = _toy()
    a = Scratch1dCNNClassifier(**SMALL, seed=3).fit(X, y).predict_proba(X)
    b = Scratch1dCNNClassifier(**SMALL, seed=3).fit(X, y).predict_proba(X)
    c = Scratch1dCNNClassifier(**SMALL, seed=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_validation_history_and_eval_every():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**dict(SMALL, eval_every=20)).fit(X, y, X[:30], y[:30])
    h = model.history_
    assert h["step"] == [20, 40, 60]
    assert {"loss", "train_acc", "val_loss", "val_acc", "time"} <= set(h)
    assert all(len(v) == 3 for v in h.values())
    assert 0.0 <= min(h["val_acc"]) and max(h["val_acc"]) <= 1.0


def test_layers_assembled_as_configured():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**dict(SMALL, pool=("max", 2, 2), hidden=(8,), dropout=0.2))
    model.fit(X, y)
    kinds = [type(layer).__name__ for layer in model.layers_]
    assert kinds == ["Conv1d", "ReLU", "MaxPool1d", "Conv1d", "ReLU", "MaxPool1d", "Flatten",
                     "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert isinstance(model.layers_[0], Conv1d) and isinstance(model.layers_[2], MaxPool1d)
    assert model.layers_[-1].w.shape == (2, 8)
    assert model.n_params_ == sum(v.size for layer in model.layers_ for _, v, _ in
                                  layer.parameters())
    assert "total params" in model.summary()


def test_dropout_is_off_at_prediction():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**dict(SMALL, hidden=(8,), dropout=0.5)).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))


def test_float32_training():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**dict(SMALL, dtype=np.float32)).fit(X, y)
    assert model.layers_[0].w.dtype == np.float32
    assert model.predict_proba(X).dtype == np.float32
    assert model.score(X, y) >= 0.9


def test_whole_network_gradient_matches_numerical():
    """Backprop through conv, ReLU, pooling and linear layers agrees with
    centred differences of the loss (CS231n: up to ~1e-2 for a network with
    kinks; smooth activations allow a far tighter bound)."""
    X, y = _toy(n=6)
    model = Scratch1dCNNClassifier(**dict(SMALL, steps=1, lr=1e-12, activation="tanh",
                                          pool=("avg", 2, 2)))
    model.fit(X, y)
    Xc = X[:, None, :].copy()
    t = model._encode(y)
    loss = SoftmaxCrossEntropy()

    def f():
        return loss.forward(model._forward(Xc), t)

    f()
    dout = loss.backward()
    for layer in reversed(model.layers_):
        dout = layer.backward(dout)
    conv = model.layers_[0]
    lin = [layer for layer in model.layers_ if isinstance(layer, Linear)][-1]
    assert rel_error(conv.dw, numerical_gradient(f, conv.w)) < 1e-6
    assert rel_error(lin.dw, numerical_gradient(f, lin.w)) < 1e-6
    assert rel_error(dout, numerical_gradient(f, Xc)) < 1e-6


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"conv_layers": ((4,),)}, r"conv_layers\[0\]"),
    ({"conv_layers": ({"out_channels": 4, "kernel": 3},)}, "unknown keys"),
    ({"activation": "relu7"}, "relu7"),
    ({"lr": -1.0}, "lr"),
    ({"batch_size": 0}, "batch_size"),
    ({"steps": 2.5}, "steps"),
    ({"dropout": 1.0}, "dropout"),
    ({"lr_decay": "linear"}, "lr_decay"),
    ({"pool": ("median", 2)}, r"pool\[0\]"),
    ({"dtype": np.int32}, "dtype"),
    ({"augment": 3}, "augment"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        Scratch1dCNNClassifier(**kwargs)


def test_bad_data_is_named():
    X, y = _toy()
    model = Scratch1dCNNClassifier(**SMALL)
    with pytest.raises(TypeError, match="X"):
        model.fit(X.astype(int), y)
    with pytest.raises(ValueError, match="y must have one label per sample"):
        model.fit(X, y[:-1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(X, np.zeros(len(X)))
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(X)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"shape \(1, 24\)"):
        model.predict(X[:, :10])
    with pytest.raises(ValueError, match="X_val"):
        model.fit(X, y, X_val=X)


# ---------------------------------------------------------------- the fit contract (issue 20)

def _three_bumps(n=250, L=16, seed=0):
    """Three classes told apart by where a bump sits (250 samples: batches of 100
    leave a last batch of 50)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(0, 0.3, size=(n, L))
    X[np.arange(n), 3 + 4 * y] += 2.0
    return X, y


def test_batches_visit_every_sample_once_per_epoch_with_a_smaller_last_batch():
    clf = Scratch1dCNNClassifier(batch_size=100)
    batches = clf._batches(250, np.random.default_rng(0))
    epoch = [next(batches) for _ in range(3)]
    assert [len(b) for b in epoch] == [100, 100, 50]
    assert sorted(np.concatenate(epoch)) == list(range(250))
    assert len(next(batches)) == 100                       # the next epoch starts afresh


def test_fit_counts_steps_records_per_epoch_and_weighs_the_loss_by_samples(monkeypatch):
    X, y = _three_bumps()
    seen = []
    original = SoftmaxCrossEntropy.forward

    def spy(self, logits, t):
        loss = original(self, logits, t)
        seen.append((float(loss), len(t)))
        return loss

    monkeypatch.setattr(SoftmaxCrossEntropy, "forward", spy)
    clf = Scratch1dCNNClassifier(conv_layers=((4, 3, 1, 1),), batch_size=100, steps=7,
                                 verbose=False).fit(X, y)
    # 250 samples, batches of 100: 3 steps an epoch, so records at steps 3 and 6, and 7 (last)
    assert clf.history_["step"] == [3, 6, 7]
    first = seen[:3]
    weighted = sum(loss * n for loss, n in first) / sum(n for _, n in first)
    assert clf.history_["loss"][0] == pytest.approx(weighted)
    assert clf.history_["loss"][0] != pytest.approx(np.mean([loss for loss, _ in first]))


def test_fit_trains_every_step_in_training_mode_although_records_switch_to_eval():
    X, y = _three_bumps()
    modes = []

    class Spy(Scratch1dCNNClassifier):
        def _forward(self, X):
            modes.append(all(layer.training for layer in self.layers_))
            return super()._forward(X)

    clf = Spy(conv_layers=(), hidden=(8,), dropout=0.5, batch_size=50, steps=12, eval_every=2,
              verbose=False)
    clf.fit(X, y, X[:20], y[:20])
    # the training forwards are the calls with a batch of 50; the validation ones are in eval mode
    assert modes.count(True) == 12
    assert not any(layer.training for layer in clf.layers_)   # left in evaluation mode
