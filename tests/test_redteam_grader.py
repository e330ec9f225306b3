"""Red team, issue 19: what still worked around the sandbox.

As in tests/test_redteam.py, each attack runs against a deliberately WEAKENED
grader, where it must win (the attack is real and the test can see it), and
against the REAL one, where it must lose. The helpers (``notebook``,
``only``, ``loot``) are that file's. Runtimes on the kit's two shared cores
are in each test's docstring.
"""

import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from test_redteam import SECRET, WHY_NO_BWRAP, loot, needs_bwrap, notebook, only

import autograder.grade as grade
import autograder.sandbox as sandbox
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


# --------------------------------------------------------------------------
# 1. Cross-stage assets: stage 5's reference layers beside stage 3
# --------------------------------------------------------------------------

# Five lines that take stage 5's reference Conv1d for the student's own: its
# file lies in the sandbox only when a training notebook is graded there too.
BORROWED_CONV1D = '''
import glob as _glob, sys as _sys
_sys.path[:0] = _glob.glob("/opt/grader/assets/*") + _glob.glob("/home/student/*") + ["../training"]
from cnn1d_reference import Conv1d
'''


def _stray_training_folder(tmp_path):
    """A student's multi_channel/ folder with the answer above and a stray
    training.ipynb (the released stage 5 notebook) beside it."""
    folder = tmp_path / "submitted" / "mallory" / "multi_channel"
    folder.mkdir(parents=True)
    stage3 = get_stage("multi_channel")
    nbformat.write(notebook(BORROWED_CONV1D, stage3), folder / "multi_channel.ipynb")
    shutil.copy(ROOT / "source" / "training" / "training.ipynb", folder / "training.ipynb")
    return folder


def _graded_on(monkeypatch, checks):
    """Every stage graded on the named checks only (the attack needs no more)."""
    real = grade.detect_stage

    def detect(path, nb):
        stage = real(path, nb)
        return only(*checks[stage.name], stage=stage)

    monkeypatch.setattr(grade, "detect_stage", detect)


@needs_bwrap
def test_a_stray_training_notebook_lends_stage_3_nothing(tmp_path, monkeypatch):
    """Weakened: one sandbox carries every stage's files (the grader before
    issue 19), and the 5-line answer passes stage 3's forward check with stage
    5's Conv1d. Real: a sandbox holds one stage's files, so the same folder
    scores 0 there, and the stray notebook is graded as what it is (stage 5).
    About 10 s."""
    folder = _stray_training_folder(tmp_path)
    _graded_on(monkeypatch, {"multi_channel": ("forward",), "training": ("flatten",)})
    stage3, stage5 = get_stage("multi_channel"), get_stage("training")

    # weakened: both stages' files in one sandbox
    monkeypatch.setattr(sandbox.Sandbox, "__init__", _one_sandbox_for_all(sandbox.Sandbox.__init__))
    box = grade.open_sandbox([stage3, stage5], path=folder / "multi_channel.ipynb")
    try:
        weak = grade.grade_path("mallory", folder / "multi_channel.ipynb", SECRET, box=box)
    finally:
        box.close()
    assert weak.score == weak.max_score > 0, weak.checks
    monkeypatch.undo()

    _graded_on(monkeypatch, {"multi_channel": ("forward",), "training": ("flatten",)})
    paths = sorted(folder.glob("*.ipynb"))
    real = dict(zip(map(str, paths), grade.grade_student("mallory", paths, SECRET), strict=True))
    stage3_result = real[str(folder / "multi_channel.ipynb")]
    assert stage3_result.score == 0, stage3_result.checks
    assert "ModuleNotFoundError" in stage3_result.checks[0].message
    assert real[str(folder / "training.ipynb")].assignment == "training"


def _one_sandbox_for_all(init):
    def weakened(self, assets, *args, **kwargs):
        union = sorted({str(p) for files in assets.values() for p in files})
        init(self, {stage: union for stage in assets}, *args, **kwargs)
    return weakened


def test_a_sandbox_refuses_stages_with_different_files():
    stage3, stage5 = get_stage("multi_channel"), get_stage("training")
    with pytest.raises(ValueError, match="different files"):
        sandbox.Sandbox({s.name: grade.stage_assets(s) for s in (stage3, stage5)})


