"""Gradient-descent optimisers and learning-rate schedules.

An optimiser updates any layer of the kit: ``opt.step(layers)`` walks
``layer.parameters()`` (name, value, gradient) and changes every ``value``
in place, so the layers keep their arrays. Per-parameter state (velocity,
moment estimates) is keyed by the layer and the parameter name.

The learning rate is a float or a schedule: a callable taking the step
count ``t`` (0-based: the number of ``step`` calls made before) and
returning the rate. The schedule advances once per ``opt.step`` call, that
is per mini-batch, not per epoch. ``opt.t`` counts the steps taken and
``opt.lr`` is the rate the next step will use, ``schedule(opt.t)``.

Every update matches ``torch.optim`` with the same hyper-parameters
(``weight_decay`` adds ``weight_decay * value`` to the gradient, as there).
"""

import math
import numbers

import numpy as np

from ._checks import _describe, check_float, check_int

# --------------------------------------------------------------------------
# Learning-rate schedules: callables t -> lr, t = 0, 1, 2, ... steps.
# --------------------------------------------------------------------------


class ConstantLR:
    """``lr(t) = lr``."""

    def __init__(self, lr):
        self.lr = check_float("lr", lr, minimum=0.0, inclusive=(False, True))

    def __call__(self, t):
        t = check_int("t", t, minimum=0)
        return self._rate(t)

    def _rate(self, t):
        return self.lr

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class StepDecay(ConstantLR):
    """``lr(t) = lr * gamma ** (t // step_size)``: cut by ``gamma`` every ``step_size`` steps.

    PyTorch's StepLR when its scheduler is stepped after every optimiser step.
    """

    def __init__(self, lr, step_size, gamma=0.1):
        super().__init__(lr)
        self.step_size = check_int("step_size", step_size, minimum=1)
        self.gamma = check_float("gamma", gamma, minimum=0.0, maximum=1.0,
                                 inclusive=(False, True))

    def _rate(self, t):
        return self.lr * self.gamma ** (t // self.step_size)


class ExponentialDecay(ConstantLR):
    """``lr(t) = lr * gamma ** t`` with 0 < gamma <= 1 (PyTorch's ExponentialLR)."""

    def __init__(self, lr, gamma):
        super().__init__(lr)
        self.gamma = check_float("gamma", gamma, minimum=0.0, maximum=1.0,
                                 inclusive=(False, True))

    def _rate(self, t):
        return self.lr * self.gamma ** t


class InverseTimeDecay(ConstantLR):
    """``lr(t) = lr / (1 + decay * t)``, with ``decay >= 0``."""

    def __init__(self, lr, decay):
        super().__init__(lr)
        self.decay = check_float("decay", decay, minimum=0.0)

    def _rate(self, t):
        return self.lr / (1.0 + self.decay * t)


class CosineDecay(ConstantLR):
    """Half a cosine from ``lr`` down to ``min_lr`` over ``total_steps`` steps.

    ``lr(t) = min_lr + (lr - min_lr) * (1 + cos(pi * t / total_steps)) / 2``
    for ``t <= total_steps``, and ``min_lr`` afterwards (PyTorch's
    CosineAnnealingLR would climb back up instead).
    """

    def __init__(self, lr, total_steps, min_lr=0.0):
        super().__init__(lr)
        self.total_steps = check_int("total_steps", total_steps, minimum=1)
        self.min_lr = check_float("min_lr", min_lr, minimum=0.0, maximum=self.lr)

    def _rate(self, t):
        frac = min(t, self.total_steps) / self.total_steps
        return self.min_lr + (self.lr - self.min_lr) * (1.0 + math.cos(math.pi * frac)) / 2.0


def as_schedule(lr):
    """A schedule from a float (constant) or a callable (returned as it is)."""
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool | np.bool_):
        return ConstantLR(lr)
    if callable(lr):
        return lr
    raise TypeError(f"lr must be a positive float or a schedule callable t -> lr, "
                    f"got {_describe(lr)}")


# --------------------------------------------------------------------------
# Optimisers.
# --------------------------------------------------------------------------


