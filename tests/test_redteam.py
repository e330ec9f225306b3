"""Red team (issue 11): hostile submissions, one or more per class of the issue.

Every attack is run twice: against a deliberately WEAKENED grader (no OS
sandbox, no audit hook, no cgroup, the old seeds, or an emulated old
protocol), where it must SUCCEED, showing the attack is real and the test able
to see it; and against the REAL grader, where it must FAIL. Where no weakened
grader makes an attack meaningful, the test's docstring says so and asserts
what the real grader does.

The attacks are written on stage 1 (``single_channel``) with the ``ZEROS``
layer of tests/test_cheating.py as the honest baseline, graded on the checks
they need only (a sandbox start costs ~2 s on this machine). The real grader
is bubblewrap: root and ``bwrap`` are needed; without them those halves skip
with the reason ``autograder.isolation.bwrap_works()`` gives.

How an attack's loot is seen: a submission may only talk through its
feedback, so the attacks raise, at the end of the answer cell, an exception
whose message carries what they found; the grader appends the first line of it
to every failed check's message ("answer cell ... raised ...").

Holes this suite found in the rebuilt grader are tested as they now hold: a
student folder whose name is not UTF-8; the CI feedback files; training done
while the answer cells run (stage 5's clock now starts with them); the
nobody fallback's list of what must be unreadable (now submitted/ and the
gradebook too).
"""

import contextlib
import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import numpy as np
import pytest

import autograder.checks.common as common
import autograder.checks.mini_batch as mini_batch
import autograder.checks.single_channel as single_channel
import autograder.grade
import autograder.reports as reports
import autograder.sandbox as sandbox
from autograder.checks import DEFAULT_SECRET, derive_seed, run_check
from autograder.grade import SubmissionResult, grade_notebook, setup_code, stage_assets
from autograder.isolation import INSTALL_HINT, bwrap_works
from autograder.sandbox import Sandbox, SandboxError
from course.flow import reference_answers
from course.stages import get_stage
from solutions.conv import SimpleConv1d as Reference

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SECRET = "test-secret"
STAGE = get_stage("single_channel")
WHY_NO_BWRAP = bwrap_works()
needs_bwrap = pytest.mark.skipif(bool(WHY_NO_BWRAP), reason=(
    f"the real grader's sandbox cannot run here (root and bubblewrap needed): {WHY_NO_BWRAP}"))

# The honest baseline of tests/test_cheating.py: a layer that returns zeros.
ZEROS = '''
class SimpleConv1d(Layer):
    def __init__(self, w, b):
        self.w = np.asarray(w, dtype=float)
        self.b = np.asarray(b, dtype=float)
        self.dw = np.zeros_like(self.w)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        return np.zeros(len(x) - len(self.w) + 1)

    def backward(self, dout):
        return np.zeros(len(self.x))
'''


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def only(*names, stage=STAGE):
    """``stage`` graded on the named checks only (the attack needs no more)."""
    return dataclasses.replace(stage, checks=tuple(c for c in stage.checks if c.name in names))


def notebook(answers, stage=STAGE):
    """The released notebook of ``stage`` with answer cells replaced: ``answers`` is
    the code of the first answer cell, or {grade_id: code}."""
    if isinstance(answers, str):
        answers = {stage.answers[0].grade_id: answers}
    path = ROOT / "release" / stage.name / stage.notebook
    if not path.exists():  # release/ is being rebuilt: the source has the same cells
        path = ROOT / "source" / stage.name / stage.notebook
    nb = nbformat.read(path, as_version=4)
    ids = {a.grade_id for a in stage.answers}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in ids:
            cell.source = answers.get(grade_id, "")
    return nb


def grade(answers, checks, barrier, stage=STAGE, student="redteam"):
    return grade_notebook(notebook(answers, stage), only(*checks, stage=stage),
                          student=student, secret=SECRET, sandbox=barrier)


def consts(**values):
    """Python lines binding ``values`` (how the attacker's notebook knows its targets)."""
    return "".join(f"{name} = {value!r}\n" for name, value in values.items())


def loot(result):
    """What the attack reported through its feedback (see the module docstring)."""
    for check in result.checks:
        found = re.search(r"REDTEAM (\{.*\})", check.message)
        if found:
            return json.loads(found.group(1))
    raise AssertionError(f"no report of the attack in {[c.message for c in result.checks]}")


class _NoCgroup:
    """The grader before issue 11: rlimits per process, no cgroup."""

    version = 0

    def __init__(self, *args):
        pass

    def __bool__(self):
        return False

    def cpu_seconds(self):
        return None

    def remove(self):
        pass


def _pids_with(token):
    """Host pids of processes whose command line holds ``token``."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
    return found


def _stop(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


# --------------------------------------------------------------------------
# 1. Python-level barriers were the only barriers
# --------------------------------------------------------------------------

BOMB = 100  # processes the bomb tries to start (the sandbox's cgroup allows 64)

BARRIER_ATTACKS = r'''
import json as _json, os as _os, signal as _signal, socket as _socket, sys as _sys
import time as _time

_found = {}


def _try(name, attack):
    try:
        _found[name] = attack()
    except BaseException as exc:  # the hook's PermissionError, EROFS, ENETUNREACH...
        _found[name] = "blocked: " + type(exc).__name__


def _secret():
    """The course secret from any process's environment or command line."""
    hits = []
    for pid in _os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for part in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as f:
                    items = f.read().split(b"\0")
            except OSError:
                continue
            hits += [i.split(b"=", 1)[1].decode() for i in items
                     if i.startswith(b"CNN1D_GRADER_SECRET=")]
            if b"--secret-file" in items:
                try:
                    with open(items[items.index(b"--secret-file") + 1], "rb") as f:
                        hits.append(f.read().decode().strip())
                except (OSError, IndexError):
                    pass
    return sorted(set(hits))


