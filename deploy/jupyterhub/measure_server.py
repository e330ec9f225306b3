"""Memory and CPU of one student's server through Validate and stage 5's training.

Run as root from the kit checkout, after `make build` and
`bash deploy/jupyterhub/setup.sh user-env`:

    .venv/bin/python deploy/jupyterhub/measure_server.py

It makes a throwaway Linux user, gives it stage 1 and stage 5 as released with
the reference answers written in (a student's notebooks just before
Validate), and starts the users' environment's Jupyter server as that user,
with the student role's configuration, in a cgroup of its own
(cnn1d_spawner.ServerCgroup, its limits set above what the steps need) that
the kernel accounts every process of. Then, as the student would in
JupyterLab, one step after the other:

1. the server started, idle;
2. Validate stage 1 (the server's /assignments/validate: nbgrader runs the
   notebook in a new kernel);
3. stage 5's notebook run in a kernel, cell by cell (the training), the kernel
   left open;
4. Validate stage 5, with that kernel still open.

For each step it prints the wall time, the CPU time of every process in the
cgroup, the cgroup's peak memory during the step and its memory at the end
(cgroup v1: rss + page cache, what memory.limit_in_bytes counts). The user and
everything it made are removed at the end. About 2 x stage 5's run time;
CNN1D_MEASURE_QUICK=1 stops after step 2 (tests/test_hub_term.py runs that).
"""

import argparse
import asyncio
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = HERE.parents[1]


# --------------------------------------------------------------------------
# Running code in a kernel of a Jupyter server (the notebook's protocol)
# --------------------------------------------------------------------------

