"""Each user's server in a cgroup of its own, where systemd does not run.

SystemdSpawner gives every server a systemd unit with ``MemoryMax`` and
``CPUQuota``. A host without systemd (a container, these test machines) has
no units, but the kernel's cgroups are there: ``CgroupSpawner`` is
JupyterHub's ``LocalProcessSpawner`` (each server a process of its user) that
first makes a cgroup for the server, with the limits the spawner is given
(``c.Spawner.mem_limit``, ``c.Spawner.cpu_limit``, the keys SystemdSpawner
and KubeSpawner read too) and a cap on the number of processes, and moves the
server into it before it drops root. Every kernel, terminal and process the
student starts from it is in the same cgroup: the memory of them all is
capped (the kernel's OOM killer ends the largest when it is reached), their
CPU time is throttled to the quota, and a fork flood stops at the cap. A
student cannot leave it (the cgroup files are root's). When the server
stops, whatever it left running in the cgroup is killed and the cgroup is
removed.

cgroup v1 (memory, cpu, cpuacct, pids) and v2 (memory, cpu, pids enabled
for the hub's cgroup's children) are both handled; where neither can be
made, the server does not start (no silent server without limits).

The cgroup bookkeeping (joining, listing, killing, removing) is the grading
sandbox's, ``autograder.isolation.Cgroup``.
"""

import importlib.util
import os
import uuid
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from traitlets import Integer


