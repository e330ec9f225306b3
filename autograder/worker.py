"""The sandbox side of grading: runs a submission's code, answers requests.

This file runs as a script in its own process (``python -I worker.py DIR``),
started by ``autograder/sandbox.py``: as an unprivileged user when the grader
is root, under resource limits, with a scrubbed environment, in a scratch
folder that holds only the stage's student helpers. It imports nothing from
the kit, so the submission can neither import the reference nor the checks.

Only data crosses the pipe: each message is an ``.npz`` archive (loaded with
``allow_pickle=False``) whose ``header`` entry is JSON; arrays travel as
entries of the archive. Objects that are not data (the student's classes,
instances, functions) stay here and are referred to by handle numbers.

An audit hook (PEP 578, which cannot be removed once added) refuses what a
submission never needs: opening files outside the scratch folder and the
Python installation, starting processes, sending signals, loading ctypes,
opening sockets.
"""

import collections
import io
import json
import os
import struct
import sys
import time
import traceback
import weakref

import numpy as np

SCRATCH = None  # the scratch folder, set by main()
_READ_ROOTS = tuple(os.path.realpath(p) for p in {
    sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
    os.path.dirname(os.path.dirname(np.__file__)),  # site-packages
    "/usr/lib", "/usr/share", "/usr/local/lib", "/etc", "/proc/self", "/dev",
    "/sys/devices/system/cpu",
})
_BLOCKED_EVENTS = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "os.kill", "os.killpg", "pty.spawn", "socket.connect", "socket.bind",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function",
    "sys._current_frames",
    "os.chmod", "os.chown", "os.remove", "os.rename", "os.rmdir", "shutil.rmtree",
}
_BLOCKED_MODULES = {"ctypes", "_ctypes", "cffi"}


