"""The hidden checks of stage 4 (mini_batch) pass on the reference and fail on
plausible student bugs (mutants), each losing the points it deserves with a
message that names what is wrong; the speed check fails a loop over N or L
and passes plausible vectorised answers; the release's stubs fail every
check with the stub's message; messages never show hidden inputs.

The checks run as ``run_check`` runs them (rng seeded by ``derive_seed`` for
a student and a check id), for several students.
"""

import importlib
import os
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import course.cnn1d_helpers as helpers
from autograder.checks import derive_seed, run_check
from autograder.checks import mini_batch as stage
from autograder.checks.common import CheckFailed
from course.stages import get_stage
from solutions.conv import Conv1d as Reference
from solutions.conv import resolve_padding
from solutions.padding import pad1d, pad1d_backward, source_index

ROOT = Path(__file__).resolve().parents[1]
CHECKS = [c.name for c in get_stage("mini_batch").checks]
STUDENTS = ["", "alice", "bob", "carol"]


def run(name, ns, student=""):
    """run_check("mini_batch.<name>", ns) for one student."""
    rng = np.random.default_rng(derive_seed(f"mini_batch.{name}", student))
    getattr(stage, f"check_{name}")(ns, rng)


def failures(ns, student="", checks=CHECKS):
    """{check name: message} of the checks ``ns`` fails."""
    failed = {}
    for name in checks:
        try:
            run(name, ns, student)
        except CheckFailed as exc:
            failed[name] = str(exc)
    return failed


# --------------------------------------------------------------------------
# Namespaces: the reference package, and the notebook's own cells
# --------------------------------------------------------------------------

REFERENCE_NS = {"Conv1d": Reference, "pad1d": pad1d, "pad1d_backward": pad1d_backward}


def notebook_ns(folder):
    """Run the setup and answer cells of ``<folder>/mini_batch/mini_batch.ipynb``
    (source: solutions; release: stubs) the way the notebook does."""
    nb = nbformat.read(ROOT / folder / "mini_batch" / "mini_batch.ipynb", as_version=4)
    # the helper modules the stage carries, as the kit's own (the same Layer class)
    modules = [Path(a).stem for a in get_stage("mini_batch").assets if a.endswith(".py")]
    saved = {m: sys.modules.get(m) for m in modules}
    for m in modules:
        sys.modules[m] = helpers if m == "cnn1d_helpers" else importlib.import_module(f"course.{m}")
    ns = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(ROOT / folder / "mini_batch")          # check_environment looks for the files here
    try:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (cell.id == "setup" or meta.get("solution")):
                exec(compile(cell.source, f"<{folder} cell {cell.id}>", "exec"), ns)
    finally:
        os.chdir(cwd)
        for m, module in saved.items():
            if module is None:
                del sys.modules[m]
            else:
                sys.modules[m] = module
    return ns


def test_every_check_has_a_function():
    for name in CHECKS:
        assert callable(getattr(stage, f"check_{name}"))


@pytest.mark.parametrize("student", STUDENTS)
def test_reference_passes_every_check(student):
    assert failures(REFERENCE_NS, student) == {}


def test_notebook_solution_passes_every_check_through_run_check():
    ns = notebook_ns("source")
    for check_id in get_stage("mini_batch").check_ids():
        run_check(check_id, ns)


def test_release_stubs_fail_every_check_as_not_implemented():
    failed = failures(notebook_ns("release"))
    assert set(failed) == set(CHECKS)
    for name, message in failed.items():
        assert "not implemented yet" in message, f"{name}: {message}"


def test_undefined_names_are_reported():
    for name in CHECKS:
        with pytest.raises(CheckFailed, match="is not defined"):
            run(name, {})


# --------------------------------------------------------------------------
# A plain student answer, written independently of the reference, that the
# mutants below change in one place each.
# --------------------------------------------------------------------------