def _isolation():
    """The kit's autograder/isolation.py: the root-owned copy beside this file
    (`setup.sh hub-config` installs both), else the kit's, when this file is
    the kit's own (deploy/jupyterhub/)."""
    here = Path(__file__).resolve().parent
    path = here / "cnn1d_isolation.py"
    if not path.exists():
        path = here.parents[1] / "autograder" / "isolation.py"
    spec = importlib.util.spec_from_file_location("cnn1d_isolation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


isolation = _isolation()
CPU_PERIOD_US = 100_000


def _own_cpu_cgroup():
    """This process's v1 ``cpu`` cgroup folder, if writable."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            for mount in ("cpu", "cpu,cpuacct"):
                folder = Path("/sys/fs/cgroup") / mount / path.lstrip("/")
                if folder.is_dir() and os.access(folder, os.W_OK):
                    return folder
    return None


class ServerCgroup(isolation.Cgroup):
    """A cgroup with memory, CPU-quota and process limits, for one user's server."""

    def __init__(self, memory_bytes, cpus, max_pids, folders=None):
        self.folders, self.version = {}, 0
        if folders is not None:  # after a hub restart: the server's cgroup, as saved
            self.folders = {k: Path(v) for k, v in folders.items() if Path(v).is_dir()}
            self.version = 2 if "unified" in self.folders else (1 if self.folders else 0)
            return
        own, cpu = isolation._own_cgroups(), _own_cpu_cgroup()
        name = f"cnn1d-hub-{uuid.uuid4().hex[:12]}"
        quota = int(cpus * CPU_PERIOD_US)
        try:
            if cpu and {"memory", "pids", "cpuacct"} <= set(own):
                for controller, parent in (*((k, own[k]) for k in ("memory", "pids",
                                                                    "cpuacct")),
                                           ("cpu", cpu)):
                    if controller == "cpuacct" and parent == cpu:
                        continue  # cpu and cpuacct mounted together: one folder
                    self.folders[controller] = parent / name
                    self.folders[controller].mkdir()
                (self.folders["memory"] / "memory.limit_in_bytes").write_text(str(memory_bytes))
                (self.folders["pids"] / "pids.max").write_text(str(max_pids))
                (self.folders["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (self.folders["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
                self.folders.setdefault("cpuacct", self.folders["cpu"])
                self.version = 1
            elif "unified" in own:
                parent = own["unified"]
                enabled = set((parent / "cgroup.subtree_control").read_text().split())
                if not {"memory", "cpu", "pids"} <= enabled:
                    (parent / "cgroup.subtree_control").write_text("+memory +cpu +pids")
                folder = self.folders["unified"] = parent / name
                folder.mkdir()
                (folder / "memory.max").write_text(str(memory_bytes))
                (folder / "memory.swap.max").write_text("0")
                (folder / "pids.max").write_text(str(max_pids))
                (folder / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
                self.version = 2
        except OSError as exc:
            self.remove()
            self.version, self.error = 0, exc

    def remove(self):
        # cpu and cpuacct may share a folder; remove each once
        self.folders = dict({str(f): f for f in self.folders.values()}.items())
        super().remove()

    def memory_events(self):
        """{'limit', 'usage', 'max_usage' (bytes), 'oom_kills'} of the cgroup."""
        if self.version == 1:
            folder = self.folders["memory"]
            oom = dict(line.split() for line in
                       (folder / "memory.oom_control").read_text().splitlines())
            return {"limit": int((folder / "memory.limit_in_bytes").read_text()),
                    "usage": int((folder / "memory.usage_in_bytes").read_text()),
                    "max_usage": int((folder / "memory.max_usage_in_bytes").read_text()),
                    "oom_kills": int(oom.get("oom_kill", 0))}
        folder = self.folders["unified"]
        events = dict(line.split() for line in (folder / "memory.events").read_text()
                      .splitlines())
        return {"limit": int((folder / "memory.max").read_text()),
                "usage": int((folder / "memory.current").read_text()),
                "max_usage": int((folder / "memory.peak").read_text()),
                "oom_kills": int(events.get("oom_kill", 0))}

    def reset_peak(self):
        """Start the peak memory (max_usage) anew (v2: kernels from 6.12)."""
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        folder = self.folders["memory" if self.version == 1 else "unified"]
        (folder / name).write_text("0" if self.version == 1 else "reset")

    def favour(self):
        """Give the cgroup a large CPU weight against other cgroups (tests: so that on
        a busy machine its demand reaches its quota)."""
        if self.version == 1:
            (self.folders["cpu"] / "cpu.shares").write_text("262144")
        else:
            (self.folders["unified"] / "cpu.weight").write_text("10000")

    def cpu_throttling(self):
        """{'nr_periods', 'nr_throttled', 'throttled_seconds'} of the CPU quota."""
        folder = self.folders["cpu" if self.version == 1 else "unified"]
        stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
        throttled = (int(stat["throttled_time"]) / 1e9 if self.version == 1
                     else int(stat["throttled_usec"]) / 1e6)
        return {"nr_periods": int(stat["nr_periods"]),
                "nr_throttled": int(stat["nr_throttled"]), "throttled_seconds": throttled}


class CgroupSpawner(LocalProcessSpawner):
    """LocalProcessSpawner with each server in a cgroup that holds its limits."""

    max_pids = Integer(512, config=True,
                       help="Processes and threads a server may have at once.")
    cgroup = None

    async def start(self):
        if not self.mem_limit or not self.cpu_limit:
            raise RuntimeError("CgroupSpawner needs c.Spawner.mem_limit and "
                               "c.Spawner.cpu_limit (CNN1D_MEM_LIMIT, CNN1D_CPU_LIMIT)")
        self.cgroup = ServerCgroup(self.mem_limit, self.cpu_limit, self.max_pids)
        if not self.cgroup:
            raise RuntimeError(
                f"no cgroup for {self.user.name}'s server: "
                f"{getattr(self.cgroup, 'error', 'no writable memory, cpu and pids cgroup')}. "
                "The hub must run as root with cgroups it may create children in; "
                "where systemd runs, the configuration uses SystemdSpawner instead")
        self.log.info("%s's server: cgroup %s, memory %d MiB, %.2f CPU, %d processes",
                      self.user.name, list(self.cgroup.folders.values())[0].name,
                      self.mem_limit >> 20, self.cpu_limit, self.max_pids)
        try:
            return await super().start()
        except BaseException:
            self.cgroup.kill_all()
            self.cgroup.remove()
            raise

    def make_preexec_fn(self, name):
        drop_root = super().make_preexec_fn(name)
        cgroup = self.cgroup

        def preexec():  # in the child, before exec: into the cgroup, then drop root
            cgroup.join()
            drop_root()

        return preexec

    async def stop(self, now=False):
        await super().stop(now=now)
        if self.cgroup:
            self.cgroup.kill_all()  # what the server left running
            self.cgroup.remove()
        self.cgroup = None

    def get_state(self):
        state = super().get_state()
        if self.cgroup:
            state["cgroup"] = {k: str(v) for k, v in self.cgroup.folders.items()}
        return state

    def load_state(self, state):
        super().load_state(state)
        if state.get("cgroup"):
            self.cgroup = ServerCgroup(0, 0, 0, folders=state["cgroup"])
