"""Which operating-system barrier holds a submission here, and the cgroup that
limits and accounts for it.

Three barriers, strongest first:

``bwrap``
    Debian's bubblewrap: new user, PID, network, IPC and UTS (and, where the
    kernel allows, cgroup) namespaces; uid 65534 inside, no capabilities, no
    nested user namespaces; read-only binds of the Python installation and
    the stage's helpers only; a size-limited tmpfs as the only writable
    place; a fresh /proc that shows the sandbox's own processes; the whole
    sandbox dies with the grader.
``nobody``
    Where bubblewrap cannot run and the grader is root: the worker runs as
    the user ``nobody``, allowed only when the interpreter is readable by
    that user and the kit and the course are not.
``none``
    No barrier but a scrubbed environment, rlimits and the audit hook. Only
    when asked for by name (``--unsandboxed`` / ``CNN1D_SANDBOX=none``): a
    student's self-check on a laptop. Instructor grading refuses it.

A cgroup per sandbox (cgroup v1 ``memory``, ``pids``, ``cpuacct`` or the
unified v2 hierarchy, under the grader's own cgroup) caps the memory and the
number of processes of the whole sandbox, which per-process rlimits cannot,
and measures its CPU time: every thread and child, exited or not, as the
kernel counts it.
"""

import functools
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

NOBODY = 65534
BARRIERS = ("bwrap", "nobody", "none")
INSTALL_HINT = ("install bubblewrap and libseccomp's Python bindings (Debian/Ubuntu: "
                "`sudo apt-get install bubblewrap python3-seccomp`; Fedora: `sudo dnf install "
                "bubblewrap python3-libseccomp`) and make sure unprivileged user "
                "namespaces are allowed (sysctl kernel.unprivileged_userns_clone=1)")

#: System calls a grader's worker never makes, refused (EPERM) by the sandbox's
#: seccomp filter: other processes' memory, mounts and namespaces, the kernel
#: keyring, eBPF and perf, kernel modules and the machine's clock, io_uring
#: (which would run the others past the filter).
SECCOMP_DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "open_by_handle_at", "name_to_handle_at", "iopl", "ioperm", "lookup_dcookie",
    "fanotify_init", "io_uring_setup", "io_uring_enter", "io_uring_register",
)
#: clone() flags that make namespaces: refused too (clone3, whose flags a
#: filter cannot read, says ENOSYS, so that the C library falls back to clone).
CLONE_NAMESPACE_FLAGS = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                         0x20000000, 0x40000000)  # NEWNS CGROUP UTS IPC USER PID NET
SECCOMP_OFF = False  #: tests turn the filter off to show what it refuses
_SECCOMP_SCRIPT = """
import errno, json, sys
import seccomp
denied, clone_flags = json.loads(sys.argv[1])
f = seccomp.SyscallFilter(seccomp.ALLOW)
for name in denied:
    try:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    except (RuntimeError, ValueError, OSError):
        pass  # not a system call of this architecture
f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
for flag in clone_flags:
    f.add_rule(seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
sys.stdout.flush()
f.export_bpf(sys.stdout)
"""


class IsolationError(RuntimeError):
    """No operating-system barrier can hold a submission here."""


# --------------------------------------------------------------------------
# Reachability by the unprivileged user
# --------------------------------------------------------------------------

def readable_by_others(path):
    """True when ``nobody`` can reach ``path``: every folder on the way o+x, and
    the path itself o+r (o+rx for a folder)."""
    path = Path(os.path.realpath(path))
    try:
        for part in path.parents:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        mode = path.stat().st_mode
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


def python_paths():
    """What the worker's interpreter must read."""
    import numpy

    paths = {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
             os.path.dirname(os.path.dirname(numpy.__file__))}
    return sorted(os.path.realpath(p) for p in paths)


