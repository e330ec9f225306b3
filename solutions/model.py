"""A small 1D CNN classifier assembled from the kit's layers, trained by
mini-batch gradient descent.

The default architecture is the MNIST-1D paper's CNN (Greydanus & Kobak):
three convolutions 1->25 (F=5, S=2, P=1), 25->25 (F=3, S=2, P=1) twice, a
ReLU after each, then Flatten and Linear 125->10, trained with Adam, lr 1e-2,
batches of 100 for 6000 steps.
"""

import time

import numpy as np

from ._checks import as_float_array, check_choice, check_float, check_int
from .activations import get_activation
from .conv import Conv1d
from .init import init_weights
from .layers import Dropout, Flatten, Linear
from .losses import SoftmaxCrossEntropy, softmax
from .optim import CosineDecay, ExponentialDecay, get_optimizer
from .pool import AvgPool1d, MaxPool1d

MNIST1D_CNN = ((25, 5, 2, 1), (25, 3, 2, 1), (25, 3, 2, 1))


class ClassifierBase:
    """What ``Scratch1dCNNClassifier`` is given: a 1D CNN for sequence
    classification, written from scratch in numpy, but for ``fit``,
    ``predict`` and ``predict_proba``.

    Parameters
    ----------
    conv_layers : sequence of tuple or dict
        One entry per convolution: ``(out_channels, kernel_size, stride,
        padding)`` (stride and padding optional) or a dict that may also give
        ``dilation`` and ``padding_mode``.
    pool : tuple of (kind, kernel_size, stride) or None
        Pooling after every convolution's activation, e.g. ``("max", 2, 2)``.
    hidden : sequence of int
        Sizes of fully connected hidden layers between Flatten and the output.
    activation : str
        Name of an activation: a key of ``ACTIVATIONS``, e.g. "relu", "elu".
    dropout : float
        Drop probability before each fully connected layer (0 disables).
    optimizer : {"sgd", "momentum", "adagrad", "adam"}
    lr : float
        Initial learning rate.
    lr_decay : {None, "cosine", "exponential"}
        Learning-rate schedule over the training steps (exponential decays to
        1 % of ``lr`` by the last step).
    weight_decay : float
        L2 penalty added to the gradients by the optimiser (SGD-style).
    batch_size : int
    steps : int
        Number of optimiser steps (mini-batches) to train for.
    init : {"torch", "he", "xavier", ...}
        Weight initialisation scheme (see ``init_weights``).
    augment : callable or None
        ``augment(X_batch, rng) -> X_batch``, applied to each training batch.
    eval_every : int or None
        Steps between history entries; None means once per epoch.
    dtype : numpy dtype
        float64 (exact) or float32 (faster, half the memory).
    seed : int
        Seeds the initial weights, the batch order, dropout and augmentation.
    verbose : bool
        Show a progress bar while fitting.

    Attributes
    ----------
    layers_ : list of Layer
    classes_ : ndarray of shape (K,)
    history_ : dict of lists
        One entry per record: ``step`` (optimiser steps so far), ``loss`` and
        ``train_acc`` (mean training loss and accuracy over the samples of
        the batches since the last entry, in training mode, augmented when
        ``augment`` is set: not a clean training accuracy), ``time``
        (seconds since fit started) and, when a validation set is given,
        ``val_loss`` and ``val_acc``.
    """

    _CONV_KEYS = ("out_channels", "kernel_size", "stride", "padding", "dilation", "padding_mode")
    #: The layer classes for ``pool=("max", ...)`` and before the fully connected part: the
    #: subclass sets them (stage 5's ``MaxPool1d`` and ``Flatten``).
    max_pool_layer = None
    flatten_layer = None

    @staticmethod
    def _conv_spec(spec, i):
        """Normalise a conv layer spec (tuple or dict) to a dict of Conv1d arguments."""
        keys = ClassifierBase._CONV_KEYS
        if isinstance(spec, dict):
            unknown = set(spec) - set(keys)
            if unknown:
                raise ValueError(f"conv_layers[{i}] has unknown keys {sorted(unknown)}; "
                                 f"valid keys are {keys}")
            d = dict(spec)
        elif isinstance(spec, tuple | list) and 2 <= len(spec) <= 4:
            d = dict(zip(keys, spec, strict=False))
        else:
            raise ValueError(
                f"conv_layers[{i}] must be (out_channels, kernel_size[, stride[, padding]]) or "
                f"a dict with keys {keys}, got {spec!r}")
        if "out_channels" not in d or "kernel_size" not in d:
            raise ValueError(f"conv_layers[{i}] needs out_channels and kernel_size, got {spec!r}")
        return d

    def __init__(self, conv_layers=MNIST1D_CNN, pool=None, hidden=(), activation="relu",
                 dropout=0.0, optimizer="adam", lr=1e-2, lr_decay=None, weight_decay=0.0,
                 batch_size=100, steps=6000, init="torch", augment=None, eval_every=None,
                 dtype=np.float64, seed=0, verbose=True):
        self.conv_layers = [self._conv_spec(s, i) for i, s in enumerate(conv_layers)]
        self.pool = pool
        self.hidden = tuple(check_int(f"hidden[{i}]", h, 1) for i, h in enumerate(hidden))
        self.activation = activation
        get_activation(activation)  # fail now, not after loading the data
        self.dropout = check_float("dropout", dropout, 0.0, 1.0, inclusive=(True, False))
        self.optimizer = optimizer
        self.lr = check_float("lr", lr, 0.0, inclusive=(False, True))
        self.lr_decay = check_choice("lr_decay", lr_decay, (None, "cosine", "exponential"))
        self.weight_decay = check_float("weight_decay", weight_decay, 0.0)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.steps = check_int("steps", steps, 1)
        self.init = init
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be a callable (X, rng) -> X or None, got {augment!r}")
        self.augment = augment
        self.eval_every = None if eval_every is None else check_int("eval_every", eval_every, 1)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.seed = check_int("seed", seed)
        self.verbose = verbose
        if pool is not None:
            if not (isinstance(pool, tuple | list) and len(pool) in (2, 3)):
                raise ValueError(f"pool must be (kind, kernel_size[, stride]), got {pool!r}")
            check_choice("pool[0]", pool[0], ("max", "avg"))

    # ---------------------------------------------------------------- build
    def _build(self, in_shape, n_classes, rng):
        """Create the layers for inputs of shape (C, L); returns the list."""
        C, L = in_shape
        layers = []
        probe = np.zeros((1, C, L), dtype=self.dtype)
        for spec in self.conv_layers:
            spec = dict(spec)
            C_out, F = spec.pop("out_channels"), spec.pop("kernel_size")
            w = init_weights((C_out, C, F), rng, self.init)
            conv = Conv1d(w, np.zeros(C_out), **spec)
            layers += [conv, get_activation(self.activation)]
            if self.pool is not None:
                kind, k, *s = self.pool
                layers.append((self.max_pool_layer if kind == "max" else AvgPool1d)(k, *s))
            C = conv.w.shape[0]
        layers.append(self.flatten_layer())
        for layer in layers:
            probe = layer.forward(probe)
        width = probe.shape[1]
        for h in self.hidden:
            if self.dropout:
                layers.append(Dropout(self.dropout, seed=rng))
            layers += [Linear.init(width, h, rng, scheme=self.init),
                       get_activation(self.activation)]
            width = h
        if self.dropout:
            layers.append(Dropout(self.dropout, seed=rng))
        layers.append(Linear.init(width, n_classes, rng, scheme=self.init))
        for layer in layers:
            for name in layer.params:
                setattr(layer, name, getattr(layer, name).astype(self.dtype))
        return layers

    def _check_X(self, X, name="X"):
        X = as_float_array(name, X, ndim=(2, 3), shape_doc="(N, L) or (N, C, L)")
        X = X[:, None, :] if X.ndim == 2 else X                         # (N, C, L)
        if hasattr(self, "input_shape_") and X.shape[1:] != self.input_shape_:
            raise ValueError(f"{name} must have samples of shape {self.input_shape_} (C, L) "
                             f"as in fit, got {X.shape[1:]}")
        return X.astype(self.dtype, copy=False)

    def _encode(self, y, name="y"):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of labels, got shape {y.shape}")
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        if not np.all(self.classes_[idx] == y):
            raise ValueError(f"{name} holds labels not seen in fit: "
                             f"{np.setdiff1d(y, self.classes_)[:5]}")
        return idx

    # ----------------------------------------------------------- forward
    def _forward(self, X):
        for layer in self.layers_:
            X = layer.forward(X)
        return X

    def _set_training(self, training):
        for layer in self.layers_:
            layer.training = training

    def decision_function(self, X, batch_size=250):
        """Logits of shape (N, K), computed in evaluation mode, in batches.

        Every layer keeps its last input and output for a backward pass, so
        the batch size bounds the memory: 250 MNIST-784 sequences take about
        100 MB where 1000 took 450 MB.
        """
        self._check_fitted()
        X = self._check_X(X)
        self._set_training(False)
        out = [self._forward(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]
        return np.concatenate(out)

    def score(self, X, y):
        """Accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))

    def _check_fitted(self):
        if not hasattr(self, "layers_"):
            raise RuntimeError("this classifier is not fitted yet: call fit(X, y) first")

    # --------------------------------------------------------------- fit
    def _setup_fit(self, X, y, X_val=None, y_val=None):
        """Check the data, learn the classes and build fresh layers.

        Sets ``classes_`` (the sorted distinct labels), ``input_shape_``
        (C, L), ``layers_`` and an empty ``history_``.

        Returns
        -------
        X : ndarray, shape (N, C, L), in ``self.dtype``
        t : ndarray of int, shape (N,)
            Class indices 0..K-1: ``y == classes_[t]``.
        X_val, t_val : the same for the validation set, or None, None
        rng : numpy.random.Generator
            Seeded with ``self.seed`` (the initial weights were drawn from
            it); use it for the batch order and the augmentation.
        """
        if hasattr(self, "input_shape_"):
            del self.input_shape_
        X = self._check_X(X)
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"y must have one label per sample of X ({len(X)}), got {len(y)}")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError(f"y must hold at least 2 classes, got {self.classes_}")
        t = self._encode(y)
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        rng = np.random.default_rng(self.seed)
        self.input_shape_ = X.shape[1:]
        self.layers_ = self._build(self.input_shape_, len(self.classes_), rng)
        t_val = None
        if X_val is not None:
            X_val, t_val = self._check_X(X_val, "X_val"), self._encode(y_val, "y_val")
        self.history_ = {"step": [], "loss": [], "train_acc": [], "time": []}
        if X_val is not None:
            self.history_.update(val_loss=[], val_acc=[])
        return X, t, X_val, t_val, rng

    def _batches(self, N, rng):
        """Yield the sample indices of one batch per step, for ever.

        Every epoch visits the N samples once in a fresh random order, in
        batches of ``batch_size``; when ``batch_size`` does not divide N the
        last batch of an epoch is smaller (N mod batch_size samples) and is
        still one step.
        """
        while True:
            perm = rng.permutation(N)
            for pos in range(0, N, self.batch_size):
                yield perm[pos:pos + self.batch_size]

    def _make_optimizer(self):
        """The optimiser named by ``optimizer``, with the learning-rate schedule."""
        extra = {"weight_decay": self.weight_decay} if self.weight_decay else {}
        return get_optimizer(self.optimizer, lr=self._schedule(), **extra)

    def _schedule(self):
        if self.lr_decay == "cosine":
            return CosineDecay(self.lr, self.steps)
        if self.lr_decay == "exponential":
            return ExponentialDecay(self.lr, 0.01 ** (1.0 / self.steps))
        return self.lr

    def _progress_bar(self):
        """A tqdm progress bar over the steps (notebook-aware); silent unless ``verbose``."""
        from tqdm.auto import tqdm

        return tqdm(total=self.steps, desc="training", unit="step", leave=True,
                    disable=not self.verbose)

    def _record(self, step, loss, train_acc, X_val, t_val, elapsed):
        """Append one entry to ``history_`` (evaluating the validation set, if any)."""
        h = self.history_
        h["step"].append(step)
        h["loss"].append(float(loss))
        h["train_acc"].append(float(train_acc))
        h["time"].append(elapsed)
        if X_val is not None:
            logits = self.decision_function(X_val)
            h["val_loss"].append(float(SoftmaxCrossEntropy().forward(logits, t_val)))
            h["val_acc"].append(float(np.mean(np.argmax(logits, axis=1) == t_val)))

    def _postfix(self):
        h = self.history_
        out = {"loss": f"{h['loss'][-1]:.3f}", "acc": f"{h['train_acc'][-1]:.3f}"}
        if "val_acc" in h:
            out["val_acc"] = f"{h['val_acc'][-1]:.3f}"
        return out

    @property
    def n_params_(self):
        """Number of trainable parameters."""
        self._check_fitted()
        return sum(int(v.size) for layer in self.layers_ for _, v, _ in layer.parameters())

    def summary(self):
        """One line per layer with its output shape and parameter count."""
        self._check_fitted()
        x = np.zeros((1,) + self.input_shape_, dtype=self.dtype)
        self._set_training(False)
        lines = [f"input            {x.shape[1:]}"]
        for layer in self.layers_:
            x = layer.forward(x)
            n = sum(int(v.size) for _, v, _ in layer.parameters())
            lines.append(f"{type(layer).__name__:<16} {str(x.shape[1:]):<14} params={n}")
        lines.append(f"total params {self.n_params_}")
        return "\n".join(lines)


class Scratch1dCNNClassifier(ClassifierBase):
    """A 1D CNN for sequence classification: ``ClassifierBase`` (given, in
    ``cnn1d_reference.py``; its docstring lists the parameters) with
    ``fit``, ``predict`` and ``predict_proba``, and the pooling and flatten
    layers of this notebook."""

    max_pool_layer = MaxPool1d
    flatten_layer = Flatten

    def fit(self, X, y, X_val=None, y_val=None):
        """Train on ``(X, y)`` by mini-batch gradient descent.

        The contract (section 9 of the notebook says it in full):

        * ``self._setup_fit`` first; all randomness from the ``rng`` it returns.
        * Exactly ``self.steps`` optimiser steps; a step is one batch. Each
          epoch visits the N samples once in a new random order, in batches
          of ``batch_size``; when it does not divide N, the epoch's last
          batch is smaller (N mod batch_size samples) and is one step too.
          ``self._batches(N, rng)`` yields exactly these batches.
        * Every step in training mode: call ``self._set_training(True)``
          before each forward (``_record`` evaluates the validation set in
          evaluation mode and leaves the layers there).
        * ``self._record(step, loss, train_acc, ...)`` every ``eval_every``
          steps (None: every ceil(N / batch_size) steps, once per epoch) and
          at the last step, ``step`` counting steps from 1, ``loss`` and
          ``train_acc`` averaged over the samples since the last record.
        * The layers in evaluation mode when it returns.

        Parameters
        ----------
        X : ndarray, shape (N, L) or (N, C, L)
            Floating-point sequences; (N, L) means one channel.
        y : ndarray, shape (N,)
            Class labels (any sortable values: ints, strings...).
        X_val, y_val : ndarray, optional
            Validation data, evaluated at every entry of ``history_``.

        Returns
        -------
        self
        """
        X, t, X_val, t_val, rng = self._setup_fit(X, y, X_val, y_val)
        loss_fn = SoftmaxCrossEntropy()
        opt = self._make_optimizer()
        N = len(X)
        every = self.eval_every or -(-N // self.batch_size)     # default: once per epoch
        start = time.perf_counter()
        loss_sum, hits, seen = 0.0, 0, 0
        batches = self._batches(N, rng)
        bar = self._progress_bar()
        for step in range(1, self.steps + 1):
            idx = next(batches)
            xb = X[idx]                                         # (B, C, L)
            if self.augment is not None:
                xb = self.augment(xb, rng).astype(self.dtype, copy=False)
            self._set_training(True)                            # _record left eval mode on
            logits = self._forward(xb)                          # (B, K)
            loss_sum += loss_fn.forward(logits, t[idx]) * len(idx)  # weighted by samples
            hits += int(np.sum(np.argmax(logits, axis=1) == t[idx]))
            seen += len(idx)
            dout = loss_fn.backward().astype(self.dtype, copy=False)  # (B, K)
            for layer in reversed(self.layers_):
                dout = layer.backward(dout)
            opt.step(self.layers_)
            if step % every == 0 or step == self.steps:
                self._record(step, loss_sum / seen, hits / seen, X_val, t_val,
                             time.perf_counter() - start)
                loss_sum, hits, seen = 0.0, 0, 0
                bar.set_postfix(self._postfix())
            bar.update(1)
        bar.close()
        self._set_training(False)
        return self

    def predict_proba(self, X):
        """Class probabilities: the softmax of the logits of ``decision_function``.

        Parameters
        ----------
        X : ndarray, shape (N, L) or (N, C, L)

        Returns
        -------
        proba : ndarray, shape (N, K)
            Column k is the probability of ``classes_[k]``; every row sums
            to 1, even for logits in the thousands.
        """
        return softmax(self.decision_function(X), axis=1)

    def predict(self, X):
        """The most probable class of each sample.

        Parameters
        ----------
        X : ndarray, shape (N, L) or (N, C, L)

        Returns
        -------
        labels : ndarray, shape (N,)
            Values of ``classes_``, i.e. labels as given to ``fit`` (strings
            stay strings), not class indices and not probabilities.
        """
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


__all__ = ["MNIST1D_CNN", "ClassifierBase", "Scratch1dCNNClassifier"]