class Good:
    """Vectorised Conv1d the way a student writes it (im2col + col2im)."""

    pad = staticmethod(pad1d)
    unpad = staticmethod(pad1d_backward)
    resolve = staticmethod(resolve_padding)

    def __init__(self, w, b, stride=1, padding=0, padding_mode="zeros", dilation=1,
                 padding_value=0.0):
        self.w, self.b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)
        self.S, self.D = stride, dilation
        self.mode, self.value = padding_mode, padding_value
        self.P = self.resolve(padding, self.w.shape[2], stride, dilation)

    def forward(self, x):
        self.batched = x.ndim == 3
        x = x if self.batched else x[None]
        C_out, C_in, F = self.w.shape
        x_pad = self.pad(x, self.P[0], self.P[1], self.mode, self.value)
        L_out = (x_pad.shape[2] - self.D * (F - 1) - 1) // self.S + 1
        self.x_pad, self.L_out = x_pad, L_out
        cols = self.im2col(x_pad)                                 # (N, L_out, C_in*F)
        out = cols @ self.w.reshape(C_out, -1).T + self.b         # (N, L_out, C_out)
        out = out.transpose(0, 2, 1)
        return out if self.batched else out[0]

    def im2col(self, x_pad):
        N, C_in, _ = x_pad.shape
        F = self.w.shape[2]
        idx = np.arange(self.L_out)[:, None] * self.S + np.arange(F) * self.D  # (L_out, F)
        return x_pad[:, :, idx].transpose(0, 2, 1, 3).reshape(N, self.L_out, C_in * F)

    def backward(self, dout):
        dout = dout if self.batched else dout[None]
        C_out, C_in, F = self.w.shape
        self.dw = self.weight_grad(dout)
        self.db = self.bias_grad(dout)
        dcols = np.einsum("nol,ocf->nclf", dout, self.w)          # (N, C_in, L_out, F)
        dx_pad = self.col2im(dcols)
        dx = self.unpad(dx_pad, self.P[0], self.P[1], self.mode)
        return dx if self.batched else dx[0]

    def weight_grad(self, dout):
        cols = self.im2col(self.x_pad)                            # (N, L_out, C_in*F)
        return np.einsum("nol,nlk->ok", dout, cols).reshape(self.w.shape)

    def bias_grad(self, dout):
        return dout.sum(axis=(0, 2))

    def col2im(self, dcols):
        dx_pad = np.zeros_like(self.x_pad)
        last = self.S * (self.L_out - 1) + 1
        for k in range(self.w.shape[2]):
            dx_pad[:, :, k * self.D:k * self.D + last:self.S] += dcols[:, :, :, k]
        return dx_pad


def ns_with(conv=Good, pad=pad1d, unpad=pad1d_backward):
    """A namespace whose Conv1d uses the given padding functions (as a
    notebook's Conv1d uses the notebook's pad1d)."""
    cls = type(conv.__name__, (conv,), {"pad": staticmethod(pad), "unpad": staticmethod(unpad)})
    return {"Conv1d": cls, "pad1d": pad, "pad1d_backward": unpad}


@pytest.mark.parametrize("student", STUDENTS)
def test_plain_student_answer_passes_every_check(student):
    assert failures(ns_with(), student) == {}


# --------------------------------------------------------------------------
# Mutants
# --------------------------------------------------------------------------

def _mode_pad(mode_index):
    """pad1d built on a source-index function (for the index-mode mutants)."""
    def pad(x, pad_left, pad_right, mode="zeros", value=0.0):
        if mode in ("zeros", "constant") or pad_left == pad_right == 0:
            return pad1d(x, pad_left, pad_right, mode, value)
        return x[..., mode_index(x.shape[-1], pad_left, pad_right, mode)]
    return pad


def _mode_unpad(mode_index):
    def unpad(dx_pad, pad_left, pad_right, mode="zeros"):
        L = dx_pad.shape[-1] - pad_left - pad_right
        if mode in ("zeros", "constant"):
            return dx_pad[..., pad_left:pad_left + L].copy()
        dx = np.zeros(dx_pad.shape[:-1] + (L,))
        np.add.at(np.moveaxis(dx, -1, 0), mode_index(L, pad_left, pad_right, mode),
                  np.moveaxis(dx_pad, -1, 0))
        return dx
    return unpad