def _files():
    """The reference solutions, another student's notebook, the gradebook."""
    read = []
    for name, (path, mark) in FILES.items():
        try:
            with open(path, "rb") as f:
                if mark.encode() in f.read():
                    read.append(name)
        except OSError:
            pass
    return read


def _pth():
    """A .pth in the grader's site-packages runs in every later Python (this one is inert)."""
    with open(PTH, "w") as f:
        f.write("# red-team probe: a comment, does nothing\n")
    return "written"


def _grader():
    _os.kill(GRADER, 0)  # signal 0: the right to kill it, without killing it
    return "reachable"


def _kill():
    _os.kill(VICTIM, _signal.SIGKILL)
    return "killed"


def _udp():
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    s.sendto(TOKEN.encode(), ("127.0.0.1", PORT))
    return "sent"


def _linger():
    """A daemon (new session) that outlives the grading."""
    pid = _os.fork()
    if pid == 0:
        try:
            _os.setsid()
            if _os.fork() == 0:
                _os.execv(_sys.executable, [_sys.executable, "-c", "import time; time.sleep(60)",
                                            TOKEN])
        finally:
            _os._exit(0)
    _os.waitpid(pid, 0)
    return "started"


def _bomb():
    """A bounded fork bomb: BOMB processes that sleep 3 s."""
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


for _name, _attack in (("secret", _secret), ("files", _files), ("pth", _pth),
                       ("grader", _grader), ("kill", _kill), ("udp", _udp),
                       ("linger", _linger), ("bomb", _bomb)):
    _try(_name, _attack)
raise RuntimeError("REDTEAM " + _json.dumps(_found))
'''

ATTACK_NAMES = ("secret", "files", "pth", "grader", "kill", "udp", "linger", "bomb")


def _barrier_run(tmp, mode):
    """Grade the barrier attacks once in ``mode``; what each attack achieved."""
    if mode != "weakened" and WHY_NO_BWRAP:
        pytest.skip(f"the real grader's sandbox cannot run here: {WHY_NO_BWRAP}")
    token = f"redteam-{uuid.uuid4().hex}"
    # A grading run as CI starts it: secret in its environment and command line.
    secret_file = tmp / "course-secret"
    secret_file.write_text(SECRET)
    decoy = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(120)", "grade",
                              "--secret-file", str(secret_file)],
                             env={"PATH": os.environ.get("PATH", ""),
                                  "CNN1D_GRADER_SECRET": SECRET})
    victim = subprocess.Popen(["sleep", "120"])  # another student's worker
    other = tmp / "submitted" / "alice" / STAGE.name / STAGE.notebook
    other.parent.mkdir(parents=True)
    other.write_text("alice-answer-" + token)
    gradebook = tmp / "gradebook.db"
    gradebook.write_text("gradebook-row-" + token)
    files = {"solutions": (str(ROOT / "solutions" / "conv.py"), "class SimpleConv1d"),
             "other student": (str(other), "alice-answer-" + token),
             "gradebook": (str(gradebook), "gradebook-row-" + token)}
    pth = Path(sysconfig.get_paths()["purelib"]) / f"zz_{token}.pth"
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    code = ZEROS + consts(FILES=files, PTH=str(pth), GRADER=os.getpid(), VICTIM=victim.pid,
                          PORT=udp.getsockname()[1], TOKEN=token, BOMB=BOMB) + BARRIER_ATTACKS
    try:
        with pytest.MonkeyPatch.context() as mp:
            barrier = "bwrap"
            if mode == "weakened":  # no OS barrier, no hook, no cgroup
                barrier = "none"
                mp.setattr(sandbox, "Cgroup", _NoCgroup)
            if mode != "real":
                mp.setattr(sandbox, "AUDIT_HOOK", False)
            start = time.monotonic()
            result = grade(code, ["forward"], barrier)
            elapsed = time.monotonic() - start
        found = loot(result)
        lingering = _pids_with(token)
        try:
            received = udp.recv(1000) == token.encode()
        except OSError:
            received = False
        try:
            victim.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        success = {
            "secret": SECRET in found["secret"],
            "files": sorted(found["files"]) == sorted(files),
            "pth": pth.exists(),
            "grader": found["grader"] == "reachable",
            "kill": victim.poll() is not None,
            "udp": received,
            "linger": bool(lingering),
            "bomb": isinstance(found["bomb"], int) and found["bomb"] >= BOMB,
        }
        # Partial successes count too: no file at all may be read in the real grader.
        if found["files"] and mode != "weakened":
            success["files"] = True
        return {"success": success, "found": found, "elapsed": elapsed,
                "lingering": lingering}
    finally:
        with contextlib.suppress(FileNotFoundError):
            pth.unlink()
        for pid in _pids_with(token):  # the lingering daemon this test started
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        _stop(decoy)
        _stop(victim)
        udp.close()


@pytest.fixture(scope="module")
def barrier_runs(tmp_path_factory):
    cache = {}

    def run(mode):
        if mode not in cache:
            cache[mode] = _barrier_run(tmp_path_factory.mktemp(mode), mode)
        return cache[mode]

    return run


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_python_level_barriers_are_not_the_barrier(attack, barrier_runs):
    """One submission tries every attack of issue 11's class 1 while its answer
    cell runs: read the course secret from another process's /proc environ and
    cmdline (a decoy started like CI's grading run), read solutions/, another
    student's notebook and a gradebook, write a .pth into the venv's
    site-packages, signal the grader (signal 0) and kill another process, send
    UDP to 127.0.0.1, leave a daemon running after grading, fork 100 processes.

    Weakened (sandbox="none", no audit hook, no cgroup: the grader before issue
    11) every one of them works. The real grader (bubblewrap) stops each one,
    with the audit hook and also without it: no barrier rests on the hook."""
    weak = barrier_runs("weakened")
    assert weak["success"][attack], weak
    for mode in ("real", "real-no-hook"):
        run = barrier_runs(mode)
        assert not run["success"][attack], (mode, run)
        assert not run["lingering"] and run["elapsed"] < 60, (mode, run)


# --------------------------------------------------------------------------
# 2. The worker is untrusted
# --------------------------------------------------------------------------

LEAK_OR_ANSWER = ZEROS + '''
def _forward(self, x):
    key = repr([list(map(float, x)), list(map(float, self.w)), list(map(float, self.b))])
    if key in TABLE:  # answered from the table built out of earlier feedback
        return np.array(TABLE[key])
    raise ValueError("LEAK " + key)  # the hidden input goes into the feedback