def nobody_problems(hidden):
    """Why the ``nobody`` fallback cannot hold here ([] when it can)."""
    problems = [f"{p} is not readable by the user nobody" for p in python_paths()
                if not readable_by_others(p)]
    problems += [f"{p} is readable by the user nobody (make it unreadable: chmod o-rx)"
                 for p in hidden if os.path.exists(p) and readable_by_others(p)]
    if os.getuid() != 0:
        problems.append("the grader is not root, so it cannot run code as nobody")
    return problems


# --------------------------------------------------------------------------
# bubblewrap
# --------------------------------------------------------------------------

def _system_binds():
    """Read-only binds of the system: /usr, the /lib and /bin links, a few /etc files."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/ssl/certs"):
        args += ["--ro-bind-try", etc, etc]
    return args


@functools.cache
def seccomp_program():
    """The seccomp filter's BPF program (bytes), built by libseccomp's Python
    bindings: this interpreter's, else the system's ``python3`` (Debian's
    ``python3-seccomp``). IsolationError when neither can build it."""
    import json

    args = [json.dumps([SECCOMP_DENIED, CLONE_NAMESPACE_FLAGS])]
    tried = []
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3", shutil.which("python3")]):
        if not python or not os.path.exists(python):
            continue
        try:
            done = subprocess.run([python, "-I", "-c", _SECCOMP_SCRIPT, *args],
                                  capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{python}: {exc}")
            continue
        if done.returncode == 0 and done.stdout and len(done.stdout) % 8 == 0:
            return done.stdout
        tried.append(f"{python}: " + done.stderr.decode(errors="replace").strip()
                     .splitlines()[-1:][0] if done.stderr.strip() else f"{python}: no output")
    raise IsolationError("the sandbox's seccomp filter cannot be built: libseccomp's Python "
                         f"bindings are missing ({'; '.join(tried)}). To fix: {INSTALL_HINT}")


def seccomp_fd():
    """A file descriptor holding the filter, for bwrap's --seccomp (one per sandbox:
    bwrap reads it to the end); the caller closes it."""
    program = seccomp_program()
    fd = os.memfd_create("cnn1d-seccomp")
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def bwrap_command(python, worker_dir, scratch_mb, extra_binds=(), seccomp=None):
    """The bubblewrap command line that starts ``python -I worker.py`` in a sandbox
    (with the seccomp filter read from the file descriptor ``seccomp``)."""
    binds = []
    for path in sorted({*python_paths(), *extra_binds}):
        if path != "/usr" and not path.startswith("/usr/"):  # /usr is bound whole
            binds += ["--ro-bind", path, path]
    # a venv reached through a symbolic link: python runs by that path, so the
    # real folder appears there too
    prefix = os.path.abspath(sys.prefix)
    if os.path.realpath(prefix) != prefix:
        binds += ["--ro-bind", os.path.realpath(prefix), prefix]
    return [
        shutil.which("bwrap") or "bwrap",
        "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY),
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
        "--unshare-cgroup-try", "--hostname", "sandbox",
        "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--disable-userns",
        # the writable places first: the binds that follow may lie below them
        # (a kit checked out under /tmp) and must not be hidden by them
        "--size", str(16 << 20), "--tmpfs", "/tmp",
        "--size", str(scratch_mb << 20), "--tmpfs", "/home/student",
        *_system_binds(), *binds,
        "--ro-bind", str(worker_dir), "/opt/grader",
        "--proc", "/proc", "--dev", "/dev",
        # /dev itself read-only, its shm a small tmpfs: no unbounded place to write
        "--size", str(8 << 20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
        *([] if seccomp is None else ["--seccomp", str(seccomp)]),
        "--chdir", "/home/student", "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/home/student",
        "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLBACKEND", "Agg",
        "--setenv", "MPLCONFIGDIR", "/home/student", "--setenv", "OPENBLAS_NUM_THREADS", "1",
        "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "MKL_NUM_THREADS", "1",
        python, "-I", "/opt/grader/worker.py", "/home/student",
    ]


_PROBE_LOCK = threading.Lock()


def bwrap_works():
    """'' when bubblewrap runs a sandbox here, else the reason it does not
    (found once per process; a caller waits for a probe already under way)."""
    with _PROBE_LOCK:
        return _bwrap_probe()


def probe_in_background():
    """Start finding out whether bubblewrap works (a sandbox that imports numpy:
    0.2 s, mostly waiting) while the caller goes on with its own imports."""
    threading.Thread(target=bwrap_works, name="bwrap-probe", daemon=True).start()


@functools.cache
def _bwrap_probe():
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    probe = Path(__file__).with_name("worker.py").parent
    try:
        fd = None if SECCOMP_OFF else seccomp_fd()
    except IsolationError as exc:
        return str(exc)
    cmd = bwrap_command(sys.executable, probe, 1, seccomp=fd)
    cmd = cmd[:cmd.index(sys.executable)] + [sys.executable, "-I", "-c", "import numpy"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                              pass_fds=() if fd is None else (fd,))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    finally:
        if fd is not None:
            os.close(fd)
    if done.returncode != 0:
        return "bwrap failed: " + done.stderr.decode(errors="replace").strip()[:300]
    return ""


def choose_barrier(requested="auto", hidden=()):
    """The barrier to grade with: ``requested`` if it holds, else the strongest
    that does ("auto"); IsolationError when none does."""
    if requested not in ("auto", *BARRIERS):
        raise IsolationError(f"unknown sandbox {requested!r}; expected one of "
                             f"auto, {', '.join(BARRIERS)}")
    if requested == "none":
        return "none"
    why_not = bwrap_works()
    if requested in ("auto", "bwrap") and not why_not:
        return "bwrap"
    if requested == "bwrap":
        raise IsolationError(f"the bubblewrap sandbox cannot run here: {why_not}. "
                             f"To fix: {INSTALL_HINT}")
    problems = nobody_problems(hidden)
    if not problems:
        return "nobody"
    if requested == "nobody":
        raise IsolationError(f"running submissions as the user nobody does not hold here: "
                             f"{'; '.join(problems)}")
    raise IsolationError(
        f"no sandbox can hold a submission here: {why_not}; and the fallback, running as "
        f"the user nobody, does not hold either: {'; '.join(problems)}. To fix: "
        f"{INSTALL_HINT}. For a self-check of your own notebook on your own machine "
        "only, grade unsandboxed with --unsandboxed (or CNN1D_SANDBOX=none)")


# --------------------------------------------------------------------------
# cgroups
# --------------------------------------------------------------------------

def _own_cgroups():
    """{controller: folder} of this process's cgroups that we may create children in."""
    found = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in (controllers.split(",") if controllers else ["unified"]):
            if name not in ("memory", "pids", "cpuacct", "unified"):
                continue
            base = Path("/sys/fs/cgroup") / (name if name != "unified" else "unified")
            if name == "unified" and not (base / "cgroup.controllers").exists():
                base = Path("/sys/fs/cgroup")
                if not (base / "cgroup.controllers").exists():
                    continue
            folder = base / path.lstrip("/")
            if folder.is_dir() and os.access(folder, os.W_OK):
                found[name] = folder
    return found