def _reflect_as_symmetric(L, pad_left, pad_right, mode):
    return source_index(L, pad_left, pad_right, "symmetric" if mode == "reflect" else mode)


def _circular_off_by_one(L, pad_left, pad_right, mode):
    if mode != "circular":
        return source_index(L, pad_left, pad_right, mode)
    j = np.arange(-pad_left, L + pad_right)
    return np.where(j < 0, j + L - 1, np.where(j >= L, j - L + 1, j))


def pad_one_side(x, pad_left, pad_right, mode="zeros", value=0.0):
    """Puts all the padding before x."""
    return pad1d(x, pad_left + pad_right, 0, mode, value)


def unpad_one_side(dx_pad, pad_left, pad_right, mode="zeros"):
    return pad1d_backward(dx_pad, pad_left + pad_right, 0, mode)


def pad_value_ignored(x, pad_left, pad_right, mode="zeros", value=0.0):
    return pad1d(x, pad_left, pad_right, "zeros" if mode == "constant" else mode)


def unpad_crops(dx_pad, pad_left, pad_right, mode="zeros"):
    """The gradient of the padding as a plain crop, in every mode."""
    return dx_pad[..., pad_left:dx_pad.shape[-1] - pad_right].copy()


class StrideIgnoredInBackward(Good):
    def col2im(self, dcols):
        dx_pad = np.zeros_like(self.x_pad)
        for k in range(self.w.shape[2]):
            dx_pad[:, :, k * self.D:k * self.D + self.L_out] += dcols[:, :, :, k]
        return dx_pad


class DilationIgnoredInDx(Good):
    def col2im(self, dcols):
        dx_pad = np.zeros_like(self.x_pad)
        last = self.S * (self.L_out - 1) + 1
        for k in range(self.w.shape[2]):
            dx_pad[:, :, k:k + last:self.S] += dcols[:, :, :, k]
        return dx_pad


class NegativeIndexWrapsInDx(Good):
    """dx as a full convolution of the zero-filled dout with the kernel:
    dx_pad[j] = sum_k w[k] * dout_up[j - k*D]; indices past the end are
    masked, but a negative j - k*D silently reads from the end."""

    def col2im(self, dcols):
        N, C_in, L_out, F = dcols.shape
        last = self.S * (L_out - 1) + 1
        dx_pad = np.zeros_like(self.x_pad)
        j = np.arange(dx_pad.shape[2])
        for k in range(F):
            up = np.zeros((N, C_in, last))
            up[:, :, ::self.S] = dcols[:, :, :, k]        # zero-filled skipped outputs
            i = j - k * self.D
            dx_pad += np.where(i < last, up[:, :, np.minimum(i, last - 1)], 0.0)
        return dx_pad


class DbNotSummedOverBatch(Good):
    def bias_grad(self, dout):
        return dout.sum(axis=2).mean(axis=0)


class DwWindowShiftMissing(Good):
    """Every position uses the first window: dw[k] += dout[i] * x_pad[k*D]."""

    def weight_grad(self, dout):
        F = self.w.shape[2]
        first = self.x_pad[:, :, :self.D * (F - 1) + 1:self.D]    # (N, C_in, F)
        return np.einsum("nol,ncf->ocf", dout, first)


class FlippedKernel(Good):
    def forward(self, x):
        saved, self.w = self.w, self.w[:, :, ::-1]
        try:
            return super().forward(x)
        finally:
            self.w = saved


class SamePadsLeft(Good):
    @staticmethod
    def resolve(padding, F, stride, dilation):
        P_l, P_r = resolve_padding(padding, F, stride, dilation)
        return (P_r, P_l) if padding == "same" else (P_l, P_r)