# --------------------------------------------------------------------------
# 5. Below the audit hook: system calls, /dev, sqlite3, the zygote's frames
# --------------------------------------------------------------------------

BOMB = 100  # processes the frame-walking bomb starts (the sandbox allows 64)

BELOW_THE_HOOK = r'''
import json as _json, os as _os, sys as _sys, time as _time
_found = {}


def _try(name, attack):
    try:
        _found[name] = attack()
    except BaseException as exc:
        _found[name] = "blocked: " + type(exc).__name__


def _ptrace():
    """PTRACE_TRACEME in a child (a traced process stops at its next signal)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    r, w = _os.pipe()
    pid = _os.fork()
    if pid == 0:
        done = libc.ptrace(0, 0, 0, 0)
        _os.write(w, str(done if done == 0 else -ctypes.get_errno()).encode())
        _os._exit(0)
    _os.waitpid(pid, 0)
    return int(_os.read(r, 20))


def _fill(path):
    """MiB written to ``path`` before the file system says no (at most 32)."""
    n = 0
    with open(path, "wb") as f:
        for _ in range(32):
            f.write(b"x" * (1 << 20))
            f.flush()
            n += 1
    return n


def _sqlite():
    import sqlite3
    sqlite3.connect("/tmp/stash.db").execute("create table t (x)")
    return "written"


def _walk_frames():
    """Turn the audit hook's fork rule back on from the zygote's locals, then fork."""
    frame = _sys._getframe()
    while frame is not None:
        if "allow_fork" in frame.f_locals:
            frame.f_locals["allow_fork"][0] = True
        frame = frame.f_back
    n = 0
    for _ in range(BOMB):
        try:
            pid = _os.fork()
        except OSError:
            break
        if pid == 0:
            _time.sleep(3)
            _os._exit(0)
        n += 1
    return n


_try("ptrace", _ptrace)
_try("shm", lambda: _fill("/dev/shm/stash"))
_try("dev", lambda: _fill("/dev/stash"))
_try("sqlite", _sqlite)
_try("bomb", _walk_frames)
raise RuntimeError("REDTEAM " + _json.dumps(_found))
'''

