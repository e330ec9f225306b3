"""deploy/README.md's commands as written, as root on this host: the hub's
set-up from a clone at /srv/cnn1d/course, the hub started and answering a
login, the instructor logged in there in chromium with formgrader open in the
server the hub starts for them, a stage released and submitted by the student the block makes, the
class graded with `python -m course grade` (as the instructor the block makes)
locally and on a Dask scheduler
and worker started by the Dask block (on 127.0.0.1).

What the test adds to the blocks, and why:
- the clone's `.venv` is the users' environment (`setup.sh user-env`: the
  kit's pinned packages), linked before `make build`, so the test does not
  download them again (`make build` still runs);
- the passwords `passwd` asks for are typed on its standard input;
- the hub listens on a free loopback port over HTTPS (`CNN1D_HUB_URL`, which
  the hub's configuration reads), as tests may only use loopback addresses;
- the student's submission is made with nbgrader's commands as that user.

It refuses to run on a host that already holds a course at /srv/cnn1d or the
block's users, and removes what it made. Slow (2-4 minutes); root only.
"""

import os
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from course.stages import get_stage
from tests import docblocks, pages
from tests.servers import stop_group as stop
from tests.servers import wait_for_url

ROOT = docblocks.ROOT
COURSE = Path("/srv/cnn1d/course")
STAGE = get_stage("single_channel")
DEPLOY = "deploy/README.md"
PASSWORD = "term-password-1"
USERS = ("teacher", "ada")
STUDENT_ENV = Path("/opt/tljh/user/bin")


def _user_exists(name):
    return subprocess.run(["id", name], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the hub's set-up runs as root"),
    pytest.mark.skipif(not shutil.which("useradd") or not shutil.which("apt-get"),
                       reason="needs useradd and apt-get (Debian)"),
    pytest.mark.skipif(Path("/srv/cnn1d").exists(),
                       reason="/srv/cnn1d exists: a real course is not touched"),
    pytest.mark.skipif(any(_user_exists(u) for u in USERS),
                       reason=f"the users {USERS} exist on this host"),
]


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deploy")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "CNN1D_GRADER_SECRET", "PYTHONPATH", "CNN1D_KIT",
                        "MAKEFLAGS", "MAKELEVEL")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    root = docblocks.Shell(tmp, env)
    seen, procs = {}, []
    # what the set-up makes that was not there before goes again afterwards
    made = [p for p in (Path("/srv/nbgrader"), Path("/opt/tljh/state"), Path("/opt/tljh/hub"),
                        Path("/opt/tljh/secret"), Path("/opt/tljh/hub-config"))
            if not p.exists()]
    made_users = [u for u in ("cnn1d-backup",) if not _user_exists(u)]
    groups = [g for g in ("formgrade-cnn1d", "nbgrader-cnn1d")
              if subprocess.run(["getent", "group", g], capture_output=True).returncode]
    try:
        yield run_host(root, tmp, seen, procs)
    finally:
        for proc in procs:
            stop(proc)
        for user in (*USERS, *made_users):
            subprocess.run(["userdel", "-r", user], capture_output=True)
        for group in groups:
            subprocess.run(["groupdel", group], capture_output=True)
        for path in ("/srv/cnn1d", *made):
            shutil.rmtree(path, ignore_errors=True)