def _inside(path, root):
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _audit(event, args):
    if event in _BLOCKED_EVENTS:
        raise PermissionError(f"the grader does not allow {event} in a submission")
    if event == "import" and args and args[0] in _BLOCKED_MODULES:
        raise PermissionError(f"the grader does not allow importing {args[0]} in a submission")
    if event == "open" and args and isinstance(args[0], str | bytes):
        path = os.path.realpath(os.fsdecode(args[0]))
        mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = any(ch in mode for ch in "wax+") or bool(
            flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        if _inside(path, SCRATCH):
            return
        if not writing and any(_inside(path, root) for root in _READ_ROOTS):
            return
        raise PermissionError(f"the grader does not allow opening {path!r} in a submission")


# --------------------------------------------------------------------------
# Encoding: JSON header + arrays, no pickle
# --------------------------------------------------------------------------

#: How many of the most recently received arrays are watched for in-place changes.
WATCHED_ARRAYS = 64


class Codec:
    """Values to JSON (with arrays aside) and back; objects become handles.

    Both sides use it: here a handle refers to an object in ``handles``; the
    grader's subclass turns handles into proxies (autograder/sandbox.py).
    """

    def __init__(self, handles=None):
        self.handles = [] if handles is None else handles
        self.watched = collections.OrderedDict()

    def encode(self, value, arrays):
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            return {"__int__": str(int(value))}
        if isinstance(value, float | np.floating):
            return {"__float__": repr(float(value))}
        if isinstance(value, np.ndarray | np.generic):
            arr = np.asarray(value)
            if arr.dtype.hasobject:
                return self.handle_of(value)
            arrays.append(arr)
            return {"__array__": len(arrays) - 1}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, arrays) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, arrays) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"__dict__": [[k, self.encode(v, arrays)] for k, v in value.items()]}
        return self.handle_of(value)

    def handle_of(self, value):
        """The wire form of an object that is not data."""
        self.handles.append(value)
        return {"__handle__": len(self.handles) - 1, "type": type(value).__name__}

    def resolve(self, wire):
        """The object a handle refers to."""
        return self.handles[wire["__handle__"]]

    def array_of(self, wire, arrays):
        """The array a wire entry refers to. Arrays sent with a token are watched:
        if the submission changes one in place, the change travels back (sync),
        so in-place modification of an input behaves as it would in one process."""
        arr = arrays[f"a{wire['__array__']}"]
        if "token" in wire:
            self.watched[wire["token"]] = (weakref.ref(arr), arr.copy())
            while len(self.watched) > WATCHED_ARRAYS:  # the most recent ones matter
                self.watched.popitem(last=False)
        return arr

    def changed_arrays(self, arrays):
        """[[token, wire]] of watched arrays changed since the last look."""
        changed = []
        for token, (ref, snapshot) in list(self.watched.items()):
            arr = ref()
            if arr is None:
                del self.watched[token]
            elif arr.shape != snapshot.shape or not np.array_equal(arr, snapshot,
                                                                    equal_nan=True):
                arrays.append(np.asarray(arr))
                changed.append([token, {"__array__": len(arrays) - 1}])
                self.watched[token] = (ref, arr.copy())
        return changed

    def decode(self, value, arrays):
        if isinstance(value, list):
            return [self.decode(v, arrays) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return self.array_of(value, arrays)
        if "__int__" in value:
            return int(value["__int__"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(self.decode(v, arrays) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: self.decode(v, arrays) for k, v in value["__dict__"]}
        if "__handle__" in value:
            return self.resolve(value)
        raise ValueError(f"cannot decode {value!r}")


def pack(header, arrays):
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8),
             **{f"a{i}": a for i, a in enumerate(arrays)})
    data = buf.getvalue()
    return struct.pack("<Q", len(data)) + data


def read_message(stream):
    size = stream.read(8)
    if len(size) < 8:
        return None, None
    (n,) = struct.unpack("<Q", size)
    data = stream.read(n)
    npz = np.load(io.BytesIO(data), allow_pickle=False)
    arrays = {k: npz[k] for k in npz.files if k != "header"}
    return json.loads(npz["header"].tobytes().decode()), arrays


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------

def _error(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    # only frames of the submission's own code, never this file's
    lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames
             if f.filename.startswith("<answer")]
    return {"ok": False, "error": type(exc).__name__, "message": str(exc)[:2000],
            "traceback": lines[-8:]}


def serve(inp, out):
    namespace = {"__name__": "__main__"}
    codec = Codec()
    handles = codec.handles
    while True:
        request, arrays = read_message(inp)
        if request is None or request.get("op") == "bye":
            return
        reply_arrays = []
        try:
            op = request["op"]
            if op == "exec":
                code = compile(request["code"], f"<answer {request.get('label', '')}>", "exec")
                exec(code, namespace)
                reply = {"ok": True}
            elif op == "names":
                reply = {"ok": True, "value": sorted(k for k in namespace if not k.startswith("_"))}
            elif op == "get":
                if request["name"] not in namespace:
                    reply = {"ok": False, "error": "KeyError", "message": request["name"]}
                else:
                    value = codec.encode(namespace[request["name"]], reply_arrays)
                    reply = {"ok": True, "value": value}
            else:
                target = handles[request["target"]]
                if op == "getattr":
                    value = getattr(target, request["name"])
                elif op == "setattr":
                    setattr(target, request["name"], codec.decode(request["value"], arrays))
                    value = None
                elif op in ("call", "time"):
                    args = codec.decode(request["args"], arrays)
                    kwargs = codec.decode(request["kwargs"], arrays)
                    if op == "call":
                        value = target(*args, **kwargs)
                    else:
                        value = []
                        for _ in range(int(request.get("repeats", 1))):
                            t0 = time.perf_counter()
                            target(*args, **kwargs)
                            value.append(time.perf_counter() - t0)
                else:
                    raise ValueError(f"unknown op {op!r}")
                reply = {"ok": True, "value": codec.encode(value, reply_arrays)}
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: report, keep serving
            reply = _error(exc)
        try:  # not after a timing run: the grader's CPU clock must measure the calls only
            reply["synced"] = [] if request.get("op") == "time" else \
                codec.changed_arrays(reply_arrays)
        except BaseException:  # noqa: BLE001 - a broken array is not worth a crash
            reply["synced"] = []
        out.write(pack(reply, reply_arrays))
        out.flush()


class _Sink(io.TextIOBase):
    """Swallows what the submission prints (a flood of output costs nothing)."""

    def write(self, text):
        return len(text)


def main():
    global SCRATCH
    SCRATCH = os.path.realpath(sys.argv[1])
    # The protocol keeps private copies of the pipes; whatever the submission
    # prints, on fd 1 or 2, goes nowhere.
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = _Sink()
    os.chdir(SCRATCH)
    sys.path.insert(0, SCRATCH)  # the stage's helper modules
    # fork_exec starts processes without an audit event: take it away
    import _posixsubprocess

    _posixsubprocess.fork_exec = None
    sys.addaudithook(_audit)
    serve(inp, out)


if __name__ == "__main__":
    main()
