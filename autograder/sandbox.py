"""The grader's side of the sandbox: a worker process per check, and proxies
that make the submission's objects look local to the checks.

A check receives a ``RemoteNamespace``: ``ns["Conv1d"]`` is a proxy of the
student's class; calling it, its methods and reading its attributes send a
request to the worker and bring back data (numbers, strings, arrays) or
another proxy. The comparison with the reference happens here, in a process
the submission's code never ran in.

The worker (``autograder/worker.py``) runs with a scrubbed environment in a
scratch folder holding only the stage's student helpers, under limits on
memory, CPU time and file size, in its own session (so a runaway is killed
with all its children), and as the unprivileged user ``nobody`` when the
grader runs as root and the interpreter is reachable by that user.
"""

import builtins
import io
import itertools
import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

import numpy as np

from .worker import Codec, pack

WORKER = Path(__file__).with_name("worker.py")
NOBODY = 65534

# Exceptions raised by student code that a check may expect by type (e.g.
# output_size must raise ValueError); every other type becomes RemoteError.
_MIRRORED = {name: getattr(builtins, name) for name in (
    "ValueError", "TypeError", "IndexError", "KeyError", "ZeroDivisionError",
    "NotImplementedError", "AttributeError", "RuntimeError", "AssertionError",
    "ArithmeticError", "FloatingPointError", "OverflowError", "MemoryError", "NameError",
    "PermissionError", "RecursionError", "UnboundLocalError")}


class SandboxError(Exception):
    """The worker could not answer: it timed out, died or broke the protocol."""


class RemoteError(Exception):
    """An exception of a type the grader does not mirror, raised by student code."""


def _reachable_by_others(path):
    """True when every folder on the way to ``path`` and the file are o+x."""
    path = Path(os.path.realpath(path))
    for part in [*path.parents, path]:
        if not part.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _limits(memory_mb, cpu_seconds, drop_privileges):
    def apply():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if drop_privileges:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
    return apply


