"""Tests of solutions/optim.py: updates against torch.optim, schedules against
their closed forms."""

import math

import numpy as np
import pytest

from solutions.layer import Layer
from solutions.layers import Linear
from solutions.optim import (
    SGD,
    AdaGrad,
    Adam,
    ConstantLR,
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    Momentum,
    StepDecay,
    get_optimizer,
)

# Float64, 20 steps of the same arithmetic: only rounding separates us from torch.
TORCH_RTOL = 1e-10
STEPS = 20


class Quadratic(Layer):
    """Two parameters and the gradients of ``0.5 w.A.w - c.w + 0.5 |b - d|^2``."""

    params = ("w", "b")

    def __init__(self, rng):
        super().__init__()
        M = rng.standard_normal((4, 4))
        self.A = M @ M.T + np.eye(4)                     # symmetric positive definite
        self.c = rng.standard_normal(4)
        self.d = rng.standard_normal(3)
        self.w = rng.standard_normal(4)
        self.b = rng.standard_normal(3)

    def compute_grads(self):
        self.dw = self.A @ self.w - self.c
        self.db = self.b - self.d

    def torch_loss(self, torch, w, b):
        A, c, d = (torch.tensor(a) for a in (self.A, self.c, self.d))
        return 0.5 * w @ A @ w - c @ w + 0.5 * ((b - d) ** 2).sum()


def run_against_torch(make_ours, make_torch, seed, schedule=None):
    """Run both optimisers STEPS times; compare the parameters after every step."""
    torch = pytest.importorskip("torch")
    problem = Quadratic(np.random.default_rng(seed))
    w_t = torch.tensor(problem.w.copy(), requires_grad=True)
    b_t = torch.tensor(problem.b.copy(), requires_grad=True)
    opt_t = make_torch(torch, [w_t, b_t])
    sched_t = schedule(torch, opt_t) if schedule else None
    opt = make_ours()
    w_id = id(problem.w)
    for _ in range(STEPS):
        problem.compute_grads()
        opt.step([problem])
        opt_t.zero_grad()
        problem.torch_loss(torch, w_t, b_t).backward()
        opt_t.step()
        if sched_t:
            sched_t.step()
        np.testing.assert_allclose(problem.w, w_t.detach().numpy(), rtol=TORCH_RTOL)
        np.testing.assert_allclose(problem.b, b_t.detach().numpy(), rtol=TORCH_RTOL)
    assert id(problem.w) == w_id, "parameters must be updated in place"
    assert opt.t == STEPS
    return problem


def test_sgd_matches_torch():
    run_against_torch(lambda: SGD(lr=0.05, weight_decay=0.01),
                      lambda torch, p: torch.optim.SGD(p, lr=0.05, weight_decay=0.01), seed=0)


def test_momentum_matches_torch_formulation():
    run_against_torch(lambda: Momentum(lr=0.02, momentum=0.9),
                      lambda torch, p: torch.optim.SGD(p, lr=0.02, momentum=0.9), seed=1)


def test_adagrad_matches_torch():
    run_against_torch(
        lambda: AdaGrad(lr=0.3, eps=1e-10),
        lambda torch, p: torch.optim.Adagrad(p, lr=0.3, eps=1e-10, initial_accumulator_value=0),
        seed=2)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adam_matches_torch(weight_decay):
    run_against_torch(
        lambda: Adam(lr=0.05, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=weight_decay),
        lambda torch, p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-6,
                                          weight_decay=weight_decay),
        seed=3)


def test_step_decay_schedule_matches_torch_step_lr():
    run_against_torch(
        lambda: Momentum(lr=StepDecay(0.05, step_size=4, gamma=0.5), momentum=0.8),
        lambda torch, p: torch.optim.SGD(p, lr=0.05, momentum=0.8),
        seed=4,
        schedule=lambda torch, opt: torch.optim.lr_scheduler.StepLR(opt, 4, gamma=0.5))


def test_inverse_time_decay_matches_torch_lambda_lr():
    run_against_torch(
        lambda: Adam(lr=InverseTimeDecay(0.1, decay=0.3)),
        lambda torch, p: torch.optim.Adam(p, lr=0.1),
        seed=5,
        schedule=lambda torch, opt: torch.optim.lr_scheduler.LambdaLR(
            opt, lambda t: 1 / (1 + 0.3 * t)))


