"""The grader's side of the sandbox: one sandbox per student, a fresh
process per check, and proxies that make the submission's objects look
local to the checks.

A ``Sandbox`` starts ``autograder/worker.py`` behind the operating-system
barrier that ``autograder/isolation.py`` chose (bubblewrap, else the user
nobody, else nothing when asked for by name), in a cgroup of its own where
the machine has one. The worker imports numpy and matplotlib, runs the
stage's setup cell and the submission's answer cells once, then forks a
child for every check: a check starts from the state the answers left, and
nothing one check does reaches the next.

A check receives a ``RemoteNamespace``: ``ns["Conv1d"]`` is a proxy of the
student's class; calling it, its methods and reading its attributes send a
request to the child and bring back data (numbers, strings, arrays) or
another proxy. The comparison with the reference happens here, in a process
the submission's code never ran in.

The worker is untrusted. Every request has a deadline for writing it and for
reading the answer; a reply is bounded in size before it is decoded (the
wire format has no compression); nothing the worker says changes the
grader's own arrays; a reply that breaks the protocol ends the sandbox.
"""

import builtins
import functools
import itertools
import os
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import isolation
from .isolation import NOBODY, Cgroup, bwrap_command
from .worker import Codec, WireError, pack, unpack

WORKER = Path(__file__).with_name("worker.py")
MAX_REPLY = 64 << 20     # bytes: far above any honest reply (the largest is ~1 MB)
#: Bytes a check may hold from all its replies together, each array counted at
#: its size once converted to float64 (complex: 16 bytes) as the checks do:
#: far above an honest check's (the largest, mini_batch's vectorised check,
#: ~40 MiB), far below what would strain the grader, which may keep them all.
MAX_CHECK_DATA = 256 << 20
MAX_MESSAGE = 2000       # characters of a student exception's message that are kept
#: The audit hook, a second layer inside the worker. Tests turn it off to show
#: that every barrier holds without it (tests/test_redteam.py).
AUDIT_HOOK = True
#: A whole check may take this many times its per-call timeout (plus 30 s).
CHECK_BUDGET = 6

# Exceptions raised by student code that a check may expect by type (e.g.
# output_size must raise ValueError); every other type becomes RemoteError.
_MIRRORED = {name: getattr(builtins, name) for name in (
    "ValueError", "TypeError", "IndexError", "KeyError", "ZeroDivisionError",
    "NotImplementedError", "AttributeError", "RuntimeError", "AssertionError",
    "ArithmeticError", "FloatingPointError", "OverflowError", "MemoryError", "NameError",
    "PermissionError", "RecursionError", "UnboundLocalError")}


class SandboxError(Exception):
    """The worker could not answer: it timed out, died or broke the protocol."""


class SetupError(RuntimeError):
    """The stage's setup cell (the kit's own code) failed in the sandbox."""


class RemoteError(Exception):
    """An exception of a type the grader does not mirror, raised by student code."""


def clean_text(text, limit=MAX_MESSAGE):
    """Printable text only (no control or escape characters), at most ``limit``."""
    text = str(text)[:limit]
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "\ufffd" for ch in text)