SimpleConv1d.forward = _forward
'''


def _table_attack(barrier, rounds):
    """Resubmit until the forward check passes on a table of leaked inputs alone."""
    table, results = {}, []
    for _ in range(rounds):
        result = grade(consts(TABLE=table) + LEAK_OR_ANSWER, ["forward"], barrier)
        results.append(result)
        if result.score:
            break
        key = re.search(r"LEAK (\[\[.*?\]\])", result.checks[0].message).group(1)
        assert key not in table
        x, w, b = (np.array(v) for v in json.loads(key))
        table[key] = Reference(w, b).forward(x).tolist()  # the attacker's offline answer
    return table, results


@needs_bwrap
def test_hidden_inputs_leaked_into_feedback_cannot_be_answered_from_a_table(monkeypatch):
    """A forward that raises with its input puts the hidden input into the
    feedback (a check must say what the student's code raised); the next
    submission answers it from a table, and so on, case by case.

    With the old seeds (secret + student + check) the inputs are the same at
    every resubmission: after one round per case the table alone passes the
    forward check. With the real seeds (plus the digest of the code) the next
    submission's inputs are new: the table never hits."""
    with monkeypatch.context() as mp:
        mp.setattr(autograder.grade, "code_digest", lambda stage, answers: "")
        table, results = _table_attack("bwrap", rounds=6)
    assert results[-1].score == results[-1].max_score, [r.checks[0].message for r in results]
    assert len(table) >= 2  # it took several leaks

    table, results = _table_attack("bwrap", rounds=2)
    assert all(r.score == 0 for r in results)
    assert len(table) == 2  # round 2 leaked an input round 1 had never seen: no hit


class _SyncingCodec(sandbox._ProxyCodec):
    """The old protocol, emulated: an array handed to student code is the
    grader's own, and what the worker does to it is synced back into it."""

    def __init__(self, box):
        super().__init__(box)
        self.synced, self.syncing = [], False

    def encode(self, value, arrays):
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            remote = self.sandbox.put(value)
            self.synced.append((value, remote))
            return {"__handle__": remote._handle}
        return super().encode(value, arrays)


def _syncing_request(original):
    def request(self, header, arrays=(), timeout=None):
        value = original(self, header, arrays, timeout)
        codec = self.codec
        if isinstance(codec, _SyncingCodec) and not codec.syncing and header["op"] == "call":
            codec.syncing = True
            try:
                for array, remote in codec.synced:
                    np.copyto(array, self.fetch(remote))
            finally:
                codec.syncing = False
        return value
    return request


ZEROING = '''
class SimpleConv1d(Layer):
    """Computes nothing; zeroes every array it is given, in place."""

    def __init__(self, w, b):
        self.w, self.b = w, b
        self.dw, self.db = np.zeros(np.shape(w)), np.zeros(np.shape(b))

    def forward(self, x):
        self.L = len(x)
        n = len(x) - len(self.w) + 1
        x[...] = 0
        self.w[...] = 0
        self.b[...] = 0
        return np.zeros(n)

    def backward(self, dout):
        dout[...] = 0
        return np.zeros(self.L)