class LoopOverN(Good):
    """One sample at a time, each vectorised: a loop over N."""

    def forward(self, x):
        if x.ndim == 2:
            return super().forward(x)
        self.batched = True
        self.layers = [Good(self.w, self.b, self.S, 0, "zeros", self.D) for _ in x]
        for layer in self.layers:
            layer.P, layer.mode, layer.value = self.P, self.mode, self.value
        return np.stack([layer.forward(xn) for layer, xn in zip(self.layers, x, strict=True)])

    def backward(self, dout):
        if not self.batched:
            return super().backward(dout)
        dx = np.stack([layer.backward(g) for layer, g in zip(self.layers, dout, strict=True)])
        self.dw = sum(layer.dw for layer in self.layers)
        self.db = sum(layer.db for layer in self.layers)
        return dx


class LeanLoopN(Good):
    """The leanest loop over N: per sample, one fancy index and one product
    in forward, three products in backward (col2im as a 0/1 matrix)."""
    def forward(self, x):
        self.batched = x.ndim == 3
        x = x if self.batched else x[None]
        C_out, C_in, F = self.w.shape
        xp = self.pad(x, self.P[0], self.P[1], self.mode, self.value)
        L_out = (xp.shape[2] - self.D * (F - 1) - 1) // self.S + 1
        idx = (np.arange(L_out)[:, None] * self.S + np.arange(F) * self.D).T   # (F, L_out)
        self.x_pad, self.L_out, self.idx = xp, L_out, idx
        W = self.w.reshape(C_out, C_in * F)
        out = np.empty((x.shape[0], C_out, L_out))
        self.cols = []
        for n in range(x.shape[0]):
            c = xp[n][:, idx].reshape(C_in * F, L_out)
            self.cols.append(c)
            out[n] = W @ c
        out += self.b[:, None]
        return out if self.batched else out[0]
    def backward(self, dout):
        dout = dout if self.batched else dout[None]
        C_out, C_in, F = self.w.shape
        Lp = self.x_pad.shape[2]
        M = np.zeros((F * self.L_out, Lp))
        M[np.arange(F * self.L_out), self.idx.ravel()] = 1.0
        W = self.w.reshape(C_out, C_in * F)
        dw = np.zeros_like(W)
        dx_pad = np.empty_like(self.x_pad)
        for n in range(dout.shape[0]):
            dw += dout[n] @ self.cols[n].T
            dx_pad[n] = (W.T @ dout[n]).reshape(C_in, F * self.L_out) @ M
        self.dw, self.db = dw.reshape(self.w.shape), dout.sum(axis=(0, 2))
        dx = self.unpad(dx_pad, self.P[0], self.P[1], self.mode)
        return dx if self.batched else dx[0]


class LoopOverL(Good):
    """One output position at a time, vectorised over the batch."""

    def forward(self, x):
        self.batched = x.ndim == 3
        x = x if self.batched else x[None]
        C_out, C_in, F = self.w.shape
        x_pad = self.pad(x, self.P[0], self.P[1], self.mode, self.value)
        self.L_out = (x_pad.shape[2] - self.D * (F - 1) - 1) // self.S + 1
        self.x_pad = x_pad
        out = np.empty((x.shape[0], C_out, self.L_out))
        span = self.D * (F - 1) + 1
        for i in range(self.L_out):
            window = x_pad[:, :, i * self.S:i * self.S + span:self.D]   # (N, C_in, F)
            out[:, :, i] = np.tensordot(window, self.w, axes=([1, 2], [1, 2])) + self.b
        return out if self.batched else out[0]

    def backward(self, dout):
        dout = dout if self.batched else dout[None]
        F = self.w.shape[2]
        span = self.D * (F - 1) + 1
        dx_pad = np.zeros_like(self.x_pad)
        dw = np.zeros_like(self.w)
        for i in range(self.L_out):
            taps = slice(i * self.S, i * self.S + span, self.D)
            dx_pad[:, :, taps] += np.tensordot(dout[:, :, i], self.w, axes=(1, 0))
            dw += np.tensordot(dout[:, :, i], self.x_pad[:, :, taps], axes=(0, 0))
        self.dw, self.db = dw, dout.sum(axis=(0, 2))
        dx = self.unpad(dx_pad, self.P[0], self.P[1], self.mode)
        return dx if self.batched else dx[0]