class Optimizer:
    """Base class: schedule, step count, weight decay and per-parameter state.

    Parameters
    ----------
    lr : float or callable
        Learning rate, > 0, or a schedule ``t -> lr``.
    weight_decay : float
        L2 penalty >= 0, added to the gradient as ``weight_decay * value``.
    """

    def __init__(self, lr, weight_decay=0.0):
        self.schedule = as_schedule(lr)
        self.weight_decay = check_float("weight_decay", weight_decay, minimum=0.0)
        self.t = 0
        self.state = {}
        self._owners = {}   # keeps each layer alive so that its id() is never reused

    @property
    def lr(self):
        """The learning rate the next step will use: ``schedule(t)``."""
        return float(self.schedule(self.t))

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.schedule!r}, t={self.t})"

    def step(self, layers):
        """Update every parameter of ``layers`` in place, then advance ``t`` by one.

        Parameters
        ----------
        layers : Layer or iterable of Layer
            Anything with ``parameters()`` yielding ``(name, value, grad)``;
            parameters whose gradient is None are skipped.
        """
        if hasattr(layers, "parameters"):
            layers = [layers]
        lr = self.lr
        for layer in layers:
            if not hasattr(layer, "parameters"):
                raise TypeError(f"layers must be layers with parameters(), got an item "
                                f"{_describe(layer)}")
            for name, value, grad in layer.parameters():
                if grad is None:
                    continue
                if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
                    raise TypeError(f"parameter {name!r} of {type(layer).__name__} must be a "
                                    f"float ndarray to be updated in place, got {_describe(value)}")
                grad = np.asarray(grad)
                if grad.shape != value.shape:
                    raise ValueError(f"gradient d{name} of {type(layer).__name__} has shape "
                                     f"{grad.shape}, but {name} has shape {value.shape}")
                if self.weight_decay:
                    grad = grad + self.weight_decay * value
                self._owners[id(layer)] = layer
                state = self.state.setdefault((id(layer), name), {})
                self._update(value, grad, state, lr)
        self.t += 1

    def _update(self, value, grad, state, lr):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``value -= lr * grad``."""

    def __init__(self, lr=0.01, weight_decay=0.0):
        super().__init__(lr, weight_decay)

    def _update(self, value, grad, state, lr):
        value[...] -= lr * grad


class Momentum(Optimizer):
    """Gradient descent with momentum, PyTorch's formulation.

    ``v = momentum * v + grad``; ``value -= lr * v`` (v starts at 0).
    Textbooks often write ``v = momentum * v - lr * grad; value += v``; with
    a constant lr the two give the same iterates, but here a changing lr
    scales the whole velocity, as in ``torch.optim.SGD(momentum=...)``.
    """

    def __init__(self, lr=0.01, momentum=0.9, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0,
                                    inclusive=(True, False))

    def _update(self, value, grad, state, lr):
        v = state.setdefault("v", np.zeros_like(value))
        v *= self.momentum
        v += grad
        value[...] -= lr * v


class AdaGrad(Optimizer):
    """Per-element rates shrinking with the gradients seen so far.

    ``G += grad**2``; ``value -= lr * grad / (sqrt(G) + eps)``, as
    ``torch.optim.Adagrad`` (whose default eps is 1e-10).
    """

    def __init__(self, lr=0.01, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.eps = check_float("eps", eps, minimum=0.0)

    def _update(self, value, grad, state, lr):
        G = state.setdefault("G", np.zeros_like(value))
        G += grad * grad
        value[...] -= lr * grad / (np.sqrt(G) + self.eps)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): momentum and a per-element scale, bias-corrected.

    With k the number of updates of this parameter (1, 2, ...)::

        m = beta1 m + (1 - beta1) grad          first moment (mean)
        v = beta2 v + (1 - beta2) grad**2       second moment
        value -= lr / (1 - beta1**k) * m / (sqrt(v / (1 - beta2**k)) + eps)

    The corrections undo the bias of m and v towards their zero start. This
    is ``torch.optim.Adam`` exactly, eps included.
    """

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        self.beta1 = check_float("beta1", beta1, 0.0, 1.0, inclusive=(True, False))
        self.beta2 = check_float("beta2", beta2, 0.0, 1.0, inclusive=(True, False))
        self.eps = check_float("eps", eps, minimum=0.0)

    def _update(self, value, grad, state, lr):
        m = state.setdefault("m", np.zeros_like(value))
        v = state.setdefault("v", np.zeros_like(value))
        k = state["k"] = state.get("k", 0) + 1
        m += (1 - self.beta1) * (grad - m)
        v *= self.beta2
        v += (1 - self.beta2) * grad * grad
        denom = np.sqrt(v) / math.sqrt(1 - self.beta2 ** k) + self.eps
        value[...] -= lr / (1 - self.beta1 ** k) * m / denom


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adagrad": AdaGrad, "adam": Adam}


def get_optimizer(name, **kwargs):
    """A new optimiser by name, e.g. ``get_optimizer("adam", lr=1e-2)``.

    Parameters
    ----------
    name : {"sgd", "momentum", "adagrad", "adam"}
    **kwargs
        Passed to the class (``lr``, ``weight_decay``, ...).
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        valid = ", ".join(repr(k) for k in OPTIMIZERS)
        raise ValueError(f"name must be one of the optimizers {valid}, got {_describe(name)}")
    return OPTIMIZERS[name](**kwargs)
