"""Tests of solutions/conv.py: SimpleConv1d, the naive loops, Conv1d, resolve_padding.

Tolerances, all relative to the largest magnitude of the reference:
- worked numbers of the source course: exact up to 1e-12;
- PyTorch as the gold reference (float64): 1e-10;
- naive loops against the vectorised layer: 1e-12;
- centred-difference gradient checks (float64, h = 1e-5): 1e-7;
- float32 against float64: 1e-5.
"""

import warnings

import numpy as np
import pytest

from solutions.conv import (
    Conv1d,
    SimpleConv1d,
    conv1d_backward_naive,
    conv1d_forward_naive,
    resolve_padding,
)
from solutions.gradcheck import check_layer_gradients
from solutions.padding import pad1d, pad1d_backward

ALL_MODES = ("zeros", "constant", "reflect", "symmetric", "replicate", "circular")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def rel_diff(actual, expected):
    """Largest absolute difference over the largest magnitude of ``expected``."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected)) / max(1e-12, np.max(np.abs(expected))))


def assert_rel_close(actual, expected, tol, what):
    err = rel_diff(actual, expected)
    assert err <= tol, f"{what}: relative error {err:.3e} > {tol:.0e}"


# --------------------------------------------------------------------------
# Worked numbers of the source course (DIC Problems 3 and 4) and the seeds.
# --------------------------------------------------------------------------

X4 = np.array([1.0, 2.0, 3.0, 4.0])
W3 = np.array([3.0, 5.0, 7.0])
B1 = np.array([1.0])


def test_simple_forward_worked_example():
    out = SimpleConv1d(W3, B1).forward(X4)
    np.testing.assert_allclose(out, [35.0, 50.0], rtol=0, atol=1e-12)


def test_simple_backward_worked_example():
    layer = SimpleConv1d(W3, B1)
    layer.forward(X4)
    dx = layer.backward(np.array([10.0, 20.0]))
    np.testing.assert_allclose(layer.db, [30.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.dw, [50.0, 80.0, 110.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, [30.0, 110.0, 170.0, 140.0], rtol=0, atol=1e-12)
    assert layer.db.shape == B1.shape


def test_np_convolve_flips_the_kernel():
    """True convolution flips the kernel: np.convolve is the layer with w[::-1]."""
    conv = np.convolve(X4, W3, "valid")
    np.testing.assert_allclose(conv, [26.0, 41.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(conv + B1, [27.0, 42.0], rtol=0, atol=1e-12)
    flipped = SimpleConv1d(W3[::-1].copy(), B1).forward(X4)
    np.testing.assert_allclose(flipped, conv + B1, rtol=0, atol=1e-12)
    assert not np.allclose(SimpleConv1d(W3, B1).forward(X4), conv + B1)


def test_np_correlate_is_the_layer():
    """Deep-learning "convolution" is cross-correlation: no flip."""
    corr = np.correlate(X4, W3, "valid")
    np.testing.assert_allclose(corr, [34.0, 49.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(SimpleConv1d(W3, B1).forward(X4), corr + B1, rtol=0, atol=1e-12)


def test_simple_matches_np_correlate_random():
    rng = np.random.default_rng(0)
    for L, F in [(1, 1), (5, 1), (7, 3), (9, 9), (20, 6)]:
        x, w, b = rng.standard_normal(L), rng.standard_normal(F), rng.standard_normal(1)
        out = SimpleConv1d(w, b).forward(x)
        assert out.shape == (L - F + 1,)
        assert_rel_close(out, np.correlate(x, w, "valid") + b, 1e-12, f"L={L} F={F}")


def test_conv1d_multichannel_worked_example():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]])
    w = np.ones((3, 2, 3))
    b = np.array([1.0, 2.0, 3.0])
    expected = [[16.0, 22.0], [17.0, 23.0], [18.0, 24.0]]
    np.testing.assert_allclose(Conv1d(w, b).forward(x), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(Conv1d(w, b).forward(x[None]), [expected], rtol=0, atol=1e-12)


def test_delta_input_reproduces_the_kernel():
    """A unit impulse at position p gives out[p - k] = w[k]: the kernel, reversed."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal(5)
    x = np.zeros(13)
    x[6] = 1.0
    out = SimpleConv1d(w, np.array(0.0)).forward(x)  # (9,)
    expected = np.zeros(9)
    expected[2:7] = w[::-1]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    # True convolution of a delta reproduces the kernel unflipped.
    np.testing.assert_allclose(np.convolve(x, w, "full")[6:11], w, rtol=0, atol=1e-15)