'''


@needs_bwrap
def test_in_place_changes_synced_into_the_grader_earn_nothing(monkeypatch):
    """A layer that computes nothing and zeroes x, w, b and dout in place.

    Against the old protocol (arrays synced back into the grader's own copies,
    emulated by _SyncingCodec) the reference then computes zeros from the
    zeroed copies, and "unchanged" compares the grader's array with itself:
    no_side_effects passes. The real grader keeps its own copies, reads back
    the ones it placed and compares: the check fails."""
    with monkeypatch.context() as mp:
        mp.setattr(sandbox, "_ProxyCodec", _SyncingCodec)
        mp.setattr(Sandbox, "request", _syncing_request(Sandbox.request))
        mp.setattr(single_channel, "place", lambda near, array: array)
        mp.setattr(single_channel, "look", np.asarray)
        weak = grade(ZEROING, ["no_side_effects"], "bwrap")
    assert weak.score == weak.max_score, weak.checks[0].message
    real = grade(ZEROING, ["no_side_effects"], "bwrap")
    assert real.score == 0 and "forward output is wrong" in real.checks[0].message


# --------------------------------------------------------------------------
# 3. The grader process itself was exposed
# --------------------------------------------------------------------------

STOP_READING = ZEROS + '''
import sys, time
# The check's process answers "ready", then never reads a request again.
sys.modules["__main__"].serve = lambda *args: time.sleep(3600)
'''


def _open_box(code, barrier="bwrap"):
    box = Sandbox({STAGE.name: stage_assets(STAGE)}, barrier)
    notes = box.start(STAGE.name, setup_code(STAGE), [("simple_conv1d", code)])
    assert not notes, notes
    return box


def _blocking_write(self, data, deadline):
    """The old transport: a blocking write with no deadline."""
    fd = self.proc.stdin.fileno()
    os.set_blocking(fd, True)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


@needs_bwrap
def test_a_worker_that_stops_reading_cannot_hang_the_grader(monkeypatch):
    """The submission replaces the worker's request loop so that its check
    process stops reading; the grader then sends a request larger than the
    pipe (32 MB). With the old blocking write the grader hangs for as long as
    the worker lives (here: still stuck at 2.5x the check's timeout, freed by
    killing the sandbox); the real grader's write deadline ends it at the
    check's timeout."""
    box = _open_box(STOP_READING)
    try:
        box.begin_check(1.0)
        with monkeypatch.context() as mp:
            mp.setattr(Sandbox, "_write", _blocking_write)
            outcome = []

            def send():
                try:
                    box.put(np.zeros(4 << 20))
                    outcome.append("sent")
                except Exception as exc:  # noqa: BLE001 - freed by the kill: any error
                    outcome.append(f"{type(exc).__name__}: {exc}")

            thread = threading.Thread(target=send, daemon=True)
            thread.start()
            thread.join(2.5 * 1.0)
            hung = thread.is_alive()
            box.kill()  # frees the stuck write (broken pipe)
            thread.join(10)
        assert hung and not thread.is_alive(), outcome
    finally:
        box.close()

    box = _open_box(STOP_READING)
    try:
        box.begin_check(1.0)
        start = time.monotonic()
        with pytest.raises(SandboxError, match="did not finish within 1 s"):
            box.put(np.zeros(4 << 20))
        assert time.monotonic() - start < 1.0 + 3.0
    finally:
        box.close()


EVIL_REPLIES = ZEROS + r'''
import json, struct, sys
_worker = sys.modules["__main__"]


def evil(kind):
    """From now on this process answers with a hostile frame."""
    def send(out, reply, arrays=()):
        if kind == "huge":  # announces a reply of 1 TiB
            out.write(struct.pack("<Q", 1 << 40))
        elif kind == "bomb":  # a 10**12-element float64 array in a 100-byte message
            head = json.dumps({"h": {"ok": True, "value": {"__array__": 0},
                                     "id": reply.get("id")},
                               "a": [["<f8", [10**6, 10**6]]]}).encode()
            payload = struct.pack("<I", len(head)) + head
            out.write(struct.pack("<Q", len(payload)) + payload)
        else:  # garbage: a header length of 4 GiB
            out.write(struct.pack("<Q", 64) + b"\xff" * 64)
        out.flush()
    _worker._send = send
'''


@needs_bwrap
def test_oversized_and_malformed_replies_fail_only_their_check():
    """A submission rewrites the worker's reply function: a frame announcing
    1 TiB, a frame whose header declares a 10**12-element array (8 TB decoded)
    in 100 bytes, a frame of garbage. No weakened grader makes this meaningful:
    the old decompression bomb needed the old npz codec (the wire format has no
    compression now), so the test asserts what the real grader does: each one
    ends that check's sandbox with a reason, quickly, before anything is
    allocated, and the next check starts a fresh sandbox that works."""
    box = _open_box(EVIL_REPLIES)
    try:
        for kind, reason in (("huge", "sent a reply of 1099511627776 bytes"),
                             ("bomb", "unreadable reply .*larger than the message"),
                             ("garbage", "unreadable reply .*header too large")):
            if box.dead:
                box.start(STAGE.name, setup_code(STAGE), [("simple_conv1d", EVIL_REPLIES)])
            ns = box.begin_check(5.0)
            start = time.monotonic()
            with pytest.raises(SandboxError, match=reason):
                ns["evil"](kind)
            assert time.monotonic() - start < 5.0
            assert box.dead
        box.start(STAGE.name, setup_code(STAGE), [("simple_conv1d", EVIL_REPLIES)])
        ns = box.begin_check(5.0)
        assert ns["SimpleConv1d"]([1.0], [0.0]).forward(np.arange(3.0)).shape == (3,)
    finally:
        box.close()


RAISING = ZEROS + '''
class _Lazy(SimpleConv1d):
    @property
    def dw(self):
        raise KeyError("dw is computed lazily")

    @dw.setter
    def dw(self, value):
        pass