PADDING_ONLY = {"padding_modes", "forward"}
MUTANTS = {
    # name: (namespace, checks it must fail, checks it must pass,
    #        {failed check: phrase its message contains})
    "padding on one side only": (
        ns_with(pad=pad_one_side, unpad=unpad_one_side), PADDING_ONLY, set(),
        {"padding_modes": "on one side", "forward": "on one side"}),
    "reflect implemented as symmetric": (
        ns_with(pad=_mode_pad(_reflect_as_symmetric), unpad=_mode_unpad(_reflect_as_symmetric)),
        PADDING_ONLY, set(),
        {"padding_modes": "you implemented symmetric", "forward": "repeats the edge"}),
    "circular off by one": (
        ns_with(pad=_mode_pad(_circular_off_by_one), unpad=_mode_unpad(_circular_off_by_one)),
        PADDING_ONLY, set(), {"padding_modes": "circular wraps around"}),
    "padding_value ignored": (
        ns_with(pad=pad_value_ignored), PADDING_ONLY, {"backward_dx"},
        {"padding_modes": "padding_value is ignored", "forward": "padding_value is ignored"}),
    "gradient of the padding is a crop": (
        ns_with(unpad=unpad_crops), {"padding_modes", "backward_dx"},
        {"forward", "backward_params", "vectorised"},
        {"padding_modes": "pad1d_backward", "backward_dx": "dx"}),
    "'same' pads the extra sample on the left": (
        ns_with(SamePadsLeft), {"forward"}, {"padding_modes", "backward_params", "vectorised"},
        {"forward": "goes on the RIGHT"}),
    "kernel flipped": (
        ns_with(FlippedKernel), {"forward", "backward_dx", "backward_params"}, {"padding_modes"},
        {"forward": "kernel flipped"}),
    "stride ignored in backward": (
        ns_with(StrideIgnoredInBackward), {"backward_dx"},
        {"padding_modes", "forward", "backward_params", "vectorised"}, {"backward_dx": "dx"}),
    "dilation ignored in dx": (
        ns_with(DilationIgnoredInDx), {"backward_dx"},
        {"padding_modes", "forward", "backward_params", "vectorised"}, {"backward_dx": "dx"}),
    "negative indices wrapping in dx": (
        # it also crashes (IndexError) in backward when L_out is 1 (all but dx are right)
        ns_with(NegativeIndexWrapsInDx), {"backward_dx", "vectorised"},
        {"padding_modes", "forward"}, {"backward_dx": "dx"}),
    "db not summed over the batch": (
        ns_with(DbNotSummedOverBatch), {"backward_params"},
        {"padding_modes", "forward", "backward_dx", "vectorised"},
        {"backward_params": "batch MEAN"}),
    "the window shift missing from dw": (
        ns_with(DwWindowShiftMissing), {"backward_params"},
        {"padding_modes", "forward", "backward_dx", "vectorised"}, {"backward_params": "dw"}),
    "loop over N": (
        ns_with(LoopOverN), {"vectorised"},
        {"padding_modes", "forward", "backward_dx", "backward_params"},
        {"vectorised": "a Python loop over the N samples"}),
    "loop over N, one matrix product per sample": (
        ns_with(LeanLoopN), {"vectorised"},
        {"padding_modes", "forward", "backward_dx", "backward_params"},
        {"vectorised": "a Python loop over the N samples"}),
    "loop over L": (
        ns_with(LoopOverL), {"vectorised"},
        {"padding_modes", "forward", "backward_dx", "backward_params"},
        {"vectorised": "a Python loop over the L positions"}),
}
QUANTITIES = ("pad1d output", "pad1d_backward", "forward output", "dx", "dw", "db",
              "forward+backward time", "backward(dout) with")