NEW_DEV = ["--size", str(8 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev"]


def _old_dev(command):
    """bwrap_command before issue 19: /dev a writable tmpfs of no size."""
    def weakened(*args, **kwargs):
        cmd = command(*args, **kwargs)
        i = cmd.index(NEW_DEV[0], cmd.index("--dev"))
        assert cmd[i:i + len(NEW_DEV)] == NEW_DEV
        return cmd[:i] + cmd[i + len(NEW_DEV):]
    return weakened


def _below_the_hook(barrier_setup):
    stage = get_stage("single_channel")
    nb = notebook(f"BOMB = {BOMB}\n" + BELOW_THE_HOOK, stage)
    with barrier_setup:
        result = grade.grade_notebook(nb, only("forward", stage=stage), student="redteam",
                                      secret=SECRET, sandbox="bwrap")
    return loot(result)


@needs_bwrap
def test_seccomp_dev_sqlite_and_frames(monkeypatch):
    """Three gradings of one answer cell, about 15 s.

    Weakened (no seccomp filter, /dev as before, no audit hook, no cgroup):
    PTRACE_TRACEME succeeds, 32 MiB go to /dev and to /dev/shm, the bomb
    starts all its processes. Real without the audit hook (the OS alone):
    ptrace is refused by the filter (EPERM), /dev is read-only and /dev/shm
    takes 8 MiB. Real: the hook also refuses sqlite3 outside the scratch
    folder; walking the frames up to the zygote's locals does turn the hook's
    fork rule off (no property rests on it), and the cgroup still caps the
    processes."""
    from test_redteam import _NoCgroup

    import autograder.isolation as isolation

    with pytest.MonkeyPatch.context() as weak:
        weak.setattr(isolation, "SECCOMP_OFF", True)
        weak.setattr(sandbox, "bwrap_command", _old_dev(sandbox.bwrap_command))
        weak.setattr(sandbox, "AUDIT_HOOK", False)
        weak.setattr(sandbox, "Cgroup", _NoCgroup)
        found = _below_the_hook(contextlib.nullcontext())
    assert found["ptrace"] == 0, found
    assert found["shm"] == found["dev"] == 32, found
    assert found["sqlite"] == "written" and found["bomb"] == BOMB, found

    with pytest.MonkeyPatch.context() as no_hook:
        no_hook.setattr(sandbox, "AUDIT_HOOK", False)
        found = _below_the_hook(contextlib.nullcontext())
    assert found["ptrace"] == -1, found  # -EPERM, from the seccomp filter
    assert found["shm"] == "blocked: OSError" and found["dev"] == "blocked: OSError", found

    found = _below_the_hook(contextlib.nullcontext())
    assert found["sqlite"] == "blocked: PermissionError", found
    if os.getuid() == 0:  # the cgroup caps the sandbox (64 processes, 4 already there)
        assert 0 < found["bomb"] <= 60, found


# --------------------------------------------------------------------------
# 4. A grader that is not root: a fork flood and a memory bomb
# --------------------------------------------------------------------------

FLOOD_AND_BOMB = r'''
import json as _json, os as _os, time as _time
import numpy as _np
import threading as _threading
_found = {}


def _burn(seconds=0.5):
    _t = _time.process_time()
    while _time.process_time() - _t < seconds:
        pass


if _os.fork() == 0:  # CPU in a process that exits (and is reaped) and in a thread
    _burn()
    _os._exit(0)
_os.wait()
_thread = _threading.Thread(target=_burn)
_thread.start()
_thread.join()
_n = 0
for _ in range(100):
    try:
        _pid = _os.fork()
    except OSError:
        break
    if _pid == 0:
        _time.sleep(3)
        _os._exit(0)
    _n += 1
_found["forked"] = _n
try:
    _big = _np.ones(1 << 27)  # 1 GiB, touched
    _found["bomb"] = "allocated"
except MemoryError:
    _found["bomb"] = "blocked: MemoryError"

raise RuntimeError("REDTEAM " + _json.dumps(_found))
'''

AS_USER = r'''
import json, sys
import autograder.sandbox as sandbox
from autograder.grade import setup_code, stage_assets
from autograder.isolation import describe_limits, limits_line
from course.stages import get_stage


class Weakened(sandbox.Sandbox):
    """The grader before issue 19 as a normal user: no limit but RLIMIT_AS."""

    def _worker_options(self):
        return ["no-audit-hook"]


class NoRlimits(Weakened):
    def _preexec(self):
        pass


sandbox.AUDIT_HOOK = False  # the operating system alone
stage = get_stage("single_channel")
cls = {"weakened": NoRlimits, "real": sandbox.Sandbox}[sys.argv[1]]
box = cls({stage.name: stage_assets(stage)}, "bwrap", memory_mb=512, max_pids=32)
try:
    notes = box.start(stage.name, setup_code(stage), [("attack", sys.argv[2])])
    cgroup, cpu = bool(box.cgroup), box.cpu_seconds()
finally:
    box.close()
print(json.dumps({"notes": notes, "limits": describe_limits("bwrap", 512, 32),
                  "line": limits_line("bwrap", 512, 32), "cgroup": cgroup, "cpu": cpu}))
'''


@contextlib.contextmanager
def _normal_user():
    """A real Linux user made for the test (removed after), allowed to traverse
    the folders on the way to this interpreter and the kit."""
    import stat
    import uuid

    from autograder.isolation import python_paths

    name = f"cnn1d-rt-{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True)
    granted = []
    try:
        for path in [*python_paths(), str(ROOT)]:
            for folder in Path(os.path.realpath(path)).parents:
                if not folder.stat().st_mode & stat.S_IXOTH and folder not in granted:
                    subprocess.run(["setfacl", "-m", f"u:{name}:x", str(folder)], check=True)
                    granted.append(folder)
        yield name
    finally:
        for folder in granted:
            subprocess.run(["setfacl", "-x", f"u:{name}", str(folder)], check=False)
        for _ in range(50):  # the sandbox's processes die with it; userdel waits for them
            if subprocess.run(["userdel", name], capture_output=True).returncode == 0:
                break
            import time
            time.sleep(0.1)


def _run_as(user, mode, tmp_path):
    done = subprocess.run(
        [shutil.which("runuser") or "/usr/sbin/runuser", "-u", user, "--", PYTHON, "-I", "-c",
         f"import sys; sys.path.insert(0, {str(ROOT)!r})\n" + AS_USER, mode, FLOOD_AND_BOMB],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    found = next(n for n in report["notes"] if "REDTEAM" in n)
    return json.loads(found[found.index("{"):]), report


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setfacl") or bool(WHY_NO_BWRAP),
                    reason="needs root (to make a user), setfacl (acl) and bubblewrap")
def test_a_grader_that_is_not_root_bounds_a_fork_flood_and_a_memory_bomb(tmp_path):
    """As a real normal user (no cgroup can be made): weakened (no rlimits),
    the flood starts its 100 processes and 1 GiB is allocated past the 512 MiB
    limit; real, RLIMIT_NPROC set inside bubblewrap's user namespace stops the
    flood at the sandbox's 32 processes and RLIMIT_AS the bomb; the
    sandbox's CPU time (a process that exited, a thread) is counted from the
    kernel's accounting of its processes, where no cgroup counts it; and the
    grader says how each limit holds. About 20 s (a minute under load)."""
    tmp_path.chmod(0o777)
    with _normal_user() as user:
        weak, _ = _run_as(user, "weakened", tmp_path)
        real, report = _run_as(user, "real", tmp_path)
    assert weak == {"forked": 100, "bomb": "allocated"}, weak
    assert 0 < real["forked"] < 32 and real["bomb"] == "blocked: MemoryError", real
    assert not report["cgroup"]  # the grader before issue 19 had no CPU time here either
    assert report["cpu"] >= 1.0, report  # the exited process's 0.5 s and the thread's
    assert "RLIMIT_NPROC" in report["limits"]["processes"], report
    assert "per process" in report["limits"]["memory"], report
    assert "/proc" in report["limits"]["cpu"], report


# --------------------------------------------------------------------------
# 3. Stalling: a correct submission that waits just under every timeout
# --------------------------------------------------------------------------

STALL = 4.0  # seconds each check's process sleeps as it starts


def _stalling(stage):
    from course.flow import reference_answers

    answers = dict(reference_answers(stage))
    first = stage.answers[0].grade_id
    answers[first] = (answers[first] + "\nimport os as _os, time as _time\n"
                      f"_os.register_at_fork(after_in_child=lambda: _time.sleep({STALL}))\n")
    return notebook(answers, stage)


@needs_bwrap
def test_a_submission_that_stalls_gets_no_more_than_its_budget(tmp_path, monkeypatch):
    """Weakened (no budget): the stalling reference keeps full marks and
    holds the grader STALL s per check. Real, with a budget of 7 s (the
    reference's cost set to 1 s: 5x + 2 s): the notebook is stopped at its
    budget, the checks not yet run fail saying so; a second copy of the same
    stage gets no time of its own (the student's budget counts each stage
    once). About 35 s."""
    import time

    stage = only("forward", "backward_dx", "backward_params", stage=get_stage("single_channel"))
    nb = _stalling(stage)
    with pytest.MonkeyPatch.context() as weak:
        weak.setattr(grade, "notebook_budget", lambda stage: (float("inf"), ""))
        start = time.monotonic()
        result = grade.grade_notebook(nb, stage, student="staller", secret=SECRET)
        weak_s = time.monotonic() - start
    assert result.score == result.max_score and weak_s > 3 * STALL, (weak_s, result.checks)

    monkeypatch.setattr(grade, "reference_seconds", lambda stage: 1.0)
    monkeypatch.setattr(grade, "BUDGET_EXTRA", 2.0)
    folder = tmp_path / "staller"
    for name in ("single_channel.ipynb", "single_channel (1).ipynb"):
        folder.mkdir(exist_ok=True)
        nbformat.write(nb, folder / name)
    _graded_on(monkeypatch, {"single_channel": ("forward", "backward_dx", "backward_params")})
    paths = sorted(folder.glob("*.ipynb"))
    start = time.monotonic()
    first, second = grade.grade_student("staller", paths, SECRET)
    real_s = time.monotonic() - start
    assert real_s < 7 + STALL + 5, real_s  # the budget, one sleep, tearing down
    assert first.score < first.max_score
    assert any("7 s: 5x the reference's 1.0 s + 2 s" in c.message and "time budget" in c.message
               for c in first.checks), first.checks
    assert second.score == 0
    assert all("time budget of one student" in c.message for c in second.checks)


# --------------------------------------------------------------------------
# 6. Grader memory: many replies under the size bound, each cast to float64
# --------------------------------------------------------------------------

WIDE_FORWARD = '''
import numpy as np
_calls = []


class SimpleConv1d(Layer):
    def __init__(self, w, b):
        self.w, self.b = np.asarray(w, dtype=float), np.asarray(b, dtype=float)

    def forward(self, x):
        self.x = x
        _calls.append(x)
        if len(_calls) == 1:  # the first call of a check is compared by shape
            return np.zeros(len(x) - len(self.w) + 1)
        return np.ones(2 << 20, dtype=np.int8)  # 2 MiB on the wire, 16 as float64

    def backward(self, dout):
        return np.zeros(len(self.x))
'''


def _grader_peak_mib(**patches):
    import tracemalloc  # numpy reports its arrays to tracemalloc

    stage = only("backward_dx", stage=get_stage("single_channel"))
    with pytest.MonkeyPatch.context() as mp:
        for name, value in patches.items():
            mp.setattr(sandbox, name, value)
        tracemalloc.start()
        try:
            result = grade.grade_notebook(notebook(WIDE_FORWARD, stage), stage,
                                          student="redteam", secret=SECRET)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return peak / 2**20, result


@needs_bwrap
def test_replies_under_the_size_bound_cannot_fill_the_grader(monkeypatch):
    """The numerical gradient keeps every forward output it asks for: 2 MiB
    int8 outputs become 16 MiB float64 arrays. Weakened (no bound on what a
    check keeps): the grader's arrays peak past 300 MiB for one check. Real:
    the check stops at MAX_CHECK_DATA (256 MiB counted as float64), before
    the conversion, and fails saying so. About 20 s."""
    weak_mib, _ = _grader_peak_mib(MAX_CHECK_DATA=float("inf"))
    real_mib, result = _grader_peak_mib()
    assert weak_mib > 300, weak_mib
    assert real_mib < 150, real_mib  # a reply read whole: 2 x MAX_REPLY at most
    assert "add up to more than 256 MiB" in result.checks[0].message, result.checks


# --------------------------------------------------------------------------
# 2. Stage 5: accuracy from weights trained elsewhere
# --------------------------------------------------------------------------

def _old_task(rng):
    """The accuracy check's data before issue 19: the public MNIST-1D training
    set, and test signals of the ten digits drawn with the secret seed."""
    import mnist1d.data

    from autograder.checks import training
    from course.datasets import load_mnist1d

    public = load_mnist1d()
    digits = mnist1d.data.get_templates()["x"]
    labels = rng.permutation(np.arange(500) % 10)
    X = training._signals(rng, digits, labels)
    return public.X_train, public.y_train, (X - X.mean()) / X.std(), labels


def _pasted_classes():
    """Classifiers whose fit trains nothing: weights trained beforehand on the
    public MNIST-1D (in a real submission, a base64 string in the answer cell),
    alone or with the label of each class read off the data fit is given."""
    from autograder.checks.training import ACCURACY_CONFIG
    from course.datasets import load_mnist1d
    from solutions.augment import shift_and_noise
    from solutions.model import Scratch1dCNNClassifier as Reference

    public = load_mnist1d()
    offline = Reference(**dict(ACCURACY_CONFIG, seed=0, augment=shift_and_noise(max_shift=2)))
    offline.fit(public.X_train, public.y_train)
    weights = copy.deepcopy(offline.__dict__)

    class Pasted(Reference):
        def fit(self, X, y, X_val=None, y_val=None):
            self.__dict__.update(copy.deepcopy(weights))
            return self

    class PastedWithLabels(Pasted):
        """Each class the pasted network sees is given the label it most often
        has in the training set: the best a fixed network can do with it."""

        def fit(self, X, y, X_val=None, y_val=None):
            super().fit(X, y)
            seen = np.argmax(Reference.decision_function(self, X), axis=1)
            self.relabel_ = np.array([np.bincount(y[seen == k], minlength=10).argmax()
                                      if np.any(seen == k) else k for k in range(10)])
            return self

        def decision_function(self, X):
            logits = super().decision_function(X)
            out = np.full_like(logits, -1e9)
            for k, label in enumerate(self.relabel_):
                out[:, label] = np.maximum(out[:, label], logits[:, k])
            return out

    return Pasted, PastedWithLabels


class SampledBatches:
    """A correct fit of another style: batches drawn with replacement, no epochs."""

    @staticmethod
    def make():
        from solutions.losses import SoftmaxCrossEntropy
        from solutions.model import Scratch1dCNNClassifier as Reference

        class Sampled(Reference):
            def fit(self, X, y, X_val=None, y_val=None):
                X, t, _, _, rng = self._setup_fit(X, y, X_val, y_val)
                loss_fn, opt = SoftmaxCrossEntropy(), self._make_optimizer()
                for _ in range(self.steps):
                    idx = rng.integers(0, len(X), self.batch_size)
                    xb = X[idx] if self.augment is None else self.augment(X[idx], rng)
                    self._set_training(True)
                    loss_fn.forward(self._forward(xb.astype(self.dtype)), t[idx])
                    dout = loss_fn.backward().astype(self.dtype)
                    for layer in reversed(self.layers_):
                        dout = layer.backward(dout)
                    opt.step(self.layers_)
                self._set_training(False)
                return self

        return Sampled

    @staticmethod
    def epochs_by_hand():
        """Another: epochs written out (a permutation, slices of it), the loss's
        gradient scaled by hand, no augmentation."""
        from solutions.losses import SoftmaxCrossEntropy
        from solutions.model import Scratch1dCNNClassifier as Reference

        class Epochs(Reference):
            def fit(self, X, y, X_val=None, y_val=None):
                X, t, _, _, rng = self._setup_fit(X, y, X_val, y_val)
                loss_fn, opt = SoftmaxCrossEntropy(), self._make_optimizer()
                step = 0
                while step < self.steps:
                    order = rng.permutation(len(X))
                    for start in range(0, len(X), self.batch_size):
                        if step == self.steps:
                            break
                        idx = order[start:start + self.batch_size]
                        self._set_training(True)
                        loss_fn.forward(self._forward(X[idx]), t[idx])
                        dout = loss_fn.backward().astype(self.dtype)
                        for layer in self.layers_[::-1]:
                            dout = layer.backward(dout)
                        opt.step(self.layers_)
                        step += 1
                self._set_training(False)
                return self

        return Epochs


def _accuracy_check(cls):
    from autograder.checks import derive_seed, training
    from autograder.checks.common import CheckFailed
    from solutions.augment import shift_and_noise

    rng = np.random.default_rng(derive_seed("training.accuracy", "mallory", SECRET, "x"))
    try:
        training.check_accuracy({"Scratch1dCNNClassifier": cls,
                                 "shift_and_noise": shift_and_noise}, rng)
    except CheckFailed as exc:
        return str(exc)
    return "passed"


def test_stage5_weights_trained_elsewhere_score_nothing(monkeypatch):
    """In process (the hole is in the check, not the sandbox); about 15 s
    quiet, a minute on the loaded machine. Weakened (the old data: the public
    training set, digit test signals): a fit that loads pasted weights passes
    the accuracy check. Real (a task drawn from the secret: ten templates no
    one has seen): it fails, and so does the same fit that also learns which
    label each of its classes stands for (the best a fixed network can do);
    correct fits of other styles (batches drawn with replacement; epochs
    written out, no augmentation) pass."""
    from autograder.checks import training

    Pasted, PastedWithLabels = _pasted_classes()
    with pytest.MonkeyPatch.context() as weak:
        weak.setattr(training, "secret_task", _old_task)
        assert _accuracy_check(Pasted) == "passed"
    assert "test accuracy is" in _accuracy_check(Pasted)
    assert "test accuracy is" in _accuracy_check(PastedWithLabels)
    assert _accuracy_check(SampledBatches.make()) == "passed"
    assert _accuracy_check(SampledBatches.epochs_by_hand()) == "passed"
