"""The sandbox side of grading: runs a submission's code, answers requests.

This file runs as a script (``python -I worker.py``) inside the sandbox that
``autograder/sandbox.py`` builds (bubblewrap: its own user, PID, network, IPC
and UTS namespaces, a read-only view of the Python installation and nothing
of the kit, the course or other students). It imports nothing from the kit,
so the submission can import neither the reference nor the checks.

It is a zygote: it imports numpy (and whatever the stage's setup cell
imports), runs the submission's answer cells once, then forks a fresh child
for every check. The child answers the grader's requests until told ``bye``
and exits; the zygote reaps it and says how it ended.

Nothing here is trusted by the grader. The grader establishes every fact a
check relies on from data it holds: the replies are data it asked for
(values, arrays), bounded in size before they are decoded, and never facts
about this process. The audit hook (PEP 578) is a second layer only, and
no property rests on it: its one piece of state, the rule that lets the
zygote fork, lies in the zygote's frame, which the submission's code can
reach (``sys._getframe().f_back``) and change; what forking could cost is
bounded by the operating system (the cgroup's or the user namespace's cap
on processes), as tests/test_redteam_grader.py shows with the hook beaten.

The wire format: a frame is an 8-byte little-endian length, then a 4-byte
header length, a JSON header and the raw bytes of the arrays the header
lists (dtype, shape). No pickle and no compression: the decoded size of a
message is its size on the wire.
"""

import json
import os
import struct
import sys
import traceback

import numpy as np

#: dtype kinds that may cross the pipe: booleans, integers, floats, complex,
#: fixed-width unicode (class labels). Never objects.
WIRE_KINDS = frozenset("biufcU")
MAX_HEADER = 4 << 20


class WireError(ValueError):
    """A message that breaks the wire format or its bounds."""


# --------------------------------------------------------------------------
# Encoding: JSON header + arrays, no pickle
# --------------------------------------------------------------------------