def test_delta_input_multichannel():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 3, 5))
    b = rng.standard_normal(4)
    x = np.zeros((3, 12))
    x[1, 7] = 1.0
    out = Conv1d(w, b).forward(x)  # (4, 8)
    expected = np.broadcast_to(b[:, None], (4, 8)).copy()
    expected[:, 3:8] += w[:, 1, ::-1]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-14)


def test_simple_bias_shapes():
    """b may be a 0-d array or shape (1,); db takes the shape of b."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(8), rng.standard_normal(3)
    for b in (np.array(0.5), np.array([0.5]), 0.5):
        layer = SimpleConv1d(w, b)
        out = layer.forward(x)
        np.testing.assert_allclose(out, np.correlate(x, w, "valid") + 0.5, rtol=1e-12)
        layer.backward(np.ones_like(out))
        assert layer.db.shape == np.shape(b)
        np.testing.assert_allclose(layer.db, np.full(np.shape(b), 6.0), rtol=1e-12)


# --------------------------------------------------------------------------
# resolve_padding
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("padding", "F", "S", "D", "expected"),
    [
        (0, 3, 1, 1, (0, 0)),
        (2, 3, 2, 1, (2, 2)),
        ("valid", 5, 3, 2, (0, 0)),
        ("same", 3, 1, 1, (1, 1)),
        ("same", 4, 1, 1, (1, 2)),  # odd D*(F-1): the extra sample goes right
        ("same", 4, 1, 2, (3, 3)),
        ("same", 1, 1, 3, (0, 0)),
        ("full", 3, 1, 1, (2, 2)),
        ("full", 3, 2, 3, (6, 6)),
    ],
)
def test_resolve_padding(padding, F, S, D, expected):
    assert resolve_padding(padding, F, S, D) == expected


@pytest.mark.parametrize(
    ("padding", "stride", "error", "match"),
    [
        ("same", 2, ValueError, r"padding='same'.*stride=2"),
        ("bogus", 1, ValueError, r"padding.*'bogus'"),
        (-1, 1, ValueError, r"padding.*-1"),
        (1.5, 1, TypeError, r"padding.*1\.5"),
        (True, 1, TypeError, r"padding"),
    ],
)
def test_resolve_padding_errors(padding, stride, error, match):
    with pytest.raises(error, match=match):
        resolve_padding(padding, 3, stride)


# --------------------------------------------------------------------------
# PyTorch as the gold reference.
# --------------------------------------------------------------------------

TORCH_MODES = ("zeros", "reflect", "replicate", "circular", "constant")
PADDING_KINDS = ("int", "int", "valid", "same")
TORCH_SEEDS = range(60)


def torch_config(seed):
    """A random but reproducible configuration; mode and padding kind cycle with the seed."""
    rng = np.random.default_rng(1000 + seed)
    mode = TORCH_MODES[seed % len(TORCH_MODES)]
    kind = PADDING_KINDS[(seed // len(TORCH_MODES)) % len(PADDING_KINDS)]
    N = 1 if seed % 3 == 0 else int(rng.integers(2, 4))
    C_in = int(rng.integers(1, 4))
    C_out = int(rng.integers(1, 5))
    if seed % 7 and C_out == C_in:
        C_out += 1
    S = 1 if kind == "same" else int(rng.integers(1, 4))
    while True:
        L = int(rng.integers(1, 13))
        D = int(rng.integers(1, 4))
        if kind == "same":
            F = int(rng.integers(1, 7))
            total = D * (F - 1)
            pads = (total // 2, total - total // 2)
            padding = "same"
        else:
            if kind == "valid":
                pads, padding = (0, 0), "valid"
            else:
                limit = {"reflect": L - 1, "circular": L}.get(mode, 4)
                padding = int(rng.integers(0, min(limit, 4) + 1))
                pads = (padding, padding)
            F_max = (L + sum(pads) - 1) // D + 1
            F = F_max if rng.random() < 0.25 else int(rng.integers(1, F_max + 1))
        limit = {"reflect": L - 1, "circular": L}.get(mode, L + 100)
        if max(pads) <= limit and D * (F - 1) + 1 <= L + sum(pads):
            break
    value = float(rng.normal()) if mode == "constant" else 0.0
    return dict(
        N=N,
        C_in=C_in,
        C_out=C_out,
        L=L,
        F=F,
        S=S,
        D=D,
        padding=padding,
        pads=pads,
        mode=mode,
        value=value,
    )


def torch_conv1d(torch, cfg, x, w, b, rng):
    """Forward and autograd gradients of PyTorch's convolution, float64.

    Returns ``out, dout, dx, dw, db`` with ``dout`` a random upstream gradient.
    """
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        # PyTorch warns that even-length 'same' kernels need a padded copy.
        warnings.simplefilter("ignore", UserWarning)
        if cfg["mode"] == "constant":
            x_pad = torch.nn.functional.pad(xt, cfg["pads"], mode="constant", value=cfg["value"])
            out = torch.nn.functional.conv1d(x_pad, wt, bt, stride=cfg["S"], dilation=cfg["D"])
        elif cfg["mode"] == "zeros":
            out = torch.nn.functional.conv1d(
                xt, wt, bt, stride=cfg["S"], padding=cfg["padding"], dilation=cfg["D"]
            )
        else:
            conv = torch.nn.Conv1d(
                cfg["C_in"],
                cfg["C_out"],
                cfg["F"],
                stride=cfg["S"],
                padding=cfg["padding"],
                dilation=cfg["D"],
                padding_mode=cfg["mode"],
                dtype=torch.float64,
            )
            with torch.no_grad():
                conv.weight.copy_(wt)
                conv.bias.copy_(bt)
            out = conv(xt)
    dout = rng.standard_normal(tuple(out.shape))
    out.backward(torch.tensor(dout))
    if cfg["mode"] in ("zeros", "constant"):
        dw, db = wt.grad, bt.grad
    else:
        dw, db = conv.weight.grad, conv.bias.grad
    return out.detach().numpy(), dout, xt.grad.numpy(), dw.numpy(), db.numpy()


def test_torch_configs_cover_the_brief():
    """The seeded sweep covers every mode, padding kind, stride, dilation and batch case."""
    cfgs = [torch_config(s) for s in TORCH_SEEDS]
    assert {c["mode"] for c in cfgs} == set(TORCH_MODES)
    assert {c["padding"] for c in cfgs if isinstance(c["padding"], str)} == {"valid", "same"}
    assert {c["S"] for c in cfgs} == {1, 2, 3}
    assert {c["D"] for c in cfgs} == {1, 2, 3}
    assert {c["N"] == 1 for c in cfgs} == {True, False}
    assert any(c["C_in"] != c["C_out"] for c in cfgs)
    assert any(c["F"] == 1 for c in cfgs)
    # The kernel spans the whole padded input in some configurations.
    assert any(c["D"] * (c["F"] - 1) + 1 == c["L"] + sum(c["pads"]) and c["F"] > 1 for c in cfgs)
    assert any(
        isinstance(c["padding"], int) and c["padding"] > 0 and c["mode"] == m
        for c in cfgs
        for m in TORCH_MODES
    )


@pytest.mark.parametrize("seed", TORCH_SEEDS, ids=[f"seed{s}" for s in TORCH_SEEDS])
def test_conv1d_matches_torch(torch, seed):
    cfg = torch_config(seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["C_in"], cfg["L"]))
    w = rng.standard_normal((cfg["C_out"], cfg["C_in"], cfg["F"]))
    b = rng.standard_normal(cfg["C_out"])
    out_t, dout, dx_t, dw_t, db_t = torch_conv1d(torch, cfg, x, w, b, rng)

    layer = Conv1d(
        w,
        b,
        stride=cfg["S"],
        padding=cfg["padding"],
        padding_mode=cfg["mode"],
        dilation=cfg["D"],
        padding_value=cfg["value"],
    )
    out = layer.forward(x)
    dx = layer.backward(dout)
    for name, ours, theirs in [
        ("out", out, out_t),
        ("dx", dx, dx_t),
        ("dw", layer.dw, dw_t),
        ("db", layer.db, db_t),
    ]:
        assert_rel_close(ours, theirs, 1e-10, f"{name} for {cfg}")


UNBATCHED = [
    dict(mode="zeros", padding=2, S=2, D=1),
    dict(mode="reflect", padding=3, S=1, D=2),
    dict(mode="replicate", padding="same", S=1, D=3),
    dict(mode="circular", padding=4, S=3, D=1),
    dict(mode="constant", padding=1, S=1, D=1),
    dict(mode="zeros", padding="valid", S=2, D=2),
]


@pytest.mark.parametrize("seed", range(len(UNBATCHED)))
def test_conv1d_unbatched_matches_torch_and_batched(torch, seed):
    """x of shape (C_in, L) gives out (C_out, L_out), dx (C_in, L)."""
    C_in, C_out, L, F = 3, 2, 9, 3
    spec = UNBATCHED[seed]
    padding = spec["padding"]
    if padding == "same":
        total = spec["D"] * (F - 1)
        pads = (total // 2, total - total // 2)
    elif padding == "valid":
        pads = (0, 0)
    else:
        pads = (padding, padding)
    cfg = dict(spec, C_in=C_in, C_out=C_out, F=F, pads=pads, value=-0.3)
    rng = np.random.default_rng(200 + seed)
    x = rng.standard_normal((C_in, L))
    w = rng.standard_normal((C_out, C_in, F))
    b = rng.standard_normal(C_out)
    out_t, dout, dx_t, dw_t, db_t = torch_conv1d(torch, cfg, x[None], w, b, rng)

    layer = Conv1d(
        w,
        b,
        stride=cfg["S"],
        padding=padding,
        padding_mode=cfg["mode"],
        dilation=cfg["D"],
        padding_value=cfg["value"],
    )
    out = layer.forward(x)
    assert out.ndim == 2
    dx = layer.backward(dout[0])
    assert dx.shape == x.shape
    assert_rel_close(out, out_t[0], 1e-10, "out")
    assert_rel_close(dx, dx_t[0], 1e-10, "dx")
    assert_rel_close(layer.dw, dw_t, 1e-10, "dw")
    assert_rel_close(layer.db, db_t, 1e-10, "db")

    batched = Conv1d(
        w,
        b,
        stride=cfg["S"],
        padding=padding,
        padding_mode=cfg["mode"],
        dilation=cfg["D"],
        padding_value=cfg["value"],
    )
    np.testing.assert_allclose(batched.forward(x[None])[0], out, rtol=0, atol=0)
    np.testing.assert_allclose(batched.backward(dout)[0], dx, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_same_padding_with_odd_total_matches_torch(torch, mode):
    """When D*(F-1) is odd, "same" puts the extra padded sample on the right, as PyTorch."""
    rng = np.random.default_rng(6)
    for F, D in [(2, 1), (4, 1), (2, 3), (4, 3)]:
        cfg = dict(C_in=2, C_out=3, F=F, S=1, D=D, padding="same", mode=mode, value=0.0)
        x = rng.standard_normal((2, 2, 10))
        w = rng.standard_normal((3, 2, F))
        b = rng.standard_normal(3)
        out_t, dout, dx_t, dw_t, db_t = torch_conv1d(torch, cfg, x, w, b, rng)
        layer = Conv1d(w, b, padding="same", padding_mode=mode, dilation=D)
        out = layer.forward(x)
        assert out.shape == x.shape[:1] + (3, 10)
        assert_rel_close(out, out_t, 1e-10, f"out, F={F} D={D}")
        assert_rel_close(layer.backward(dout), dx_t, 1e-10, f"dx, F={F} D={D}")
        assert_rel_close(layer.dw, dw_t, 1e-10, f"dw, F={F} D={D}")


def test_conv1d_symmetric_matches_torch_on_np_pad(torch):
    """numpy's "symmetric" has no PyTorch mode: pad with np.pad, then conv1d."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 7))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(4)
    for P in (1, 4, 7):  # symmetric allows P up to L
        x_pad = np.pad(x, [(0, 0), (0, 0), (P, P)], mode="symmetric")
        ref = torch.nn.functional.conv1d(
            torch.tensor(x_pad), torch.tensor(w), torch.tensor(b), stride=2, dilation=2
        ).numpy()
        out = Conv1d(w, b, stride=2, padding=P, padding_mode="symmetric", dilation=2).forward(x)
        assert_rel_close(out, ref, 1e-10, f"P={P}")