class Cgroup:
    """One cgroup per sandbox: memory and process caps, and its CPU time."""

    def __init__(self, memory_mb, max_pids):
        self.folders = {}
        own = _own_cgroups()
        name = f"cnn1d-{uuid.uuid4().hex[:12]}"
        v1 = {k: v for k, v in own.items() if k in ("memory", "pids", "cpuacct")}
        try:
            if len(v1) == 3:
                for controller, parent in v1.items():
                    folder = parent / name
                    folder.mkdir()
                    self.folders[controller] = folder
                (self.folders["memory"] / "memory.limit_in_bytes").write_text(
                    str(memory_mb << 20))
                (self.folders["pids"] / "pids.max").write_text(str(max_pids))
                self.version = 1
            elif "unified" in own and {"memory", "pids"} <= set(
                    (own["unified"] / "cgroup.subtree_control").read_text().split()):
                folder = own["unified"] / name
                folder.mkdir()
                self.folders["unified"] = folder
                (folder / "memory.max").write_text(str(memory_mb << 20))
                (folder / "memory.swap.max").write_text("0")
                (folder / "pids.max").write_text(str(max_pids))
                self.version = 2
            else:
                self.version = 0
        except OSError:
            self.remove()
            self.version = 0

    def __bool__(self):
        return self.version > 0

    def join(self):
        """Move the calling process in (run in the child before exec)."""
        for folder in self.folders.values():
            fd = os.open(folder / "cgroup.procs", os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def cpu_seconds(self):
        """CPU time of every process and thread that ever ran in this cgroup."""
        if self.version == 1:
            return int((self.folders["cpuacct"] / "cpuacct.usage").read_text()) / 1e9
        if self.version == 2:
            for line in (self.folders["unified"] / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
        return None

    def pids(self):
        folder = self.folders.get("pids") or self.folders.get("unified")
        try:
            return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except (OSError, TypeError, ValueError):
            return []

    def kill_all(self, wait=2.0):
        """SIGKILL every process in the cgroup until none is left."""
        deadline = time.monotonic() + wait
        while True:
            pids = self.pids()
            if not pids or time.monotonic() > deadline:
                return not pids
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)

    def remove(self):
        for folder in self.folders.values():
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.folders = {}


def tree_cpu_seconds(root):
    """CPU time of process ``root`` and every process below it, ever, as the kernel
    counts it (/proc/PID/stat): each live process's own user and system time
    and that of the children it has reaped. Every process of a bubblewrap
    sandbox lies below its bwrap (orphans go to the sandbox's own init, which
    reaps them), so this is the sandbox's CPU time where no cgroup counts it."""
    parent, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # from field 3, the state
        parent[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(n) for n in fields[11:15])  # utime stime cutime cstime
    children = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += ticks.get(pid, 0)
        todo += children.get(pid, [])
    return total / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# Which limits hold here
# --------------------------------------------------------------------------

@functools.cache
def cgroup_works():
    """True when this grader can make a cgroup per sandbox (root, or a delegated one)."""
    probe = Cgroup(64, 8)
    try:
        return bool(probe)
    finally:
        probe.remove()


def describe_limits(barrier, memory_mb=3072, max_pids=64):
    """{"memory", "processes", "cpu"}: how each limit holds for ``barrier`` on
    this machine, as text; "processes" is None where nothing bounds them."""
    gib = f"{memory_mb / 1024:g} GiB"
    if barrier in ("bwrap", "nobody") and cgroup_works():
        return {"memory": f"{gib} for the whole sandbox (its cgroup)",
                "processes": f"{max_pids} in the whole sandbox (its cgroup)",
                "cpu": "the sandbox's CPU time, every process and thread (its cgroup)"}
    per_process = {"memory": f"{gib} per process (RLIMIT_AS), not the sandbox as a whole",
                   "cpu": "the sandbox's CPU time, every process and thread, from the "
                          "kernel's accounting of its processes (/proc)"}
    if barrier == "bwrap" and os.getuid() != 0:
        return dict(per_process, processes=f"{max_pids} in the sandbox (RLIMIT_NPROC, counted "
                    "per user namespace)")
    if barrier == "nobody":
        return dict(per_process, processes=f"{max_pids} for the user nobody (RLIMIT_NPROC)")
    # root is exempt from RLIMIT_NPROC, in bubblewrap's namespace too; no barrier at all
    return dict(per_process, processes=None)


def limits_line(barrier, memory_mb=3072, max_pids=64):
    """One line for the grader's log: the barrier and how each limit holds."""
    limits = describe_limits(barrier, memory_mb, max_pids)
    return (f"sandbox {barrier}; memory: {limits['memory']}; processes: "
            f"{limits['processes'] or 'NOT BOUNDED'}; CPU time: {limits['cpu']}")