async def kernel_channel(base_url, headers, ssl_options=None):
    """A new kernel of the server at ``base_url`` (.../user/NAME or a plain
    server's root) and its websocket: (kernel id, connection)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    request = urllib.request.Request(base_url + "/api/kernels", data=b"{}", method="POST",
                                     headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120,
                                context=ssl_options if base_url.startswith("https") else None
                                ) as answer:
        kernel = json.loads(answer.read())
    ws_url = base_url.replace("http", "ws", 1) + f"/api/kernels/{kernel['id']}/channels"
    ws = await websocket_connect(HTTPRequest(ws_url, headers=headers, ssl_options=ssl_options))
    return kernel["id"], ws


async def execute(ws, code, timeout=900):
    """Run ``code`` on the kernel behind ``ws``; (stdout, error name or None,
    kernel states seen). Stops early if the kernel restarts or dies."""
    msg_id, out, states, error = uuid.uuid4().hex, [], [], None
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "",
                   "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(ws.read_message(), max(1, deadline - time.monotonic()))
        if raw is None:
            return "".join(out), "connection closed", states
        msg = json.loads(raw)
        kind, content = msg["msg_type"], msg["content"]
        mine = msg["parent_header"].get("msg_id") == msg_id
        if kind == "stream" and mine:
            out.append(content["text"])
        elif kind == "error" and mine:
            error = content["ename"]
        elif kind == "status":
            states.append(content["execution_state"])
            if content["execution_state"] in ("restarting", "dead"):
                return "".join(out), error or "kernel " + content["execution_state"], states
            if content["execution_state"] == "idle" and mine:
                return "".join(out), error, states


# --------------------------------------------------------------------------
# The measurement
# --------------------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _student_copy(home, stage, owner):
    """release/<stage>/ in ``home`` with the reference answers written in."""
    import nbformat

    from course.flow import fill_answers, reference_answers

    folder = home / stage.name
    shutil.copytree(KIT / "release" / stage.name, folder)
    path = folder / stage.notebook
    nb = fill_answers(nbformat.read(path, as_version=4), reference_answers(stage))
    nbformat.write(nb, path)
    subprocess.run(["chown", "-R", f"{owner}:{owner}", str(folder)], check=True)
    return nb


def measure(user_env, memory_mb, user="cnn1dmeasure"):
    sys.path.insert(0, str(KIT))
    sys.path.insert(0, str(HERE))
    from cnn1d_spawner import ServerCgroup

    from course.course_id import COURSE_ID
    from course.stages import get_stage

    first, training = get_stage("single_channel"), get_stage("training")
    subprocess.run(["userdel", "-r", user], capture_output=True)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)
    exchange = Path(tempfile.mkdtemp(prefix="cnn1d-measure-"))
    os.chmod(exchange, 0o777)
    cgroup, server, rows = None, None, []
    try:
        home = Path(pwd.getpwnam(user).pw_dir)
        _student_copy(home, first, user)
        nb = _student_copy(home, training, user)
        cgroup = ServerCgroup(memory_mb << 20, os.cpu_count(), 4096)
        if not cgroup:
            raise SystemExit(f"no cgroup to measure in: {getattr(cgroup, 'error', '?')}")
        port, token = _free_port(), secrets.token_hex(16)
        env = {"HOME": str(home), "USER": user, "LOGNAME": user, "SHELL": "/bin/bash",
               "PATH": f"{user_env / 'bin'}:/usr/local/bin:/usr/bin:/bin",
               "JUPYTER_CONFIG_PATH": str(HERE / "roles" / "student"),
               "CNN1D_COURSE_ID": COURSE_ID, "CNN1D_EXCHANGE": str(exchange)}
        account = pwd.getpwnam(user)

        def as_student():
            cgroup.join()
            os.setgid(account.pw_gid)
            os.setgroups([])
            os.setuid(account.pw_uid)

        server = subprocess.Popen(
            [str(user_env / "bin" / "jupyter-server"), "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}"],
            cwd=home, env=env, preexec_fn=as_student, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}

        def step(name, action):
            cgroup.reset_peak()
            cpu, start = cgroup.cpu_seconds(), time.monotonic()
            detail = action()
            memory = cgroup.memory_events()
            rows.append((name, time.monotonic() - start, cgroup.cpu_seconds() - cpu,
                         memory["max_usage"] / 2**20, memory["usage"] / 2**20, detail))
            print(f"{name:<44} {rows[-1][1]:7.1f} s wall {rows[-1][2]:7.1f} s CPU "
                  f"peak {rows[-1][3]:6.0f} MiB  end {rows[-1][4]:6.0f} MiB  {detail}",
                  flush=True)

        def started():
            deadline = time.monotonic() + 120
            while True:
                try:
                    with urllib.request.urlopen(urllib.request.Request(
                            base + "/api/status", headers=headers), timeout=5):
                        return "ok"
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the Jupyter server did not start") from None
                    time.sleep(0.5)

        def validate(stage):
            def run():
                data = urllib.parse.urlencode(
                    {"path": f"{stage.name}/{stage.notebook}"}).encode()
                with urllib.request.urlopen(urllib.request.Request(
                        base + "/assignments/validate", data=data, headers=headers),
                        timeout=1800) as answer:
                    result = json.loads(answer.read())
                value = result.get("value")
                if not result.get("success") or not isinstance(value, dict) or set(value) - {
                        "passed"}:
                    return f"not validated: {str(result)[:300]}"
                return "validated: every test cell passes"
            return run

        loop = asyncio.new_event_loop()
        kernel = {}

        def train():
            async def go():
                kernel["id"], kernel["ws"] = await kernel_channel(base, headers)
                await execute(kernel["ws"], f"import os; os.chdir({str(home / training.name)!r})")
                for i, cell in enumerate(nb.cells):
                    if cell.cell_type == "code":
                        _, error, _ = await execute(kernel["ws"], cell.source)
                        if error:
                            return f"cell {i} failed: {error}: {cell.source[:80]!r}"
                return "all cells ran"
            return loop.run_until_complete(go())

        step("1. server started, idle", started)
        time.sleep(5)
        step("   idle 5 s", lambda: "")
        step(f"2. Validate stage 1 ({first.name})", validate(first))
        if os.environ.get("CNN1D_MEASURE_QUICK") != "1":  # tests stop here
            step(f"3. stage 5 ({training.name}) run in a kernel", train)
            step("4. Validate stage 5, that kernel still open", validate(training))
        overall = max(r[3] for r in rows)
        print(f"peak memory of the server over all steps: {overall:.0f} MiB; "
              f"CPU over all steps: {sum(r[2] for r in rows):.1f} s")
        failed = [r[0] for r in rows if r[5].startswith(("cell", "not validated"))]
        if failed:
            raise SystemExit(f"not a measurement of the student's path: {failed} failed "
                             "(is release/ built from this checkout? make build)")
        return rows
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
        if cgroup:
            cgroup.kill_all()
            cgroup.remove()
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run(["userdel", "-r", user], capture_output=True)
        shutil.rmtree(exchange, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user-env", type=Path,
                        default=Path(os.environ.get("CNN1D_USER_ENV", "/opt/tljh/user")),
                        help="the users' environment (setup.sh user-env)")
    parser.add_argument("--memory-mb", type=int, default=8192,
                        help="the measuring cgroup's memory cap, above what the steps need")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: it makes a Linux user and a cgroup")
    if not (args.user_env / "bin" / "jupyter-server").exists():
        parser.error(f"no users' environment at {args.user_env}: "
                     "bash deploy/jupyterhub/setup.sh user-env")
    if not (KIT / "release" / "training").is_dir():
        parser.error("no release/: make build")
    measure(args.user_env, args.memory_mb)


if __name__ == "__main__":
    main()