def test_conv1d_full_padding_matches_torch(torch):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 2, 6))
    w = rng.standard_normal((3, 2, 4))
    b = rng.standard_normal(3)
    ref = torch.nn.functional.conv1d(
        torch.tensor(x), torch.tensor(w), torch.tensor(b), padding=2 * 3, dilation=2
    ).numpy()
    out = Conv1d(w, b, padding="full", dilation=2).forward(x)
    assert out.shape == (2, 3, 6 + 2 * 3)  # L + D*(F-1)
    assert_rel_close(out, ref, 1e-10, "full")


# --------------------------------------------------------------------------
# The naive loops and the vectorised layer.
# --------------------------------------------------------------------------

NAIVE_SEEDS = range(24)


@pytest.mark.parametrize("seed", NAIVE_SEEDS, ids=[f"seed{s}" for s in NAIVE_SEEDS])
def test_naive_matches_vectorised(seed):
    rng = np.random.default_rng(300 + seed)
    mode = ALL_MODES[seed % len(ALL_MODES)]
    N, C_in, C_out = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    L, S, D = int(rng.integers(3, 12)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
    limit = {"reflect": L - 1, "symmetric": L, "circular": L}.get(mode, 4)
    P = int(rng.integers(0, min(limit, 4) + 1))
    F = int(rng.integers(1, (L + 2 * P - 1) // D + 2))
    value = 0.4
    x = rng.standard_normal((N, C_in, L))
    w = rng.standard_normal((C_out, C_in, F))
    b = rng.standard_normal(C_out)
    x_pad = pad1d(x, P, P, mode, value)
    cfg = f"mode={mode} N={N} C_in={C_in} C_out={C_out} L={L} F={F} P={P} S={S} D={D}"

    out_naive = conv1d_forward_naive(x_pad, w, b, stride=S, dilation=D)
    dout = rng.standard_normal(out_naive.shape)
    dx_pad, dw_naive, db_naive = conv1d_backward_naive(dout, x_pad, w, stride=S, dilation=D)

    # The layer with the padding mode, on the unpadded input.
    layer = Conv1d(w, b, stride=S, padding=P, padding_mode=mode, dilation=D, padding_value=value)
    assert_rel_close(layer.forward(x), out_naive, 1e-12, f"out, {cfg}")
    dx = layer.backward(dout)
    assert_rel_close(dx, pad1d_backward(dx_pad, P, P, mode), 1e-12, f"dx, {cfg}")
    assert_rel_close(layer.dw, dw_naive, 1e-12, f"dw, {cfg}")
    assert_rel_close(layer.db, db_naive, 1e-12, f"db, {cfg}")

    # The layer without padding, on the pre-padded input.
    layer0 = Conv1d(w, b, stride=S, padding=0, dilation=D)
    assert_rel_close(layer0.forward(x_pad), out_naive, 1e-12, f"out on x_pad, {cfg}")
    assert_rel_close(layer0.backward(dout), dx_pad, 1e-12, f"dx_pad, {cfg}")
    assert_rel_close(layer0.dw, dw_naive, 1e-12, f"dw on x_pad, {cfg}")


def test_naive_worked_example():
    x = np.array([[[1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]]])
    out = conv1d_forward_naive(x, np.ones((3, 2, 3)), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(out, [[[16, 22], [17, 23], [18, 24]]], rtol=0, atol=1e-12)


def test_simple_equals_conv1d_single_channel():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal(11), rng.standard_normal(4), rng.standard_normal(1)
    simple, multi = SimpleConv1d(w, b), Conv1d(w[None, None], b)
    assert_rel_close(simple.forward(x), multi.forward(x[None])[0], 1e-12, "out")
    dout = rng.standard_normal(8)
    assert_rel_close(simple.backward(dout), multi.backward(dout[None])[0], 1e-12, "dx")
    assert_rel_close(simple.dw, multi.dw[0, 0], 1e-12, "dw")
    assert_rel_close(simple.db, multi.db, 1e-12, "db")


def test_strided_backward_is_dense_backward_with_zero_filled_dout():
    """Stride S equals stride 1 followed by keeping every S-th output (seed S1)."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 2, 13))
    w = rng.standard_normal((3, 2, 3))
    b = rng.standard_normal(3)
    dense, strided = Conv1d(w, b, padding=1), Conv1d(w, b, stride=3, padding=1)
    out_dense, out = dense.forward(x), strided.forward(x)
    assert_rel_close(out, out_dense[:, :, ::3], 1e-12, "out")
    dout = rng.standard_normal(out.shape)
    dout_dense = np.zeros_like(out_dense)
    dout_dense[:, :, ::3] = dout
    assert_rel_close(strided.backward(dout), dense.backward(dout_dense), 1e-12, "dx")
    assert_rel_close(strided.dw, dense.dw, 1e-12, "dw")


def test_backward_does_not_accumulate():
    """A second backward replaces dw and db, it does not add to them."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 8))
    layer = Conv1d(rng.standard_normal((2, 3, 3)), rng.standard_normal(2))
    dout = rng.standard_normal(layer.forward(x).shape)
    dx1 = layer.backward(dout)
    dw1, db1 = layer.dw.copy(), layer.db.copy()
    dx2 = layer.backward(dout)
    np.testing.assert_array_equal(dx2, dx1)
    np.testing.assert_array_equal(layer.dw, dw1)
    np.testing.assert_array_equal(layer.db, db1)


# --------------------------------------------------------------------------
# Numerical gradient checks.
# --------------------------------------------------------------------------

GRAD_TOL = 1e-7


@pytest.mark.parametrize("b_shape", [(), (1,)])
def test_simple_gradcheck(b_shape):
    rng = np.random.default_rng(12)
    layer = SimpleConv1d(rng.standard_normal(4), rng.standard_normal(b_shape))
    errors = check_layer_gradients(layer, rng.standard_normal(10))
    assert set(errors) == {"dx", "dw", "db"}
    assert max(errors.values()) <= GRAD_TOL, errors


GRAD_SETTINGS = [
    dict(stride=1, padding=2, dilation=1),
    dict(stride=2, padding=1, dilation=2),
    dict(stride=1, padding="same", dilation=2),
    dict(stride=3, padding="full", dilation=1),
]


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("setting", range(len(GRAD_SETTINGS)))
@pytest.mark.parametrize("mode", ALL_MODES)
def test_conv1d_gradcheck(mode, setting, rank):
    rng = np.random.default_rng(13 + 10 * setting + rank)
    shape = (2, 3, 9) if rank == 3 else (3, 9)
    layer = Conv1d(
        rng.standard_normal((4, 3, 3)),
        rng.standard_normal(4),
        padding_mode=mode,
        padding_value=0.7,
        **GRAD_SETTINGS[setting],
    )
    errors = check_layer_gradients(layer, rng.standard_normal(shape), seed=setting)
    assert set(errors) == {"dx", "dw", "db"}
    assert max(errors.values()) <= GRAD_TOL, errors


# --------------------------------------------------------------------------
# Errors a user can make.
# --------------------------------------------------------------------------


def test_simple_errors():
    w, b = np.ones(3), np.zeros(1)
    with pytest.raises(ValueError, match=r"x must have 1 dimensions.*\(2, 4\)"):
        SimpleConv1d(w, b).forward(np.ones((2, 4)))
    with pytest.raises(TypeError, match=r"x must be a floating-point array.*int"):
        SimpleConv1d(w, b).forward(np.array([1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"x contains NaN.*index \(2,\)"):
        SimpleConv1d(w, b).forward(np.array([1.0, 2.0, np.nan, 4.0]))
    with pytest.raises(ValueError, match=r"x of length L=2 is shorter than the filter w"):
        SimpleConv1d(w, b).forward(np.ones(2))
    with pytest.raises(ValueError, match=r"b must hold a single value.*\(2,\)"):
        SimpleConv1d(w, np.zeros(2))
    with pytest.raises(ValueError, match=r"w must have 1 dimensions"):
        SimpleConv1d(np.ones((1, 3)), b)
    with pytest.raises(TypeError, match=r"w must be a floating-point"):
        SimpleConv1d([3, 5, 7], b)
    with pytest.raises(RuntimeError, match=r"backward was called before forward"):
        SimpleConv1d(w, b).backward(np.ones(2))
    layer = SimpleConv1d(w, b)
    layer.forward(np.ones(6))
    with pytest.raises(ValueError, match=r"dout must have the shape.*\(4,\).*\(3,\)"):
        layer.backward(np.ones(3))
    with pytest.raises(ValueError, match=r"dout must have 1 dimensions"):
        layer.backward(np.ones((1, 4)))


def _conv(**kwargs):
    return Conv1d(np.ones((2, 3, 3)), np.zeros(2), **kwargs)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: _conv(stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
        (lambda: _conv(stride=1.5), TypeError, r"stride must be an integer, got 1\.5"),
        (lambda: _conv(stride=True), TypeError, r"stride must be an integer, got True"),
        (lambda: _conv(dilation=0), ValueError, r"dilation must be an integer >= 1"),
        (lambda: _conv(padding_mode="mirror"), ValueError, r"padding_mode must be.*'mirror'"),
        (lambda: _conv(padding="same", stride=2), ValueError, r"padding='same'.*stride=2"),
        (lambda: _conv(padding=-1), ValueError, r"padding must be an integer >= 0, got -1"),
        (lambda: _conv(padding="bogus"), ValueError, r"padding must be.*'bogus'"),
        (lambda: _conv(padding_value=float("nan")), ValueError, r"padding_value must be finite"),
        (lambda: _conv(padding_value="1"), TypeError, r"padding_value must be a real number"),
        (lambda: Conv1d(np.ones((2, 3, 3)), np.zeros(3)), ValueError, r"b must have shape"),
        (lambda: Conv1d(np.ones((2, 3, 3)), np.zeros((2, 1))), ValueError, r"b must have 1 dim"),
        (lambda: Conv1d(np.ones((3, 3)), np.zeros(3)), ValueError, r"w must have 3 dimensions"),
        (lambda: Conv1d(np.ones((2, 3, 3), dtype=int), np.zeros(2)), TypeError, r"w must be"),
    ],
    ids=[
        "stride0",
        "stride_float",
        "stride_bool",
        "dilation0",
        "mode",
        "same_stride2",
        "padding_negative",
        "padding_str",
        "padding_value_nan",
        "padding_value_str",
        "b_length",
        "b_rank",
        "w_rank",
        "w_int",
    ],
)
def test_conv1d_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (np.ones(9), {}, ValueError, r"x must have 2 or 3 dimensions.*\(9,\)"),
        (np.ones((1, 1, 3, 9)), {}, ValueError, r"x must have 2 or 3 dimensions"),
        (np.ones((2, 4, 9)), {}, ValueError, r"x must have C_in = 3 channels.*\(2, 4, 9\)"),
        (np.ones((4, 9)), {}, ValueError, r"x must have C_in = 3 channels \(axis 0\)"),
        (np.ones((2, 3, 9), dtype=np.int64), {}, TypeError, r"x must be a floating-point.*int64"),
        (np.full((2, 3, 9), np.nan), {}, ValueError, r"x contains NaN or infinity"),
        (np.full((2, 3, 9), np.inf), {}, ValueError, r"x contains NaN or infinity"),
        (np.ones((2, 3, 2)), {}, ValueError, r"kernel spans.*x has only 2 \(L=2, padding=0\)"),
        (np.ones((2, 3, 3)), {"dilation": 2}, ValueError, r"kernel spans D\*\(F-1\)\+1 = 5"),
        (
            np.ones((2, 3, 3)),
            {"padding": 3, "padding_mode": "reflect"},
            ValueError,
            r"padding=3 is too large for padding_mode='reflect'",
        ),
        (
            np.ones((2, 3, 2)),
            {"padding": 3, "padding_mode": "circular"},
            ValueError,
            r"padding=3 is too large for padding_mode='circular'",
        ),
    ],
    ids=[
        "rank1",
        "rank4",
        "channels",
        "channels_unbatched",
        "int",
        "nan",
        "inf",
        "kernel_too_long",
        "dilated_kernel_too_long",
        "reflect_too_much",
        "circular_too_much",
    ],
)
def test_conv1d_forward_errors(x, kwargs, error, match):
    with pytest.raises(error, match=match):
        _conv(**kwargs).forward(x)


def test_conv1d_kernel_filling_padded_input_is_accepted():
    out = _conv(padding=1).forward(np.ones((2, 3, 1)))  # span 3 == L + 2P
    assert out.shape == (2, 2, 1)


def test_conv1d_backward_errors():
    with pytest.raises(RuntimeError, match=r"Conv1d.backward was called before forward"):
        _conv().backward(np.ones((2, 2, 7)))
    layer = _conv()
    layer.forward(np.ones((2, 3, 9)))
    with pytest.raises(ValueError, match=r"dout must have the shape.*\(2, 2, 7\).*\(2, 2, 6\)"):
        layer.backward(np.ones((2, 2, 6)))
    with pytest.raises(ValueError, match=r"dout must have 3 dimensions"):
        layer.backward(np.ones((2, 7)))
    with pytest.raises(TypeError, match=r"dout must be a floating-point"):
        layer.backward(np.ones((2, 2, 7), dtype=int))
    with pytest.raises(ValueError, match=r"dout contains NaN"):
        layer.backward(np.full((2, 2, 7), np.nan))
    layer.forward(np.ones((3, 9)))
    with pytest.raises(ValueError, match=r"dout must have 2 dimensions"):
        layer.backward(np.ones((1, 2, 7)))


# --------------------------------------------------------------------------
# Inputs untouched, dtypes.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
def test_conv1d_leaves_inputs_unmodified(mode):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 8))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(4)
    copies = [a.copy() for a in (x, w, b)]
    layer = Conv1d(w, b, stride=2, padding=2, padding_mode=mode, padding_value=1.5)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    layer.backward(dout)
    for original, copy in zip((x, w, b, dout), copies + [dout_copy], strict=True):
        np.testing.assert_array_equal(original, copy)


def test_simple_leaves_inputs_unmodified():
    rng = np.random.default_rng(15)
    x, w, b = rng.standard_normal(9), rng.standard_normal(3), rng.standard_normal(1)
    copies = [a.copy() for a in (x, w, b)]
    layer = SimpleConv1d(w, b)
    dout = rng.standard_normal(layer.forward(x).shape)
    dout_copy = dout.copy()
    layer.backward(dout)
    for original, copy in zip((x, w, b, dout), copies + [dout_copy], strict=True):
        np.testing.assert_array_equal(original, copy)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_conv1d_float32(mode):
    """float32 in (x, w, b) gives float32 out and gradients, within 1e-5 of float64."""
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 3, 10))
    w = rng.standard_normal((4, 3, 3))
    b = rng.standard_normal(4)
    kwargs = dict(stride=2, padding=2, padding_mode=mode, dilation=2, padding_value=0.5)
    l64 = Conv1d(w, b, **kwargs)
    l32 = Conv1d(w.astype(np.float32), b.astype(np.float32), **kwargs)
    out64 = l64.forward(x)
    out32 = l32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    assert_rel_close(out32, out64, 1e-5, "out")
    dout = rng.standard_normal(out64.shape)
    dx64 = l64.backward(dout)
    dx32 = l32.backward(dout.astype(np.float32))
    for name, g32, g64 in [("dx", dx32, dx64), ("dw", l32.dw, l64.dw), ("db", l32.db, l64.db)]:
        assert g32.dtype == np.float32, name
        assert_rel_close(g32, g64, 1e-5, name)