@functools.cache
def font_lists():
    """matplotlib's font list(s) of the grader's own user (``fontlist-v*.json`` in
    matplotlib's cache folder), made once by importing matplotlib's font
    manager in a process of the kit's own code when there is none. A sandbox
    gets a copy: without one, matplotlib opens every font of the system to
    build the list, 0.3-0.9 s at each sandbox start. Nothing a sandbox does
    reaches these files (they are copied in, and the folder is not bound);
    [] when none can be made (each sandbox then builds its own)."""
    home = os.environ.get("HOME") or os.path.expanduser("~")
    folder = Path(os.environ.get("MPLCONFIGDIR") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path(home) / ".cache") / "matplotlib")
    if not any(folder.glob("fontlist-v*.json")):
        try:
            subprocess.run([sys.executable, "-I", "-c", "import matplotlib.font_manager"],
                           env={"PATH": "/usr/bin:/bin", "HOME": home, "MPLBACKEND": "Agg",
                                "MPLCONFIGDIR": str(folder)},
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return []
    return sorted(path for path in folder.glob("fontlist-v*.json") if path.is_file())


def _exit_reason(code):
    return {-signal.SIGKILL: "was killed (memory, process or CPU limit?)",
            -signal.SIGXCPU: "was stopped at the CPU-time limit",
            -signal.SIGSEGV: "crashed (segmentation fault)"}.get(
        code, f"ended with exit code {code} (os._exit, sys.exit in a thread, or a crash)")


class Sandbox:
    """One student's sandbox: a template process that has imported numpy and
    matplotlib, a process per notebook (stage) forked from it, and a process
    per check forked from that.

    Parameters
    ----------
    assets : dict of str to iterable of Path
        For each stage graded here, the files readable by its code (the
        stage's student helpers): the same files for every stage of one
        sandbox (ValueError otherwise), so that nothing of another stage is
        ever within reach of a notebook's code.
    barrier : {"bwrap", "nobody", "none"}
        The operating-system barrier (see autograder/isolation.py).
    memory_mb, cpu_seconds, max_pids, scratch_mb : int
        Limits of the whole sandbox (memory and processes through its cgroup
        where there is one, rlimits of each process otherwise).
    """

    def __init__(self, assets, barrier="bwrap", memory_mb=3072, cpu_seconds=600,
                 max_pids=64, scratch_mb=64):
        self.assets = {stage: [Path(a) for a in files] for stage, files in assets.items()}
        if len({tuple(sorted(map(str, files))) for files in self.assets.values()}) > 1:
            # one stage's files (stage 5's reference layers) must never be
            # readable where another stage's notebook runs
            raise ValueError(f"stages with different files cannot share a sandbox: "
                             f"{sorted(self.assets)}")
        self.barrier = barrier
        self.memory_mb, self.cpu_limit = memory_mb, cpu_seconds
        self.max_pids, self.scratch_mb = max_pids, scratch_mb
        self.proc = self.cgroup = None
        self.dead = "the sandbox has not been started"
        self.generation = 0        # one per check child: proxies of an old child are void
        self.in_check = self.stage = None
        self.timeout, self.check_deadline = 30.0, None
        # time.monotonic() by which the current notebook must be graded (set by
        # autograder.grade), and what a check that runs past it is told
        self.deadline, self.deadline_reason = None, ""
        self.check_data = 0        # what this check holds from replies (MAX_CHECK_DATA)
        self.stage_started = (None, time.perf_counter())
        self.ids = itertools.count(1)
        self.dirs = []

    # ------------------------------------------------------------ lifecycle
    def _launch(self):
        code_dir = Path(tempfile.mkdtemp(prefix="cnn1d-grader-"))
        self.dirs.append(code_dir)
        shutil.copyfile(WORKER, code_dir / WORKER.name)
        (code_dir / "fonts").mkdir()
        for path in font_lists():
            shutil.copyfile(path, code_dir / "fonts" / path.name)
        for stage, files in self.assets.items():
            (code_dir / "assets" / stage).mkdir(parents=True)
            for path in files:
                shutil.copyfile(path, code_dir / "assets" / stage / path.name)
        for folder, _, files in os.walk(code_dir):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        self.cgroup = Cgroup(self.memory_mb, self.max_pids)
        filter_fd = None
        if self.barrier == "bwrap":
            filter_fd = None if isolation.SECCOMP_OFF else isolation.seccomp_fd()
            cmd = bwrap_command(sys.executable, code_dir, self.scratch_mb, seccomp=filter_fd)
            cmd += self._worker_options()
            env, cwd = {"PATH": "/usr/bin:/bin"}, "/"
        else:
            scratch = Path(tempfile.mkdtemp(prefix="cnn1d-sandbox-"))
            self.dirs.append(scratch)
            if self.barrier == "nobody":
                os.chown(scratch, NOBODY, NOBODY)
            cmd = [sys.executable, "-I", str(code_dir / "worker.py"), str(scratch),
                   *([] if AUDIT_HOOK else ["no-audit-hook"])]
            env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "LANG": "C.UTF-8",
                   "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(scratch),
                   "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
            cwd = scratch
        try:
            self.proc = subprocess.Popen(
                cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
                pass_fds=() if filter_fd is None else (filter_fd,), preexec_fn=self._preexec)
        finally:
            if filter_fd is not None:
                os.close(filter_fd)
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.codec = _ProxyCodec(self)
        self.dead = None

    def _worker_options(self):
        """What the worker sets up before any code of a submission runs."""
        options = [f"max-pids={self.max_pids}"] if self.barrier == "bwrap" else []
        return options + ([] if AUDIT_HOOK else ["no-audit-hook"])

    def _preexec(self):
        # Runs in the child between fork and exec, maybe while another thread
        # of the grader holds a lock: no imports, no Python-level locks here.
        if self.cgroup:
            self.cgroup.join()
        limit = self.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_limit, self.cpu_limit + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.scratch_mb << 20,) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.barrier == "nobody":
            resource.setrlimit(resource.RLIMIT_NPROC, (self.max_pids, self.max_pids))
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)

    def launch(self):
        """Start the sandbox now (it imports numpy and matplotlib in the background;
        ``start`` waits for it)."""
        if self.dead:
            self.kill()
            self._launch()

    def start(self, stage, setup, answers):
        """Start a process for ``stage`` (launching the sandbox if needed), run
        the setup cell and the answer cells in it; returns notes on the answer
        cells that raised. SandboxError when the setup itself fails."""
        if self.stage is not None:
            self.end_stage()
        self.launch()
        if stage not in self.assets:
            raise ValueError(f"this sandbox was not made for stage {stage!r}")
        reply = self._exchange({"op": "stage", "stage": stage}, (), 30.0)
        if reply.get("value") != "ready":
            self._fail("the sandbox did not start a process for the stage")
        self.stage = stage
        try:
            self.request({"op": "exec", "code": setup, "label": "setup"}, timeout=120)
        except Exception as exc:  # noqa: BLE001 - the kit's code, not the student's
            raise SetupError(f"the setup cell of {stage} failed in the sandbox: "
                             f"{type(exc).__name__}: {exc}") from None
        # Everything the stage's process does from here on (answer cells
        # included) is the submission's: a check that budgets training time
        # counts from this point (stage_clock), whatever ran in between.
        self.stage_started = (self.cpu_seconds(), time.perf_counter())
        notes = []
        for grade_id, code in answers:
            try:
                self.request({"op": "exec", "code": code, "label": grade_id}, timeout=30)
            except SandboxError:
                raise
            except Exception as exc:  # noqa: BLE001 - the student's cell failed: note it
                first = str(exc).splitlines()[0] if str(exc) else ""
                notes.append(f"answer cell {grade_id!r} raised {type(exc).__name__}: {first}")
        return notes

    def begin_check(self, timeout):
        """Fork a fresh child for one check; returns its namespace.

        ``timeout`` bounds each request; the whole check gets CHECK_BUDGET
        times that (a submission that answers each call just in time cannot
        make a check, or the class, last for hours)."""
        self.timeout = timeout
        self.check_deadline = time.monotonic() + CHECK_BUDGET * timeout + 30
        self.generation += 1
        self.codec = _ProxyCodec(self)
        self.check_data = 0
        reply = self._exchange({"op": "fork"}, (), 30.0)
        if reply.get("value") != "ready":
            self._fail("the process running your code did not start a check")
        self.in_check = True
        return RemoteNamespace(self)

    def end_check(self):
        """Tell the check's child to exit; its parent reports how it ended."""
        if self.dead or not self.in_check:
            return
        self.in_check = False
        self._ended({"op": "bye"})

    def end_stage(self):
        """End the stage's process (after its checks)."""
        self.end_check()
        if self.dead or self.stage is None:
            self.stage = None
            return
        self.stage = None
        self._ended({"op": "quit"})
        self._sweep()

    def _sweep(self):
        """Kill what a stage left running in the sandbox (a process its code
        started): the next notebook starts with the template process alone.
        Processes are told apart by their pid inside the sandbox's PID
        namespace (the kernel's NSpid), never by anything they say."""
        if self.barrier != "bwrap" or not self.cgroup or self.dead:
            return
        killed = []
        for pid in self.cgroup.pids():
            try:
                with open(f"/proc/{pid}/status") as status:
                    line = next(row for row in status if row.startswith("NSpid:"))
            except (OSError, StopIteration):
                continue
            inner = line.split()[1:]
            # bwrap itself has one level; its init is 1 inside, the template 2
            if len(inner) >= 2 and int(inner[-1]) > 2:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + 2  # gone once the sandbox's init has reaped them
        while killed and time.monotonic() < deadline:
            killed = [pid for pid in killed if pid in self.cgroup.pids()]
            time.sleep(0.01)

    def _ended(self, header):
        try:
            reply = self._exchange(header, (), 5.0)
        except SandboxError:
            return
        if "ended" not in reply:  # the child kept talking: nothing it says is believed
            try:
                self._fail("the process running your code broke the grader's protocol")
            except SandboxError:
                pass

    def stage_clock(self):
        """(seconds, what) used by the sandbox since the current stage's answer cells
        began: CPU time (cpu_seconds), else wall-clock time."""
        cpu0, wall0 = self.stage_started
        cpu = self.cpu_seconds()
        if cpu is not None and cpu0 is not None:
            return cpu - cpu0, "CPU time"
        return time.perf_counter() - wall0, "wall-clock time"

    def cpu_seconds(self):
        """CPU time of the whole sandbox so far (every process and thread, exited
        ones included), from the kernel's cgroup accounting, else from its
        accounting of the sandbox's processes (a grader that is not root)."""
        if self.cgroup:
            return self.cgroup.cpu_seconds()
        if self.proc is None or self.proc.poll() is not None:
            return None
        return isolation.tree_cpu_seconds(self.proc.pid)

    def kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.proc.kill()
            if self.cgroup:
                self.cgroup.kill_all()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        if self.cgroup:
            self.cgroup.remove()
            self.cgroup = None

    def close(self):
        if self.proc is not None and self.proc.poll() is None and not self.dead:
            try:
                self._write(pack({"op": "quit"}, []), time.monotonic() + 1)
            except (SandboxError, OSError):
                pass
        self.kill()
        self.proc = None
        self.dead = "the sandbox was closed"
        self.stage = self.in_check = None
        for folder in self.dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.dirs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ transport
    def _fail(self, reason):
        self.kill()
        self.dead = reason
        self.stage = self.in_check = None
        raise SandboxError(reason)

    def _write(self, data, deadline):
        fd, view = self.proc.stdin.fileno(), memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            _, ready, _ = select.select([], [fd], [], left)
            if not ready:
                raise TimeoutError
            try:
                view = view[os.write(fd, view[:1 << 20]):]
            except BlockingIOError:
                continue

    def _read_exact(self, n, deadline):
        fd, chunks, got = self.proc.stdout.fileno(), [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _exchange(self, header, arrays, timeout):
        """Send one message, read one reply; (header, arrays) of the reply."""
        if self.dead:
            raise SandboxError(self.dead)
        # the notebook's (or the student's) time budget bounds every exchange:
        # waiting just under each timeout never adds up to more than the budget
        budget_left = None if self.deadline is None else self.deadline - time.monotonic()
        if budget_left is not None and budget_left <= 0:
            self._fail(self.deadline_reason)
        by_budget = budget_left is not None and budget_left < timeout
        try:
            deadline = time.monotonic() + (budget_left if by_budget else timeout)
            self._write(pack(header, list(arrays)), deadline)
            (size,) = struct.unpack("<Q", self._read_exact(8, deadline))
            if size > MAX_REPLY:
                self._fail(f"the process running your code sent a reply of {size} bytes "
                           f"(more than {MAX_REPLY >> 20} MiB); the grader stopped it")
            reply, reply_arrays = unpack(self._read_exact(size, deadline))
            if not isinstance(reply, dict):
                raise WireError("a reply that is not an object")
            self.check_data += size + sum(a.size * max(8, a.dtype.itemsize, 16 * (
                a.dtype.kind == "c")) for a in reply_arrays)
            if self.check_data > MAX_CHECK_DATA:
                self._fail(f"the replies of your code in this check add up to more than "
                           f"{MAX_CHECK_DATA >> 20} MiB (as float64 arrays); the grader "
                           "stopped it")
        except TimeoutError:
            if by_budget:
                self._fail(self.deadline_reason)
            self._fail(f"your code did not finish within {timeout:g} s (an infinite loop, "
                       "or far too slow); the grader stopped it")
        except (EOFError, BrokenPipeError, ConnectionResetError):
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self._fail(f"the process running your code {_exit_reason(code)}")
        except WireError as exc:
            self._fail(f"the process running your code sent an unreadable reply ({exc})")
        self._reply_arrays = reply_arrays
        return reply

    def request(self, header, arrays=(), timeout=None):
        """Send one request; return the decoded reply value (or raise)."""
        timeout = self.timeout if timeout is None else timeout
        if self.in_check and self.check_deadline is not None:
            left = self.check_deadline - time.monotonic()
            if left <= 0:
                self._fail("your code used up the time of the whole check; the grader "
                           "stopped it")
            timeout = min(timeout, left)
        header = dict(header, id=next(self.ids))
        reply = self._exchange(header, arrays, timeout)
        if "ended" in reply:  # the check's child is gone; its parent says so
            if self.in_check:
                self.in_check = False
            else:
                self.stage = None
            code = reply.get("ended")
            reason = _exit_reason(code if isinstance(code, int) else None)
            raise SandboxError(f"the process running your code {reason}")
        if header["op"] != "exec" and reply.get("id", header["id"]) != header["id"]:
            self._fail("the process running your code broke the grader's protocol")
        if not reply.get("ok"):
            name = clean_text(reply.get("error", "Exception"), 60)
            message = clean_text(reply.get("message", ""))
            frames = reply.get("traceback") or []
            if isinstance(frames, list) and frames:
                message += "\n" + clean_text("\n".join(str(f) for f in frames[-8:]))
            raise _MIRRORED.get(name, RemoteError)(
                message if name in _MIRRORED else f"{name}: {message}")
        try:
            return self.codec.decode(reply.get("value"), self._reply_arrays)
        except (WireError, IndexError, KeyError, TypeError, ValueError) as exc:
            self._fail(f"the process running your code sent an unreadable reply ({exc})")

    # --------------------------------------------------------------- values
    def encode(self, value, arrays):
        """Encode a request argument (data or a proxy of this check's child)."""
        return self.codec.encode(value, arrays)

    def put(self, array):
        """Keep a copy of ``array`` in the child; a proxy to pass to student code."""
        return self.request({"op": "put"}, [np.asarray(array)])

    def fetch(self, remote):
        """The current contents of an array kept in the child (data the grader
        asked for; compared by the grader with its own copy)."""
        value = self.request({"op": "fetch", "target": self.codec.handle_of(remote)
                              ["__handle__"]})
        return np.array(value)

    def map(self, calls):
        """Run many calls in one request: each (target, args, kwargs, then) is
        ``target(*args, **kwargs)`` followed by the ``then`` method calls on its result."""
        arrays, wire = [], []
        for target, args, kwargs, then in calls:
            wire.append({"target": self.codec.handle_of(target)["__handle__"],
                         "args": self.encode(tuple(args), arrays),
                         "kwargs": self.encode(dict(kwargs), arrays),
                         "then": [[m, self.encode(tuple(a), arrays), self.encode(dict(k), arrays)]
                                  for m, a, k in then]})
        return self.request({"op": "map", "calls": wire}, arrays)


class _ProxyCodec(Codec):
    """The grader's codec: handles become (cached) proxies; only this check's
    proxies may be sent back, and nothing else that is not data. Arrays go
    out as copies: nothing the worker does reaches the grader's arrays."""

    def __init__(self, sandbox):
        super().__init__()
        self.sandbox = sandbox
        self.generation = sandbox.generation
        self.proxies = {}

    def handle_of(self, value):
        if isinstance(value, Remote) and value._worker is self.sandbox \
                and value._generation == self.generation:
            return {"__handle__": value._handle}
        raise TypeError(f"cannot send a {type(value).__name__} to the sandbox")

    def resolve(self, wire):
        handle = int(wire["__handle__"])
        if handle not in self.proxies:
            self.proxies[handle] = Remote(self.sandbox, handle,
                                          clean_text(wire.get("type", "object"), 60))
        return self.proxies[handle]

    def decode(self, value, arrays):
        value = super().decode(value, arrays)
        return value.copy() if isinstance(value, np.ndarray) else value


class Remote:
    """A proxy of an object living in the check's child: call it, read its attributes."""

    def __init__(self, worker, handle, type_name):
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_generation", worker.generation)

    def __call__(self, *args, **kwargs):
        arrays = []
        header = {"op": "call", "target": self._handle, "args": self._worker.encode(args, arrays),
                  "kwargs": self._worker.encode(kwargs, arrays)}
        return self._worker.request(header, arrays)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._worker.request({"op": "getattr", "target": self._handle, "name": name})

    def __setattr__(self, name, value):
        arrays = []
        self._worker.request({"op": "setattr", "target": self._handle, "name": name,
                              "value": self._worker.encode(value, arrays)}, arrays)

    def __repr__(self):
        return f"<student {self._type}>"


class RemoteNamespace:
    """``ns[name]`` for the names the submission defined."""

    def __init__(self, worker):
        self._worker = worker

    def __getitem__(self, name):
        try:
            return self._worker.request({"op": "get", "name": name})
        except KeyError:
            raise KeyError(name) from None

    def __contains__(self, name):
        try:
            self[name]
        except KeyError:
            return False
        return True

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default