def test_adam_first_step_moves_every_element_by_lr():
    """Bias correction: the first update is lr * g / (|g| + eps) = lr * sign(g)."""
    rng = np.random.default_rng(6)
    problem = Quadratic(rng)
    w0 = problem.w.copy()
    problem.compute_grads()
    Adam(lr=0.01, eps=1e-12).step(problem)
    np.testing.assert_allclose(problem.w, w0 - 0.01 * np.sign(problem.dw), rtol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adagrad", "adam"])
def test_every_optimiser_decreases_a_quadratic(name):
    problem = Quadratic(np.random.default_rng(7))
    opt = get_optimizer(name, lr=0.05)

    def loss():
        return 0.5 * problem.w @ problem.A @ problem.w - problem.c @ problem.w + \
            0.5 * np.sum((problem.b - problem.d) ** 2)

    start = loss()
    for _ in range(50):
        problem.compute_grads()
        opt.step(problem)
    assert loss() < start - 0.1 * abs(start) - 0.1


def test_state_is_per_layer_and_parameter():
    rng = np.random.default_rng(8)
    a = Linear(rng.standard_normal((2, 3)), np.zeros(2))
    b = Linear(rng.standard_normal((2, 3)), np.zeros(2))
    for layer in (a, b):
        layer.forward(rng.standard_normal((4, 3)))
        layer.backward(rng.standard_normal((4, 2)))
    opt = Momentum(lr=0.1)
    opt.step([a, b])
    assert set(opt.state) == {(id(a), "w"), (id(a), "b"), (id(b), "w"), (id(b), "b")}
    np.testing.assert_allclose(opt.state[(id(b), "w")]["v"], b.dw, rtol=1e-15)
    # A parameter whose gradient is None is skipped.
    a.dw = None
    w_before = a.w.copy()
    opt.step(a)
    np.testing.assert_array_equal(a.w, w_before)


# --------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------

def test_schedules_closed_forms():
    ts = [0, 1, 2, 5, 9, 10, 11, 30, 100]
    cases = [
        (ConstantLR(0.1), lambda t: 0.1),
        (StepDecay(0.1, step_size=10, gamma=0.5), lambda t: 0.1 * 0.5 ** (t // 10)),
        (ExponentialDecay(0.2, gamma=0.9), lambda t: 0.2 * 0.9 ** t),
        (InverseTimeDecay(0.1, decay=0.5), lambda t: 0.1 / (1 + 0.5 * t)),
        (CosineDecay(0.1, total_steps=30, min_lr=0.01),
         lambda t: 0.01 + 0.09 * (1 + math.cos(math.pi * min(t, 30) / 30)) / 2),
    ]
    for schedule, formula in cases:
        for t in ts:
            np.testing.assert_allclose(schedule(t), formula(t), rtol=1e-14,
                                       err_msg=f"{schedule!r} at t={t}")


def test_schedule_landmarks():
    cosine = CosineDecay(1.0, total_steps=100)
    assert cosine(0) == 1.0 and cosine(100) == 0.0 and cosine(500) == 0.0
    np.testing.assert_allclose(cosine(50), 0.5, rtol=1e-15)
    step = StepDecay(1.0, step_size=3, gamma=0.1)
    assert [step(t) for t in range(7)] == [1.0, 1.0, 1.0, 0.1, 0.1, 0.1, step(6)]
    np.testing.assert_allclose(step(6), 0.01, rtol=1e-15)
    np.testing.assert_allclose(InverseTimeDecay(0.3, decay=1.0)(2), 0.1, rtol=1e-15)


def test_optimiser_lr_follows_schedule_per_step():
    problem = Quadratic(np.random.default_rng(9))
    schedule = ExponentialDecay(0.1, gamma=0.7)
    opt = SGD(lr=schedule)
    assert opt.t == 0 and opt.lr == 0.1
    for t in range(6):
        assert opt.lr == schedule(t)
        problem.compute_grads()
        w_before, grad = problem.w.copy(), problem.dw.copy()
        opt.step(problem)
        np.testing.assert_allclose(problem.w, w_before - schedule(t) * grad, rtol=1e-14)
        assert opt.t == t + 1
    assert SGD(lr=0.3).lr == 0.3


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^lr must be > 0.0, got -0.1"):
        SGD(lr=-0.1)
    with pytest.raises(ValueError, match=r"^lr must be > 0"):
        Adam(lr=0.0)
    with pytest.raises(TypeError, match=r"^lr must be a positive float or a schedule"):
        Adam(lr="fast")
    with pytest.raises(ValueError, match=r"^momentum must be >= 0.0 and < 1.0"):
        Momentum(momentum=1.0)
    with pytest.raises(ValueError, match=r"^beta2 must be"):
        Adam(beta2=1.5)
    with pytest.raises(ValueError, match=r"^weight_decay must be >= 0"):
        SGD(weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"^name must be one of the optimizers 'sgd'"):
        get_optimizer("rmsprop")
    with pytest.raises(ValueError, match=r"^step_size must be an integer >= 1"):
        StepDecay(0.1, step_size=0)
    with pytest.raises(ValueError, match=r"^gamma must be"):
        ExponentialDecay(0.1, gamma=1.5)
    with pytest.raises(ValueError, match=r"^min_lr must be"):
        CosineDecay(0.1, total_steps=10, min_lr=0.2)
    with pytest.raises(ValueError, match=r"^t must be an integer >= 0"):
        ConstantLR(0.1)(-1)
    with pytest.raises(TypeError, match=r"^layers must be layers"):
        SGD().step([object()])
    layer = Linear(np.ones((2, 3)), np.zeros(2))
    layer.dw = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"gradient dw of Linear has shape \(3, 2\)"):
        SGD().step(layer)