def test_simple_float32():
    rng = np.random.default_rng(17)
    x, w, b = rng.standard_normal(12), rng.standard_normal(4), rng.standard_normal(1)
    l64 = SimpleConv1d(w, b)
    l32 = SimpleConv1d(w.astype(np.float32), b.astype(np.float32))
    out32 = l32.forward(x.astype(np.float32))
    assert out32.dtype == np.float32
    assert_rel_close(out32, l64.forward(x), 1e-5, "out")
    dout = rng.standard_normal(9)
    dx32 = l32.backward(dout.astype(np.float32))
    dx64 = l64.backward(dout)
    for name, g32, g64 in [("dx", dx32, dx64), ("dw", l32.dw, l64.dw), ("db", l32.db, l64.db)]:
        assert g32.dtype == np.float32, name
        assert_rel_close(g32, g64, 1e-5, name)


# --------------------------------------------------------------------------
# Edge cases: degenerate sizes. PyTorch's behaviour is the reference.
# --------------------------------------------------------------------------


def test_conv1d_empty_batch():
    """PyTorch accepts N=0: dx of shape (0, C_in, L), zero dw and db."""
    layer = _conv()
    out = layer.forward(np.ones((0, 3, 9)))
    assert out.shape == (0, 2, 7)
    dx = layer.backward(np.ones((0, 2, 7)))
    assert dx.shape == (0, 3, 9)
    np.testing.assert_array_equal(layer.dw, np.zeros((2, 3, 3)))
    np.testing.assert_array_equal(layer.db, np.zeros(2))