SimpleConv1d = _Lazy
'''


@needs_bwrap
def test_a_student_object_that_raises_inside_a_check_fails_that_check_only():
    """``layer.dw`` raises KeyError, which ``getattr(layer, "dw", None)`` does
    not catch. Weakened (the check called without the grader's containment, as
    before issue 11) the exception escapes the check and would end the class
    run. The real grader scores that check 0 with a reason and grades the rest
    (tests/test_redteam.py::test_cli_fails_loudly_and_grades_every_notebook runs
    it in a class run that still exits 0)."""
    box = _open_box(RAISING)
    try:
        ns = box.begin_check(10.0)
        with pytest.raises(KeyError):
            run_check("single_channel.backward_params", ns, student="s", secret=SECRET)
    finally:
        box.close()
    result = grade(RAISING, ["forward", "backward_params"], "bwrap")
    assert [c.passed for c in result.checks] == [False, False]
    assert "could not use what your code returned" in result.checks[1].message


# --------------------------------------------------------------------------
# 4. Check gaps
# --------------------------------------------------------------------------

def _old_rel_error(a, b):
    """rel_error before issue 11: NaN makes ``rel_error(...) > tol`` False."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


NAN_GRADIENTS = reference_answers(STAGE)["simple_conv1d"] + '''
_backward = SimpleConv1d.backward


def backward(self, dout):
    dx = _backward(self, dout)
    self.dw = np.full_like(self.dw, np.nan)
    self.db = np.full_like(self.db, np.nan)
    return np.full_like(dx, np.nan)


SimpleConv1d.backward = backward
'''


@needs_bwrap
def test_nan_gradients_earn_nothing():
    """NaN gradients from a layer whose forward is right. The old rel_error
    lets a NaN through its own comparison (shown below); in stage 1 every
    gradient is also compared with the reference and passed through as_array,
    so no weakened knob makes the attack pass there: the real grader must give
    both gradient checks 0 with a NaN message."""
    dx, num = np.full(5, np.nan), np.ones(5)
    assert not _old_rel_error(dx, num) > 1e-6  # the old gap
    assert common.rel_error(dx, num) > 1e-6 and common.rel_error(num, dx) == float("inf")
    result = grade(NAN_GRADIENTS, ["forward", "backward_dx", "backward_params"], "bwrap")
    assert [c.passed for c in result.checks] == [True, False, False]
    assert all("NaN" in c.message for c in result.checks[1:])


def _old_no_side_effects(ns, rng):
    """check_no_side_effects before issue 11: inputs unchanged, nothing else."""
    cls = common.need(ns, "SimpleConv1d")
    x, w, b = next(single_channel._cases(rng, 1, min_F=2))
    dout = rng.standard_normal(len(x) - len(w) + 1)
    keep = [a.copy() for a in (x, w, b, dout)]
    given = [common.place(cls, a) for a in keep]
    layer = common.call("SimpleConv1d(w, b)", cls, given[1], given[2])
    common.call("forward(x)", layer.forward, given[0])
    common.call("backward(dout)", layer.backward, given[3])
    for before, sent in zip(keep, given, strict=True):
        common.assert_unchanged("x, w, b or dout", before, common.look(sent))


@needs_bwrap
def test_a_layer_that_does_nothing_earns_nothing_in_no_side_effects(monkeypatch):
    """ZEROS leaves its inputs alone because it computes nothing: the old
    no_side_effects gave it the points; the real one first requires a right
    forward and dx."""
    with monkeypatch.context() as mp:
        mp.setattr(single_channel, "check_no_side_effects", _old_no_side_effects)
        weak = grade(ZEROS, ["no_side_effects"], "bwrap")
    assert weak.score == weak.max_score, weak.checks[0].message
    real = grade(ZEROS, ["no_side_effects"], "bwrap")
    assert real.score == 0 and "forward output is wrong" in real.checks[0].message


MINI_BATCH = get_stage("mini_batch")

CACHED = '''
import time as _time

_forward, _backward, _CACHE = Conv1d.forward, Conv1d.backward, {}


def _burn(seconds):  # stands for a slow (Python-loop) implementation
    end = _time.thread_time() + seconds
    while _time.thread_time() < end:
        pass


def forward(self, x):
    self._key = x.tobytes()
    if self._key not in _CACHE:
        _CACHE[self._key] = _forward(self, x)
        _burn(0.008)
    return _CACHE[self._key]


def backward(self, dout):
    key = (self._key, dout.tobytes())
    if key not in _CACHE:  # (a miss always follows a missed forward: its state is set)
        _CACHE[key] = _backward(self, dout)
        _burn(0.008)
    return _CACHE[key]