@pytest.mark.parametrize("student", STUDENTS)
@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_mutant_loses_its_points(mutant, student):
    ns, must_fail, must_pass, phrases = MUTANTS[mutant]
    # The speed batches do not depend on the student: time them once.
    checks = CHECKS if student == STUDENTS[0] else [c for c in CHECKS if c != "vectorised"]
    must_fail, must_pass = must_fail & set(checks), must_pass & set(checks)
    failed = failures(ns, student, checks)
    assert must_fail <= set(failed), f"{mutant} failed only {sorted(failed)}"
    assert not must_pass & set(failed), f"{mutant} also failed {sorted(must_pass & set(failed))}"
    for name, message in failed.items():
        assert any(q in message for q in QUANTITIES), f"{name}: {message}"
        assert "Traceback" not in message and "solutions" not in message
        if name != "vectorised":
            assert any(p in message for p in ("first at index", "has shape", "raised")), \
                f"{name}: {message}"
        if name in phrases:
            assert phrases[name] in message, f"{name}: {message}"


# --------------------------------------------------------------------------
# The speed check: vectorised answers pass, loops fail, whatever the noise
# --------------------------------------------------------------------------

class EinsumAddAt(Good):
    """Vectorised with einsum on sliding windows and np.add.at for dx."""

    def forward(self, x):
        self.batched = x.ndim == 3
        x = x if self.batched else x[None]
        F = self.w.shape[2]
        x_pad = np.pad(x, ((0, 0), (0, 0), self.P), mode="constant") if self.mode == "zeros" \
            else self.pad(x, self.P[0], self.P[1], self.mode, self.value)
        span = self.D * (F - 1) + 1
        self.windows = np.lib.stride_tricks.sliding_window_view(x_pad, span, axis=2)[
            :, :, ::self.S, ::self.D]                             # (N, C_in, L_out, F)
        self.x_pad, self.L_out = x_pad, self.windows.shape[2]
        out = np.einsum("nclf,ocf->nol", self.windows, self.w) + self.b[:, None]
        return out if self.batched else out[0]

    def weight_grad(self, dout):
        return np.einsum("nol,nclf->ocf", dout, self.windows)

    def col2im(self, dcols):
        idx = np.arange(self.L_out)[:, None] * self.S + np.arange(self.w.shape[2]) * self.D
        dx_pad = np.zeros_like(self.x_pad)
        np.add.at(dx_pad, (slice(None), slice(None), idx), dcols)
        return dx_pad


class TapLoop(Good):
    """A loop over the F kernel taps only (allowed)."""

    def forward(self, x):
        self.batched = x.ndim == 3
        x = x if self.batched else x[None]
        C_out, C_in, F = self.w.shape
        self.x_pad = self.pad(x, self.P[0], self.P[1], self.mode, self.value)
        self.L_out = (self.x_pad.shape[2] - self.D * (F - 1) - 1) // self.S + 1
        last = self.S * (self.L_out - 1) + 1
        out = np.zeros((x.shape[0], C_out, self.L_out))
        for k in range(F):
            out += np.einsum("oc,ncl->nol", self.w[:, :, k],
                             self.x_pad[:, :, k * self.D:k * self.D + last:self.S])
        out += self.b[:, None]
        return out if self.batched else out[0]


@pytest.mark.parametrize("conv", [Good, EinsumAddAt, TapLoop], ids=lambda c: c.__name__)
@pytest.mark.parametrize("student", STUDENTS[:2])
def test_plausible_vectorised_answers_pass(conv, student):
    assert failures(ns_with(conv), student) == {}


@pytest.mark.parametrize("conv", [LoopOverN, LeanLoopN, LoopOverL], ids=lambda c: c.__name__)
def test_loops_fail_the_speed_check_on_every_repeat(conv):
    for attempt in range(3):
        with pytest.raises(CheckFailed, match="forward\\+backward time is too long"):
            run("vectorised", ns_with(conv), student=f"repeat{attempt}")


def test_speed_message_quotes_the_limit_not_the_inputs():
    message = failures(ns_with(LeanLoopN), checks=["vectorised"])["vectorised"]
    assert "ms of CPU time per call" in message and "limit" in message
    assert "x of shape (2048, 2, 6)" in message