def test_conv1d_refuses_empty_kernel():
    with pytest.raises(ValueError, match=r"\bw\b|filter_size|F"):
        Conv1d(np.ones((2, 3, 0)), np.zeros(2)).forward(np.ones((1, 3, 5)))


@pytest.mark.parametrize("mode", ["zeros", "replicate"])
def test_conv1d_refuses_empty_input(mode):
    layer = Conv1d(np.ones((1, 1, 1)), np.zeros(1), padding=1, padding_mode=mode)
    with pytest.raises(ValueError, match=r"\bx\b"):
        layer.forward(np.ones((1, 1, 0)))


# --------------------------------------------------------------------------
# Bounded memory: a large batch is processed in slices of samples.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "padding"), [("zeros", 0), ("zeros", 2), ("reflect", 2)])
def test_conv1d_batch_slices_match_the_whole_batch(mode, padding):
    """With a small max_cols_bytes the layer works on 3 samples at a time and
    backward rebuilds cols; the results are those of one slice, even when the
    caller overwrites x between forward and backward."""
    rng = np.random.default_rng(19)
    x = rng.standard_normal((7, 3, 20))
    w, b = rng.standard_normal((4, 3, 5)), rng.standard_normal(4)
    kwargs = dict(stride=2, padding=padding, padding_mode=mode, dilation=2)
    whole = Conv1d(w, b, **kwargs)
    out = whole.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = whole.backward(dout)
    sliced = Conv1d(w, b, **kwargs)
    sliced.max_cols_bytes = 3 * (3 * 5 * out.shape[2] * 8)  # three samples' cols
    x_mine = x.copy()
    assert_rel_close(sliced.forward(x_mine), out, 1e-12, "out")
    x_mine[...] = 0.0
    assert_rel_close(sliced.backward(dout), dx, 1e-12, "dx")
    assert_rel_close(sliced.dw, whole.dw, 1e-12, "dw")
    assert_rel_close(sliced.db, whole.db, 1e-12, "db")


def test_conv1d_im2col_memory_is_bounded():
    """Peak memory of forward + backward stays below the whole batch's im2col matrix."""
    import tracemalloc

    rng = np.random.default_rng(20)
    N, C_in, L, C_out, F = 64, 4, 2000, 8, 9
    x = rng.standard_normal((N, C_in, L))
    dout = rng.standard_normal((N, C_out, L))
    layer = Conv1d(rng.standard_normal((C_out, C_in, F)), np.zeros(C_out), padding="same")
    whole_cols_bytes = N * C_in * F * L * 8                        # 36.9 MB
    tracemalloc.start()
    try:
        layer.forward(x)
        layer.backward(dout)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # x_pad, out, dx_pad (4 + 8 + 4 MB) and one slice's buffers.
    assert peak < whole_cols_bytes, f"peak {peak / 2**20:.1f} MB"