Conv1d.forward, Conv1d.backward = forward, backward
'''


@needs_bwrap
def test_cached_answers_do_not_pass_the_speed_check(monkeypatch):
    """A slow layer (8 ms of CPU per call) that caches its answers by input.
    The old speed check timed inputs it had already sent (emulated: every
    timed pair is the check's own x and dout): from the second call on the
    cache answers and the layer passes as fast. The real check times inputs
    never seen before: the layer is as slow as it is, and fails."""
    answers = reference_answers(MINI_BATCH)
    answers = dict(answers, conv1d=answers["conv1d"] + CACHED)
    with monkeypatch.context() as mp:
        mp.setattr(mini_batch, "_fresh_pairs", lambda rng, x, dout, number: [(x, dout)] * number)
        weak = grade(answers, ["vectorised"], "bwrap", stage=MINI_BATCH)
    assert weak.score == weak.max_score, weak.checks[0].message
    real = grade(answers, ["vectorised"], "bwrap", stage=MINI_BATCH)
    assert real.score == 0 and "time is too long" in real.checks[0].message


TRAIN_IN_A_THREAD = ZEROS + '''
import threading, time
_threads = []


def fit():
    """Returns at once; the training goes on in a thread."""
    def train():
        end = time.thread_time() + 1.5
        while time.thread_time() < end:
            pass
    _threads.append(threading.Thread(target=train))
    _threads[-1].start()
    return "fitted"


def decision_function():
    for thread in _threads:
        thread.join()
    return "logits"
'''


@needs_bwrap
def test_training_in_a_thread_is_timed():
    """Stage 5's time budget, on its clock (not the whole accuracy check: a full
    training costs minutes). fit() returns at once and trains 1.5 s of CPU in a
    thread that decision_function joins. The old budget timed fit() alone: it
    sees almost nothing. The real one (autograder/checks/training.py
    check_accuracy) reads the sandbox's cgroup CPU time from before fit to
    after decision_function: the thread's time is all there."""
    box = _open_box(TRAIN_IN_A_THREAD)
    try:
        if box.cpu_seconds() is None:
            pytest.skip("no cgroup here: the grader times with the wall clock")
        ns = box.begin_check(30.0)
        cpu0, wall0 = box.cpu_seconds(), time.perf_counter()
        assert ns["fit"]() == "fitted"
        fit_alone = time.perf_counter() - wall0
        assert ns["decision_function"]() == "logits"
        cpu = box.cpu_seconds() - cpu0
    finally:
        box.close()
    assert fit_alone < 0.75  # weakened: the budget saw (almost) nothing
    assert cpu >= 1.4  # real: the whole training


PRETRAINED = ZEROS + '''
import time
_end = time.thread_time() + 1.5
while time.thread_time() < _end:  # "training" while the answer cell runs, before any check
    pass


class Scratch1dCNNClassifier:
    """fit copies the weights trained above; the logits are the "trained" rule."""

    def __init__(self, **kwargs):
        pass

    def fit(self, X, y):
        self.classes_, self.layers_ = np.arange(10), []
        return self

    def decision_function(self, X):
        return np.asarray(X)[:, :10]
'''


@needs_bwrap
def test_training_done_while_the_answer_cells_run_is_not_free(monkeypatch):
    """check_accuracy itself, on a stand-in for MNIST-1D (tiny data, a test set
    whose labels a fixed rule gives, a budget of 1 s): the submission spends
    1.5 s of CPU "training" in its answer cell, before any check starts, and
    its fit() only copies the result. The budget covers training "however it
    is scheduled", so this should fail on time (or be refused while the cell
    runs); it fails on time: the clock starts when the answer cells do."""
    import autograder.checks.training as training
    from autograder.checks import CheckFailed
    from course.cnn1d_helpers import Dataset

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 40))
    data = Dataset(X, np.argmax(X[:, :10], axis=1), X, np.argmax(X[:, :10], axis=1),
                   "stand-in", "stand-in")
    monkeypatch.setattr(training, "secret_task", lambda rng: (data.X_train, data.y_train,
                                                              data.X_test, data.y_test))
    monkeypatch.setattr(training, "_reference_cpu_per_step", lambda data: 0.0)
    monkeypatch.setattr(training, "TIME_BUDGET_EXTRA", 1.0)
    try:
        box = _open_box(PRETRAINED)
    except SandboxError:
        return  # refused while the answer cell runs: the hole is closed that way
    try:
        ns = box.begin_check(30.0)
        with pytest.raises(CheckFailed, match="took"):
            training.check_accuracy(ns, rng)
    finally:
        box.close()


def test_stage5_a_lookup_table_of_the_public_test_set_fails_the_accuracy_test_set():
    """STAGE 5 (data only, no training: about 3 s). The public MNIST-1D test
    split can be regenerated by the student's helper inside the sandbox: a
    lookup table of it (no model at all) scores 1.0 on it, which is what the old
    accuracy check used (weakened). The real check's task is drawn from the
    secret (its own templates and signals): the table hits nothing and scores
    at chance."""
    from autograder.checks.training import ACCURACY_THRESHOLD, secret_task
    from course.datasets import load_mnist1d

    public = load_mnist1d()
    table = {row.tobytes(): label for row, label in zip(public.X_test, public.y_test,
                                                        strict=True)}
    table.update({row.tobytes(): label for row, label in zip(public.X_train, public.y_train,
                                                             strict=True)})

    def accuracy(X, y):
        return float(np.mean([table.get(row.tobytes(), 0) == label
                              for row, label in zip(X, y, strict=True)]))

    assert accuracy(public.X_test, public.y_test) == 1.0 >= ACCURACY_THRESHOLD
    rng = np.random.default_rng(derive_seed("training.accuracy", "s", SECRET, "digest"))
    _, _, X, y = secret_task(rng)
    assert not any(row.tobytes() in table for row in X)
    assert accuracy(X, y) < 0.3 < ACCURACY_THRESHOLD


# --------------------------------------------------------------------------
# 5. Reports are escaped
# --------------------------------------------------------------------------

HOSTILE_ID = "eve\x0b\x1b[31m</testsuite><b>|x|</b>"
HOSTILE_MESSAGE = ("</failure>]]><script>alert(1)</script> **bold** | col | "
                   "[link](javascript:alert(1)) <img src=x onerror=alert(1)>\\x00\\x0c\\x1b[2J")
HOSTILE = ZEROS + f'''
def _forward(self, x):
    raise ValueError("{HOSTILE_MESSAGE}")