def test_blas_thread_count_is_restored():
    before = _blas_threads()
    with stage._single_threaded_blas():
        inside = _blas_threads()
    assert _blas_threads() == before
    assert inside in (None, 1)


def _blas_threads():
    """OpenBLAS's thread count, or None where it cannot be read."""
    import ctypes

    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for path in paths:
        lib = ctypes.CDLL(path)
        getter = getattr(lib, "scipy_openblas_get_num_threads64_", None) or getattr(
            lib, "openblas_get_num_threads", None)
        if getter is not None:
            return getter()
    return None


# --------------------------------------------------------------------------
# Messages never contain hidden inputs
# --------------------------------------------------------------------------

HIDDEN_CHECKS = ["padding_modes", "forward", "backward_dx", "backward_params"]


@pytest.mark.parametrize("mutant", ["padding on one side only", "circular off by one",
                                    "padding_value ignored", "gradient of the padding is a crop",
                                    "stride ignored in backward", "db not summed over the batch",
                                    "the window shift missing from dw", "kernel flipped"])
def test_messages_do_not_contain_hidden_inputs(mutant, monkeypatch):
    """Record every array and constant the checks draw (the rng is derived for
    the student and the check, as in grading) and look for them in messages."""
    drawn = []
    conv_case, padding_cases = stage._conv_case, stage._padding_cases

    def recording_conv_case(*args, **kwargs):
        x, w, b, config = case = conv_case(*args, **kwargs)
        drawn.extend([x, w, b, np.array([config.get("padding_value", np.pi)])])
        return case

    def recording_padding_cases(rng):
        for case in padding_cases(rng):
            drawn.extend([case[0], np.array([case[4] or np.pi])])
            yield case

    monkeypatch.setattr(stage, "_conv_case", recording_conv_case)
    monkeypatch.setattr(stage, "_padding_cases", recording_padding_cases)
    failed = failures(MUTANTS[mutant][0], student="mallory", checks=HIDDEN_CHECKS)
    assert failed and drawn
    for message in failed.values():
        for array in drawn:
            assert repr(array) not in message and str(array) not in message
            for value in array.ravel():
                assert repr(float(value)) not in message, message
                assert f"{value:.6g}" not in message, message


# --------------------------------------------------------------------------
# Out of kernel: the checks through the sandboxed grader (Remote objects;
# the speed check times the worker with Remote.time_calls and its CPU clock)
# --------------------------------------------------------------------------

LOOP_OVER_N_CELL = '''
_Conv1dOne = Conv1d


class Conv1d(_Conv1dOne):
    def forward(self, x):
        if x.ndim == 2:
            self._layers = None
            return super().forward(x)
        self._layers = [_Conv1dOne(self.w, self.b, self.stride, self.padding, self.padding_mode,
                                   self.dilation, self.padding_value) for _ in x]
        return np.stack([layer.forward(xn) for layer, xn in zip(self._layers, x)])

    def backward(self, dout):
        if self._layers is None:
            return super().backward(dout)
        dx = np.stack([layer.backward(g) for layer, g in zip(self._layers, dout)])
        self.dw = sum(layer.dw for layer in self._layers)
        self.db = sum(layer.db for layer in self._layers)
        return dx
'''


def test_graded_out_of_kernel():
    from autograder.grade import grade_notebook

    source = nbformat.read(ROOT / "source" / "mini_batch" / "mini_batch.ipynb", as_version=4)
    looped = nbformat.from_dict(source)
    for cell in looped.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "conv1d":
            cell.source += "\n" + LOOP_OVER_N_CELL
    stage = get_stage("mini_batch")
    result = grade_notebook(source, stage, student="alice", secret="test-secret")
    assert result.score == stage.max_score, [c.message for c in result.checks if not c.passed]
    result = grade_notebook(looped, stage, student="alice", secret="test-secret")
    failed = {c.id: c.message for c in result.checks if not c.passed}
    assert set(failed) == {"mini_batch.vectorised"}, failed
    assert "a Python loop over the N samples" in failed["mini_batch.vectorised"]