class Worker:
    """One sandboxed process holding one submission's namespace.

    Parameters
    ----------
    assets : iterable of Path
        Files copied into the scratch folder (the stage's student helpers).
    memory_mb, cpu_seconds : int
        Resource limits of the process.
    """

    def __init__(self, assets=(), memory_mb=3072, cpu_seconds=600):
        self.dir = Path(tempfile.mkdtemp(prefix="cnn1d-sandbox-"))
        for asset in assets:
            shutil.copyfile(asset, self.dir / Path(asset).name)
        drop = os.getuid() == 0 and _reachable_by_others(sys.executable) \
            and _reachable_by_others(WORKER)
        if drop:
            os.chown(self.dir, NOBODY, NOBODY)
            for f in self.dir.iterdir():
                os.chown(f, NOBODY, NOBODY)
        self.unprivileged = drop
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "LANG": "C.UTF-8",
               "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(self.dir),
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-I", str(WORKER), str(self.dir)], cwd=self.dir, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            preexec_fn=_limits(memory_mb, cpu_seconds, drop), close_fds=True)
        self.codec = _ProxyCodec(self)
        self.dead = None

    # ------------------------------------------------------------ transport
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

    def request(self, header, arrays=(), timeout=30.0):
        """Send one request; return the decoded reply value (or raise)."""
        if self.dead:
            raise SandboxError(self.dead)
        try:
            self.proc.stdin.write(pack(header, list(arrays)))
            self.proc.stdin.flush()
            deadline = time.monotonic() + timeout
            (size,) = np.frombuffer(self._read_exact(8, deadline), dtype="<u8")
            if size > 2**31:
                raise EOFError
            data = self._read_exact(int(size), deadline)
        except TimeoutError:
            self.kill()
            self.dead = (f"your code did not finish within {timeout:g} s (an infinite loop, "
                         "or far too slow); the grader stopped it")
            raise SandboxError(self.dead) from None
        except (EOFError, BrokenPipeError, OSError):
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
            self.kill()
            reason = {-signal.SIGKILL: "killed (memory or CPU limit?)",
                      -signal.SIGXCPU: "stopped at the CPU-time limit",
                      -signal.SIGSEGV: "crashed (segmentation fault)"}.get(
                code, f"ended with exit code {code} (os._exit, sys.exit in a thread, or a "
                      "crash)")
            self.dead = f"the process running your code {reason}"
            raise SandboxError(self.dead) from None
        try:
            npz = np.load(io.BytesIO(data), allow_pickle=False)
            reply = json.loads(npz["header"].tobytes().decode())
            reply_arrays = {k: npz[k] for k in npz.files if k != "header"}
        except Exception:  # noqa: BLE001 - anything malformed is the submission's doing
            self.kill()
            self.dead = "the process running your code sent an unreadable reply"
            raise SandboxError(self.dead) from None
        self.codec.apply_synced(reply.get("synced"), reply_arrays)
        if not reply.get("ok"):
            name, message = reply.get("error", "Exception"), str(reply.get("message", ""))
            if reply.get("traceback"):
                message += "\n" + "\n".join(str(line) for line in reply["traceback"])
            raise _MIRRORED.get(name, RemoteError)(
                message if name in _MIRRORED else f"{name}: {message}")
        return self._decode(reply.get("value"), reply_arrays)

    # --------------------------------------------------------------- values
    def _decode(self, value, arrays):
        return self.codec.decode(value, arrays)

    def encode(self, value, arrays):
        """Encode a request argument (data or a proxy of this worker)."""
        return self.codec.encode(value, arrays)

    # ------------------------------------------------------------ lifecycle
    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc.poll() is None and not self.dead:
            try:
                self.proc.stdin.write(pack({"op": "bye"}, []))
                self.proc.stdin.flush()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ProxyCodec(Codec):
    """The grader's codec: handles become (cached) proxies; only this worker's
    proxies may be sent back, and nothing else that is not data."""

    def __init__(self, worker):
        super().__init__()
        self.worker = worker
        self.proxies = {}
        self.sent = weakref.WeakValueDictionary()  # token -> the grader's array
        self.tokens = itertools.count()

    def encode(self, value, arrays):
        if type(value) is np.ndarray and not value.dtype.hasobject:
            token = next(self.tokens)
            self.sent[token] = value
            arrays.append(value)
            return {"__array__": len(arrays) - 1, "token": token}
        return super().encode(value, arrays)

    def apply_synced(self, synced, arrays):
        """Copy in-place changes the submission made to sent arrays back into them."""
        for token, wire in synced or ():
            target = self.sent.get(token)
            new = arrays.get(f"a{wire['__array__']}") if isinstance(wire, dict) else None
            if target is not None and new is not None and new.shape == target.shape:
                np.copyto(target, new, casting="unsafe")

    def handle_of(self, value):
        if isinstance(value, Remote) and value._worker is self.worker:
            return {"__handle__": value._handle}
        raise TypeError(f"cannot send a {type(value).__name__} to the sandbox")

    def resolve(self, wire):
        handle = int(wire["__handle__"])
        if handle not in self.proxies:
            self.proxies[handle] = Remote(self.worker, handle, str(wire.get("type", "object")))
        return self.proxies[handle]


class Remote:
    """A proxy of an object living in the worker: call it, read its attributes."""

    def __init__(self, worker, handle, type_name):
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_handle", handle)
        object.__setattr__(self, "_type", type_name)

    def _timeout(self):
        return getattr(self._worker, "timeout", 30.0)

    def __call__(self, *args, **kwargs):
        arrays = []
        header = {"op": "call", "target": self._handle, "args": self._worker.encode(args, arrays),
                  "kwargs": self._worker.encode(kwargs, arrays)}
        return self._worker.request(header, arrays, self._timeout())

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._worker.request({"op": "getattr", "target": self._handle, "name": name},
                                    (), self._timeout())

    def __setattr__(self, name, value):
        arrays = []
        self._worker.request({"op": "setattr", "target": self._handle, "name": name,
                              "value": self._worker.encode(value, arrays)}, arrays,
                             self._timeout())

    def time_calls(self, *args, repeats=5, **kwargs):
        """Durations, measured in the worker, of ``repeats`` calls."""
        arrays = []
        header = {"op": "time", "target": self._handle, "repeats": repeats,
                  "args": self._worker.encode(args, arrays),
                  "kwargs": self._worker.encode(kwargs, arrays)}
        return self._worker.request(header, arrays, self._timeout() * 2)

    def __repr__(self):
        return f"<student {self._type}>"


class RemoteNamespace:
    """``ns[name]`` for the names the submission defined in its worker."""

    def __init__(self, worker):
        self._worker = worker

    def __getitem__(self, name):
        try:
            return self._worker.request({"op": "get", "name": name}, (), 30.0)
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