SimpleConv1d.forward = _forward
'''


@needs_bwrap
def test_reports_are_valid_and_escaped_for_any_message(monkeypatch):
    """A student id (from a folder name: any byte but / and NUL) with XML-invalid
    control characters and markup, and a check message carrying markup and
    control characters. Weakened (the report writers without escaping) the
    JUnit XML does not parse, for the whole class, and the Markdown carries live
    HTML. The real writers: the XML parses and keeps the texts (control
    characters replaced), the Markdown shows every character as text."""
    result = grade(HOSTILE, ["forward"], "bwrap", student=HOSTILE_ID)
    honest = SubmissionResult(student="bob", assignment=STAGE.name, path="", max_score=1)
    results = [result, honest]
    assert "<script>" in result.checks[0].message  # the grader kept the message as text
    with monkeypatch.context() as mp:
        mp.setattr(reports, "_xml", str)
        mp.setattr(reports, "_cell", str)
        with pytest.raises(ET.ParseError):
            ET.fromstring(reports.to_junit(results).split("\n", 1)[1])
        assert "<script>" in reports.to_markdown(results)

    tree = ET.fromstring(reports.to_junit(results).split("\n", 1)[1])
    suites = tree.findall("testsuite")
    assert len(suites) == 2 and suites[0].get("name").startswith("eve\ufffd\ufffd[31m</testsuite>")
    failure = suites[0].find("testcase/failure")
    assert "<script>alert(1)</script>" in failure.text
    assert "<script>" in failure.get("message")
    markdown = reports.to_markdown(results)
    for live in ("<script", "<img", "</testsuite>", "<b>", "**bold**", "](javascript", "\x0b"):
        assert live not in markdown, live
    assert "&lt;script&gt;" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(rows) == 5  # 2 table headers, 2 summary rows, 1 failed check: no row injected
    assert all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows), rows


# --------------------------------------------------------------------------
# 6. Fail loudly
# --------------------------------------------------------------------------

def _cli(*args, env=None):
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run([PYTHON, "-m", "autograder", "grade", "--quiet", *args],
                          cwd=ROOT, env=dict(base, **(env or {})), capture_output=True,
                          text=True, timeout=240)


@pytest.fixture
def class_folder(tmp_path):
    """submitted/<student>/single_channel/: two students whose folder names differ
    only in spaces, one notebook renamed by a re-download, one that raises in a
    check, and a folder whose name is not UTF-8 (Latin-1 "Ren\xe9", as an LMS zip
    unpacked on Linux leaves it; Python sees a lone surrogate) with a right answer."""
    submitted = tmp_path / "submitted"
    for student, name, code in (("Ann Lee", "single_channel (1).ipynb", ZEROS),
                                ("Ann  Lee", STAGE.notebook, RAISING),
                                ("Ren\udce9", STAGE.notebook,
                                 reference_answers(STAGE)["simple_conv1d"])):
        folder = submitted / student / STAGE.name
        folder.mkdir(parents=True)
        nbformat.write(notebook(code), folder / name)
    return submitted


def test_cli_refuses_without_a_secret_or_a_sandbox(class_folder, monkeypatch):
    """No secret: the old CLI graded silently with the public development secret
    (weakened: that secret is public, so the hidden inputs are predictable by
    anyone); the real one exits 2 and says so. CNN1D_SANDBOX=bwrap with no
    bwrap on PATH: exit 2 with the install hint (no weakened counterpart: the
    old grader had no sandbox to ask for)."""
    monkeypatch.delenv("CNN1D_GRADER_SECRET", raising=False)
    assert derive_seed("single_channel.forward", "s") == derive_seed(
        "single_channel.forward", "s", DEFAULT_SECRET)  # the old silent fallback: public
    done = _cli(str(class_folder))
    assert done.returncode == 2 and "no course secret" in done.stderr, done.stderr
    done = _cli(str(class_folder), env={"CNN1D_GRADER_SECRET": SECRET, "CNN1D_SANDBOX": "bwrap",
                                        "PATH": "/nonexistent"})
    assert done.returncode == 2, done.stderr
    assert "bubblewrap" in done.stderr and INSTALL_HINT.split(";")[0] in done.stderr


@needs_bwrap
def test_cli_fails_loudly_and_grades_every_notebook(class_folder, tmp_path):
    """A class run: a renamed notebook is graded (the old CLI skipped it
    silently), two folders that differ only in spaces are two students (the old
    ids merged them), and a student object that raises inside a check costs
    that check only: every student has a report, exit 0. A folder name that is
    not UTF-8 is a student like any other: full marks for a right answer (the
    seed of its hidden inputs used to raise UnicodeEncodeError, caught as "the
    check could not use what your code returned": 0 points), and every report
    is written (the CSV used to raise). These are behaviours of the real CLI;
    there is no weakened grader to run them against."""
    out = tmp_path / "grades.json"
    done = _cli(str(class_folder), "--json", str(out), "--junit", str(tmp_path / "j.xml"),
                "--markdown", str(tmp_path / "m.md"), "--csv", str(tmp_path / "g.csv"),
                env={"CNN1D_GRADER_SECRET": SECRET, "CNN1D_SANDBOX": "bwrap"})
    assert done.returncode == 0, done.stderr
    subs = {s["student"]: s for s in json.loads(out.read_text())["submissions"]}
    assert sorted(subs) == ["Ann  Lee", "Ann Lee", "Ren\udce9"]
    assert subs["Ren\udce9"]["score"] == STAGE.max_score, subs["Ren\udce9"]["checks"]
    assert b"Ren\xe9," in (tmp_path / "g.csv").read_bytes()  # the folder's own bytes
    assert subs["Ann Lee"]["path"].endswith("single_channel (1).ipynb")
    assert all(len(s["checks"]) == len(STAGE.checks) for s in subs.values())
    raised = {c["id"]: c for c in subs["Ann  Lee"]["checks"]}["single_channel.backward_params"]
    assert not raised["passed"] and "could not use" in raised["message"]
    ET.parse(tmp_path / "j.xml")


FENCE_BREAK = ("forward(x) raised ValueError: ```\n</details><img src=x onerror=alert(1)>\n"
               "# All checks passed: 10 / 10\n````")


def test_ci_feedback_is_one_file_per_student_and_escaped(tmp_path):
    """autograder/ci_summary.py (the CI workflow's per-student feedback): a
    student-controlled message that closes the code fence it is shown in (and
    then writes headings, HTML, a fake score), a student id with markup, and
    two distinct ids that the file-name sanitising mapped to one file ("Ann
    Lee" and "Ann_Lee": one student's feedback overwrote the other's). Found by
    this suite and fixed; no weakened grader needed: the assertions are on the
    real writer."""
    from autograder import ci_summary

    assert sandbox.clean_text(FENCE_BREAK) == FENCE_BREAK  # the grader keeps it as text

    def sub(student, score, message):
        return {"student": student, "assignment": STAGE.name, "path": "", "score": score,
                "max_score": 10, "checks": [{"id": "single_channel.forward", "points": 0,
                                             "max_points": 3, "passed": False,
                                             "message": message}]}

    grades = tmp_path / "grades.json"
    grades.write_text(json.dumps({"submissions": [
        sub("Ann Lee", 0, FENCE_BREAK), sub("Ann_Lee", 7, "fine"),
        sub("<b>mallory</b>", 1, "x")]}))
    assert ci_summary.main([str(grades), "--feedback", str(tmp_path / "fb")]) == 0
    files = {p.name: p.read_text() for p in (tmp_path / "fb").iterdir()}
    assert len(files) == 3, sorted(files)
    assert sum("7 / 10" in text for text in files.values()) == 1
    ann = next(text for text in files.values() if "onerror" in text)
    assert "7 / 10" not in ann
    lines = ann.splitlines()
    opening = next(i for i, line in enumerate(lines) if line.strip().startswith("```"))
    fence = lines[opening].strip()
    closing = next(i for i in range(opening + 1, len(lines)) if lines[i].strip() == fence)
    inside = "\n".join(line[2:] for line in lines[opening + 1:closing])
    assert inside == FENCE_BREAK  # the whole message, and only it, is in the code block
    assert not any("<b>" in text for text in files.values())


def test_nobody_fallback_refuses_when_other_students_or_the_gradebook_are_readable():
    """Where bubblewrap cannot run, the worker runs as the user nobody, allowed
    only when what it must not see is unreadable to nobody. In an nbgrader
    course folder whose files are world-readable (the default umask), the other
    students' submissions and the gradebook are readable by nobody: the
    fallback must refuse (as it does for solutions/). No grading is needed:
    the question is which paths the grader checks."""
    import shutil
    import tempfile

    from autograder.isolation import nobody_problems

    course = Path(tempfile.mkdtemp(prefix="redteam-course-"))
    try:
        os.chmod(course, 0o755)
        notebooks = {}
        for student in ("alice", "bob"):
            nb = course / "submitted" / student / STAGE.name / STAGE.notebook
            nb.parent.mkdir(parents=True)
            nb.write_text("{}")
            notebooks[student] = nb
        (course / "gradebook.db").write_text("")
        for folder, _dirs, files in os.walk(course):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        problems = nobody_problems(autograder.grade._hidden_paths(notebooks["alice"]))
        assert any(str(course / "submitted" / "bob") in p or str(course / "submitted") + " "
                   in p + " " for p in problems), problems
        assert any("gradebook.db" in p or f"{course} is readable" in p for p in problems), problems
    finally:
        shutil.rmtree(course)