class Codec:
    """Values to JSON (with arrays aside) and back; objects become handles.

    Both sides use it: here a handle refers to an object in ``handles``; the
    grader's subclass turns handles into proxies (autograder/sandbox.py).
    """

    def __init__(self, handles=None):
        self.handles = [] if handles is None else handles

    def encode(self, value, arrays):
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
            return {"__int__": str(int(value))}
        if isinstance(value, float | np.floating):
            return {"__float__": repr(float(value))}
        if isinstance(value, np.ndarray | np.generic):
            arr = np.asarray(value)
            if arr.dtype.kind not in WIRE_KINDS:
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
        return {"__handle__": len(self.handles) - 1, "type": type(value).__name__[:60]}

    def resolve(self, wire):
        """The object a handle refers to."""
        return self.handles[int(wire["__handle__"])]

    def decode(self, value, arrays):
        if isinstance(value, list):
            return [self.decode(v, arrays) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return arrays[int(value["__array__"])]
        if "__int__" in value:
            return int(value["__int__"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(self.decode(v, arrays) for v in value["__tuple__"])
        if "__dict__" in value:
            return {str(k): self.decode(v, arrays) for k, v in value["__dict__"]}
        if "__handle__" in value:
            return self.resolve(value)
        raise WireError("cannot decode a value of the message")


def pack(header, arrays):
    """One frame: length, header length, JSON header, the arrays' bytes."""
    arrays = [np.ascontiguousarray(a) for a in arrays]
    meta = [[a.dtype.str, list(a.shape)] for a in arrays]
    head = json.dumps({"h": header, "a": meta}).encode()
    body = b"".join(a.tobytes() for a in arrays)
    payload = struct.pack("<I", len(head)) + head + body
    return struct.pack("<Q", len(payload)) + payload


def unpack(payload, max_arrays=4096):
    """(header, [arrays]) of one frame's payload, checking every bound first.

    The arrays are views of ``payload`` (read-only); their total size is the
    payload's size, so nothing here allocates more than the wire carried.
    """
    if len(payload) < 4:
        raise WireError("truncated message")
    (n_head,) = struct.unpack_from("<I", payload)
    if n_head > MAX_HEADER or 4 + n_head > len(payload):
        raise WireError("message header too large")
    try:
        top = json.loads(payload[4:4 + n_head].decode())
        header, meta = top["h"], top["a"]
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise WireError(f"unreadable message header ({type(exc).__name__})") from None
    if not isinstance(meta, list) or len(meta) > max_arrays:
        raise WireError("too many arrays in one message")
    arrays, offset = [], 4 + n_head
    for entry in meta:
        try:
            dtype = np.dtype(str(entry[0]))
            shape = tuple(int(n) for n in entry[1])
        except (TypeError, ValueError, IndexError):
            raise WireError("an array with an unreadable dtype or shape") from None
        if dtype.kind not in WIRE_KINDS or dtype.hasobject or len(shape) > 8 \
                or any(n < 0 for n in shape):
            raise WireError(f"an array of dtype {dtype.str!r}, shape {shape} is not allowed")
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if offset + nbytes > len(payload):
            raise WireError("an array larger than the message that carries it")
        arrays.append(np.frombuffer(payload, dtype=dtype, count=count, offset=offset)
                      .reshape(shape))
        offset += nbytes
    if offset != len(payload):
        raise WireError("bytes left over after the last array")
    return header, arrays


def read_frame(stream):
    size = stream.read(8)
    if len(size) < 8:
        return None, None
    (n,) = struct.unpack("<Q", size)
    payload = stream.read(n)
    if len(payload) < n:
        return None, None
    header, arrays = unpack(payload)
    return header, [a.copy() for a in arrays]  # writable copies for the submission


# --------------------------------------------------------------------------
# The second layer: an audit hook
# --------------------------------------------------------------------------

def _install_audit_hook(scratch, read_roots):
    """Refuse what a submission never needs. Everything it reads is bound
    into the closure (immutable), not looked up in module globals."""
    scratch = os.path.realpath(scratch)
    read_roots = tuple(sorted({os.path.realpath(r) for r in read_roots}))
    blocked = frozenset({
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "subprocess.Popen", "os.kill", "os.killpg", "pty.spawn", "socket.__new__",
        "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
        "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function",
        "sys._current_frames", "sys.setprofile", "sys.settrace", "os.chmod", "os.chown",
        "os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.link", "os.symlink",
        "os.truncate", "os.setxattr", "os.utime", "mmap.__new__",
    })
    # C-level openers that raise no "open" event: sqlite3 is judged below by
    # the path it connects to; the dbm modules are refused whole
    blocked_modules = frozenset({"ctypes", "_ctypes", "cffi", "_dbm", "_gdbm", "dbm.gnu",
                                 "dbm.ndbm", "_tkinter", "readline"})

    def inside(path, root):
        return path == root or path.startswith(root.rstrip(os.sep) + os.sep)

    allow_fork = [True]  # the zygote forks its check children, nothing else does
    getpid = os.getpid

    def hook(event, args):
        if event == "os.fork" and allow_fork[0]:
            return
        if event in blocked:
            raise PermissionError(f"the grader does not allow {event} in a submission")
        if event == "import" and args and args[0] in blocked_modules:
            raise PermissionError(f"the grader does not allow importing {args[0]} in a "
                                  "submission")
        if event == "sqlite3.connect" and args:
            database = args[0]
            if database in (":memory:", b":memory:", "") or (
                    isinstance(database, str | bytes)  # a file: URI names any path
                    and not os.fsdecode(database).lower().startswith("file:")
                    and inside(os.path.realpath(os.fsdecode(database)), scratch)):
                return
            raise PermissionError("the grader does not allow sqlite3 databases outside the "
                                  "scratch folder in a submission")
        if event == "open" and args:
            target = args[0]
            if not isinstance(target, str | bytes):  # a file descriptor: no path to judge
                raise PermissionError("the grader does not allow opening files by descriptor")
            path = os.path.realpath(os.fsdecode(target))
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = any(ch in mode for ch in "wax+") or bool(
                flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if inside(path, scratch):
                return
            if not writing and (any(inside(path, root) for root in read_roots)
                                or inside(path, f"/proc/{getpid()}")):  # /proc/self
                return
            raise PermissionError(f"the grader does not allow opening {path!r} in a "
                                  "submission")

    sys.addaudithook(hook)
    return allow_fork


# --------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------

def _error(exc):
    frames = traceback.extract_tb(exc.__traceback__)
    # only frames of the submission's own code, never this file's
    lines = [f'  File "{f.filename}", line {f.lineno}, in {f.name}' for f in frames
             if f.filename.startswith("<answer")]
    return {"ok": False, "error": type(exc).__name__[:60], "message": str(exc)[:2000],
            "traceback": lines[-8:]}


def _send(out, reply, arrays=()):
    out.write(pack(reply, list(arrays)))
    out.flush()


def _call_chain(codec, call, arrays):
    """handles[target](*args, **kwargs), then each (method, args, kwargs) of ``then``
    on the result: e.g. a fresh layer's forward output."""
    value = codec.resolve({"__handle__": call["target"]})(
        *codec.decode(call.get("args", {"__tuple__": []}), arrays),
        **codec.decode(call.get("kwargs", {"__dict__": []}), arrays))
    for method, args, kwargs in call.get("then", ()):
        value = getattr(value, str(method))(*codec.decode(args, arrays),
                                            **codec.decode(kwargs, arrays))
    return value


def serve(inp, out, namespace):
    """Answer one check's requests until ``bye`` (or the pipe closes)."""
    codec = Codec()
    while True:
        request, arrays = read_frame(inp)
        if request is None or request.get("op") == "bye":
            return
        reply_arrays = []
        try:
            op = request["op"]
            if op == "get":
                if request["name"] not in namespace:
                    reply = {"ok": False, "error": "KeyError", "message": str(request["name"])}
                else:
                    value = codec.encode(namespace[request["name"]], reply_arrays)
                    reply = {"ok": True, "value": value}
            elif op == "put":  # an array kept here, to be looked at again with fetch
                value = {"__handle__": codec.handle_of(arrays[0])["__handle__"], "type": "ndarray"}
                reply = {"ok": True, "value": value}
            elif op == "fetch":
                reply_arrays.append(np.asarray(codec.resolve({"__handle__": request["target"]})))
                reply = {"ok": True, "value": {"__array__": 0}}
            elif op == "map":
                value = [_call_chain(codec, call, arrays) for call in request["calls"]]
                reply = {"ok": True, "value": codec.encode(value, reply_arrays)}
            else:
                target = codec.resolve({"__handle__": request["target"]})
                if op == "getattr":
                    value = getattr(target, request["name"])
                elif op == "setattr":
                    setattr(target, request["name"], codec.decode(request["value"], arrays))
                    value = None
                elif op == "call":
                    value = target(*codec.decode(request["args"], arrays),
                                   **codec.decode(request["kwargs"], arrays))
                else:
                    raise ValueError(f"unknown op {op!r}")
                reply = {"ok": True, "value": codec.encode(value, reply_arrays)}
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: report, keep serving
            reply, reply_arrays = _error(exc), []
        reply["id"] = request.get("id")
        try:
            _send(out, reply, reply_arrays)
        except (TypeError, ValueError) as exc:  # e.g. an unencodable value
            _send(out, dict(_error(exc), id=request.get("id")))


def zygote(inp, out, namespace, allow_fork):
    """A stage: run the setup and answer cells, then fork a child per check."""
    while True:
        request, _ = read_frame(inp)
        if request is None or request.get("op") == "quit":
            return
        op = request.get("op")
        if op == "exec":
            try:
                allow_fork[0] = False  # the submission's own code may not fork
                code = compile(request["code"], f"<answer {request.get('label', '')}>", "exec")
                exec(code, namespace)
                reply = {"ok": True}
            except BaseException as exc:  # noqa: BLE001
                reply = _error(exc)
            finally:
                allow_fork[0] = True
            _send(out, dict(reply, id=request.get("id")))
        elif op == "fork":
            _fork(out, lambda: serve(inp, out, namespace), allow_fork, False)
        else:
            _send(out, {"ok": False, "error": "ValueError", "message": f"unknown op {op!r}"})


def _fork(out, body, allow_fork, may_fork):
    """Run ``body`` in a child; say "ready" from it, and how it ended from here."""
    pid = os.fork()
    if pid == 0:
        allow_fork[0] = may_fork
        try:
            _send(out, {"ok": True, "value": "ready"})
            body()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    _send(out, {"ok": False, "ended": os.waitstatus_to_exitcode(status)})


def template(inp, out, assets_root, allow_fork):
    """The sandbox's first process: numpy and matplotlib imported, no code of a
    submission ever run. Forks one process per stage (notebook) graded here."""
    while True:
        request, _ = read_frame(inp)
        if request is None or request.get("op") == "quit":
            return
        stage = str(request.get("stage", ""))
        if request.get("op") != "stage" or not stage.replace("_", "").isalnum():
            _send(out, {"ok": False, "error": "ValueError", "message": "expected a stage"})
            continue

        def body(stage=stage):
            sys.path.insert(0, os.path.join(assets_root, stage))  # the stage's helpers
            os.chdir(stage)  # the notebook's folder: its helper files beside it
            zygote(inp, out, {"__name__": "__main__"}, allow_fork)

        _fork(out, body, allow_fork, True)


class _Sink:
    """Swallows what the submission prints (a flood of output costs nothing)."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def main():
    scratch = os.path.realpath(sys.argv[1])
    options = sys.argv[2:]
    for option in options:
        if option.startswith("max-pids="):
            # Before anything else runs: in bubblewrap's user namespace the kernel
            # counts RLIMIT_NPROC per namespace, so this caps the processes and
            # threads of this sandbox alone, where no cgroup can (a grader that
            # is not root). Hard limit too: nothing here may raise it again.
            import resource

            n = int(option.partition("=")[2])
            resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    assets_root = os.path.join(os.path.dirname(os.path.realpath(__file__)), "assets")
    # The protocol keeps private copies of the pipes; whatever the submission
    # prints, on fd 1 or 2, goes nowhere.
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout = sys.stderr = _Sink()
    os.chdir(scratch)
    for stage in os.listdir(assets_root):  # a folder per stage, its helpers linked in
        os.mkdir(stage)
        for name in os.listdir(os.path.join(assets_root, stage)):
            os.symlink(os.path.join(assets_root, stage, name), os.path.join(stage, name))
    # matplotlib's font list, made by the grader (autograder.sandbox.font_lists),
    # where matplotlib looks for it (MPLCONFIGDIR): it need not open every font
    fonts = os.path.join(os.path.dirname(os.path.realpath(__file__)), "fonts")
    for name in os.listdir(fonts) if os.path.isdir(fonts) else ():
        with open(os.path.join(fonts, name), "rb") as src, open(name, "wb") as dst:
            dst.write(src.read())
    # What every stage's setup cell imports, imported once for all of them.
    for module in ("matplotlib.pyplot", "IPython.display"):
        try:
            __import__(module)
        except Exception:  # noqa: BLE001, S110 - a stage that needs it will say so
            pass
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, assets_root,
             os.path.dirname(os.path.dirname(np.__file__)),
             "/usr/lib", "/usr/share", "/usr/local/lib", "/etc", "/dev",
             "/sys/devices/system/cpu"}
    import _posixsubprocess  # starts processes without an audit event: take it away

    _posixsubprocess.fork_exec = None
    # (the grader leaves the hook out only when a test asks, to show that no
    # property of the sandbox rests on it: tests/test_redteam.py)
    allow_fork = [True] if "no-audit-hook" in options else \
        _install_audit_hook(scratch, roots)
    template(inp, out, assets_root, allow_fork)


if __name__ == "__main__":
    main()