def run_host(root, tmp, seen, procs):
    # 1. the hub's set-up, command by command as the admin types them
    setup = docblocks.commands(docblocks.block("deploy/README.md", "git clone"))
    *commands, hub = setup
    for command in commands:
        if "<your private copy of the kit>" in command:
            root.run(command, your_private_copy_of_the_kit=ROOT)
            # the users' environment (the kit's pinned packages on Debian's
            # python3, which the instructor runs too: this checkout's .venv may
            # be on a Python under /root, as on the kit's development machines)
            docblocks.link_venv(STUDENT_ENV.parent, COURSE / ".venv")
            os.utime(COURSE / "pyproject.toml", (0, 0))  # the linked .venv is up to date
        elif "passwd " in command:
            root.run(command, input=f"{PASSWORD}\n{PASSWORD}\n")
        else:
            root.run(command)
    assert Path(root.cwd) == COURSE

    # the hub, on loopback, over HTTPS with the certificate the block made (its
    # name is the host's: the chain is checked, not the name)
    port = pages.free_port()
    log = tmp / "hub.log"
    tls = ssl.create_default_context(cafile="/opt/tljh/state/ssl/fullchain.pem")
    tls.check_hostname = False
    hub_env = dict(root.env, CNN1D_HUB_URL=f"https://127.0.0.1:{port}",
                   CNN1D_HUB_API_URL=f"http://127.0.0.1:{pages.free_port()}",
                   CNN1D_PROXY_API_URL=f"http://127.0.0.1:{pages.free_port()}")
    with open(log, "w") as out:
        proc = docblocks.Shell(root.cwd, hub_env).start(hub, out)
    procs.append(proc)
    seen["login page"] = wait_for_url(f"https://127.0.0.1:{port}/hub/login", proc, log,
                                      context=tls)
    # the instructor, in chromium, logs in there and opens formgrader in the
    # server the hub starts for them (the chain was checked above)
    hub_url = f"https://127.0.0.1:{port}"
    with pages.chromium() as browser:
        page = pages.new_page(browser, ignore_https_errors=True)
        pages.hub_login(page, hub_url, USERS[0], PASSWORD)
        server = pages.HubServer(f"{hub_url}/user/{USERS[0]}")
        page.goto(server.url("lab"))  # the hub starts the server, then JupyterLab loads
        page.get_by_role("menuitem", name="Nbgrader", exact=True).wait_for(timeout=240_000)
        frame = pages.open_formgrader(page, server)
        seen["formgrader"] = frame.locator("body").inner_text()
    stop(proc)

    # 2. a stage released to the exchange setup.sh made, by the instructor (never
    # root) with the environment the hub gives instructors' servers; ada fetches
    # and submits in the users' environment with the student's role, as on the hub
    teacher_env = dict(root.env, HOME=f"/home/{USERS[0]}", USER=USERS[0], LOGNAME=USERS[0])
    hub_vars = {"CNN1D_EXCHANGE": "/srv/nbgrader/exchange", "CNN1D_COURSE_ID": "cnn1d"}
    docblocks.Shell(COURSE, dict(teacher_env, **hub_vars, CNN1D_KIT=str(COURSE),
                                 JUPYTER_CONFIG_PATH="/opt/tljh/roles/instructor"),
                    user=USERS[0]).run(f".venv/bin/nbgrader release_assignment {STAGE.name}")
    home = Path(f"/home/{USERS[1]}")
    ada = docblocks.Shell(home, {"HOME": str(home), "USER": "ada", "LOGNAME": "ada",
                                 "PATH": f"{STUDENT_ENV}:/usr/bin:/bin", **hub_vars,
                                 "JUPYTER_CONFIG_PATH": "/opt/tljh/roles/student"}, user="ada")
    ada.run(f"nbgrader fetch_assignment {STAGE.name} --course=cnn1d && "
            f"nbgrader submit {STAGE.name} --course=cnn1d")

    # the course secret: the instructors' group reads it, a student does not
    # (weakened: its folder and file opened to others, she does)
    secret = Path("/opt/tljh/secret/cnn1d_grader_secret")

    def reads(user):
        return subprocess.run(["runuser", "-u", user, "--", "cat", str(secret)],
                              capture_output=True).returncode == 0

    seen["secret read by teacher, ada, ada weakened"] = [reads(USERS[0]), reads(USERS[1])]
    modes = secret.parent.stat().st_mode & 0o7777, secret.stat().st_mode & 0o7777
    try:
        secret.parent.chmod(0o755)
        secret.chmod(0o644)
        seen["secret read by teacher, ada, ada weakened"].append(reads(USERS[1]))
    finally:
        secret.parent.chmod(modes[0])
        secret.chmod(modes[1])

    # 3. the Dask block: a scheduler and a worker, each line on its "host", as
    # the instructor (never root: the course is the instructors' group's to write)
    sched_port = pages.free_port()
    for i, line in enumerate(docblocks.commands(docblocks.block("deploy/README.md",
                                                                 "dask scheduler"))):
        line = line.replace("8786", str(sched_port))
        with open(tmp / f"dask{i}.log", "w") as out:
            procs.append(docblocks.Shell(COURSE, teacher_env, user=USERS[0]).start(
                line, out, scheduler_host="127.0.0.1"))

    # 4. the grading block, as written (with the Dask line's port moved too), as
    # the instructor, with the secret the group reads
    grading = docblocks.block("deploy/README.md", "course grade single_channel --workers")
    docblocks.Shell(COURSE, teacher_env, user=USERS[0]).run(
        grading.replace("8786", str(sched_port)), scheduler_host="127.0.0.1", timeout=1200)
    seen["gradebook"] = gradebook()
    return seen


def gradebook():
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{COURSE / 'gradebook.db'}") as gb:
        return {s.student_id: s.score for s in gb.assignment_submissions(STAGE.name)}


def test_the_hub_set_up_as_written_answers_its_login_page(host):
    status, page = host["login page"]
    assert status == 200 and "<form" in page


def test_the_instructor_logs_in_and_opens_formgrader_in_chromium(host):
    assert "Manage Assignments" in host["formgrader"]


def test_the_course_secret_is_the_instructors_groups_alone(host):
    assert host["secret read by teacher, ada, ada weakened"] == [True, False, True]


def test_the_grading_block_grades_the_submission_locally_and_on_dask(host):
    assert host["gradebook"] == {"ada": 0.0}
