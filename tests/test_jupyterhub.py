"""A class on JupyterHub, end to end, with deploy/jupyterhub/jupyterhub_config.py
and the course laid out by deploy/jupyterhub/setup.sh (its roles, exchange,
course and backups steps, run on a copy of the kit): real Linux users (an
instructor, a teaching assistant, two students), the hub and
configurable-http-proxy on 127.0.0.1, each user's server spawned as that user,
nbgrader's server extensions driven through the hub.

The instructor releases a stage, both students fetch and submit, the instructor
collects; the teaching assistant autogrades both in their own formgrader on the
same course and gradebook (nbgrader's multi-instructor layout), the instructor
generates the feedback, the assistant releases it, both students fetch it.

The hostile student (bob) meanwhile tries each hole from a notebook of his
own server on the hub (its kernel, through the proxy): reading
the course (sources, gradebook, submissions), the other student's home and
inbound submission, planting folders in the exchange, submitting in ada's name
and planting symbolic links to the instructors' files in the inbound folder;
collect refuses the forgeries with a message and collects the genuine
submissions. A backup (the command setup.sh schedules) is taken while the
assistant's formgrader writes grades, and a restore after a bad day keeps
every grade. A server that cannot read its role's configuration has no
formgrader. Each barrier is also shown weakened (the course root opened to
others, nbgrader's stock defaults, an unreadable role at the hub's start).

The hub runs from setup.sh's root-owned copy of its configuration, and the
backups as their own user: the teaching assistant plants code in the kit's
configuration and modules and on the old backup path, and none of it runs as
root (the kit's copy, as the hub and the backup used to run it, runs it).

Needs root (to create users) and the users' environment built by
`bash deploy/jupyterhub/setup.sh user-env` (.ci/run does it); the test
removes the users and groups it made. About a minute on an idle machine."""

import asyncio
import grp
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from course import backup
from course.course_id import COURSE_ID
from course.stages import get_stage
from tests import docblocks
from tests.hubrun import (
    USER_ENV,
    class_users,
    copy_kit,
    hub_variables,
    require_hub,
    running_hub,
    write_hub_config,
)

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "deploy" / "jupyterhub"
STAGE = get_stage("single_channel")
TEACHER, TA, STUDENTS = "c1dteach", "c1dta", ("c1dada", "c1dbob")
BACKUP_USER = "c1dbackup"  # the backups' own user (setup.sh backups makes it)
ADA, BOB = STUDENTS
COURSE = COURSE_ID
INSTRUCTORS, LEARNERS = f"formgrade-{COURSE}", f"nbgrader-{COURSE}"

pytestmark = pytest.mark.slow


def _csp(hub, user):
    """The frame-ancestors directive of ``user``'s JupyterLab page."""
    req = urllib.request.Request(f"{hub.url}/user/{user}/lab",
                                 headers={"Authorization": f"token {hub.token}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        policy = resp.headers.get("Content-Security-Policy") or ""
    return next((d.strip() for d in policy.split(";") if "frame-ancestors" in d), policy)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*cmd, env=None):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)


def as_user(user, *cmd, env=None):
    """Run ``cmd`` as the Linux user ``user`` (uid, gid and groups, in their
    home), as their terminal on the hub would."""
    pw = pwd.getpwnam(user)
    groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
    return subprocess.run(cmd, user=pw.pw_uid, group=pw.pw_gid, extra_groups=groups,
                          cwd=pw.pw_dir, capture_output=True, text=True, timeout=300,
                          env={"HOME": pw.pw_dir, "USER": user,
                               "PATH": f"{USER_ENV / 'bin'}:/usr/bin:/bin", **(env or {})})


class Hub:
    def __init__(self, url, token):
        self.url, self.token = url, token

    def request(self, method, path, data=None, timeout=120):
        body = None
        headers = {"Authorization": f"token {self.token}"}
        if data is not None:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode()
                try:
                    return resp.status, (json.loads(text) if text.strip() else None)
                except ValueError:  # an HTML error page
                    return 500, text
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def start(self, user, timeout=180):
        status, body = self.request("POST", f"/hub/api/users/{user}", {})
        assert status in (201, 409), (status, body)  # 409: already known to the hub
        status, body = self.request("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202), (status, body)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, info = self.request("GET", f"/hub/api/users/{user}")
            server = (info.get("servers") or {}).get("", {}) if status == 200 else {}
            if server.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"the server of {user} did not start in {timeout} s")

    def stop(self, user, timeout=60):
        status, body = self.request("DELETE", f"/hub/api/users/{user}/server")
        assert status in (202, 204), (status, body)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, info = self.request("GET", f"/hub/api/users/{user}")
            if not (info.get("servers") or {}):
                return
            time.sleep(1)
        raise AssertionError(f"the server of {user} did not stop in {timeout} s")

    def student(self, user, action, assignment=STAGE.name):
        status, body = self.request("POST", f"/user/{user}/assignments/{action}",
                                    {"course_id": COURSE, "assignment_id": assignment})
        assert status == 200, (user, action, status, body)
        assert body["success"], (user, action, body)
        return body["value"]

    def formgrader(self, path, method="POST", user=TEACHER, ok=True):
        status, body = self.request(method, f"/user/{user}/formgrader/api/{path}",
                                    {} if method == "POST" else None, timeout=600)
        assert status == 200, (path, status, str(body)[-1000:], self.log.read_text()[-3000:])
        if ok and isinstance(body, dict) and "success" in body:
            assert body["success"], (path, body.get("error") or body.get("log"))
        return body


def _setup_step(step, course, env):
    """A step of the course's own copy of deploy/jupyterhub/setup.sh, as root."""
    _run("bash", str(course / "deploy" / "jupyterhub" / "setup.sh"), step,
         env=dict(os.environ, **env))


def _readme(block, course, env, first=0, last=None):
    """Commands ``first:last`` of a block of deploy/README.md, as written but for
    the course root's and the backups' paths, run as root in one terminal."""
    lines = docblocks.commands(block)[first:last]
    text = "\n".join(lines).replace("/srv/cnn1d/course", str(course)).replace(
        "/var/backups/cnn1d", env["CNN1D_BACKUPS"]).replace(
        "/opt/tljh/hub-config", env["CNN1D_HUB_CONFIG"]).replace("cnn1d-backup", BACKUP_USER)
    return docblocks.Shell(course, env).run(text)


@pytest.fixture(scope="module")
def hub():
    require_hub()
    work = Path(tempfile.mkdtemp(prefix="cnn1d-hub-"))
    people = ((TEACHER, INSTRUCTORS), (TA, INSTRUCTORS), *((s, LEARNERS) for s in STUDENTS))
    try:
        os.chmod(work, 0o755)
        with class_users(people, others=[BACKUP_USER]):
            # the course root: a copy of the kit, laid out by its own setup.sh
            course = work / "course"
            copy_kit(course)
            paths = {"CNN1D_ROLES": str(work / "roles"),
                     "CNN1D_EXCHANGE": str(work / "exchange"),
                     "CNN1D_USER_ENV": str(USER_ENV), "CNN1D_BACKUPS": str(work / "backups"),
                     "CNN1D_CRON_FILE": str(work / "cnn1d-backup.cron"),
                     "CNN1D_HUB_CONFIG": str(work / "hub-config"),
                     "CNN1D_BACKUP_USER": BACKUP_USER}
            for step in ("exchange", "backups"):
                _setup_step(step, course, paths)
            _readme(docblocks.block("deploy/README.md", "setup.sh roles"), course,
                    dict(os.environ, **paths))  # its roles and course steps
            state = work / "state"
            state.mkdir(mode=0o700)
            (state / "secret").write_text("hub-test-secret\n")
            # the root-owned copy setup.sh installs, as the hub runs it
            config, token = write_hub_config(state, work / "hub-config" / "jupyterhub_config.py")
            port = _free_port()
            env = dict(os.environ, CNN1D_KIT=str(course), **paths,
                       CNN1D_SECRET_FILE=str(state / "secret"),
                       **hub_variables(state, f"http://127.0.0.1:{port}"),
                       # the feedback service has its own test (tests/test_feedback_hub.py)
                       CNN1D_FEEDBACK="off")
            client = Hub(f"http://127.0.0.1:{port}", token)
            client.work, client.course, client.log = work, course, state / "hub.log"
            client.env, client.exchange, client.roles = env, work / "exchange", work / "roles"
            client.backups, client.cron = work / "backups", work / "cnn1d-backup.cron"
            with running_hub(client, config, env, state):
                yield client
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _answer_notebook(path):
    """Write the reference answers into a fetched notebook, as its owner would."""
    import nbformat

    from course.flow import fill_answers, reference_answers

    nb = nbformat.read(path, as_version=4)
    fill_answers(nb, reference_answers(STAGE))
    nbformat.write(nb, path)


def _home(user):
    return Path(pwd.getpwnam(user).pw_dir)


class KernelShell:
    """Commands run from a kernel of ``user``'s server, through the hub and the
    proxy: the user's own server, with the environment the hub gave it, as the
    user's notebook or terminal runs them."""

    def __init__(self, hub, user):
        sys.path.insert(0, str(HUB))
        try:
            from measure_server import execute, kernel_channel
        finally:
            sys.path.remove(str(HUB))
        self.hub, self.execute, self.loop = hub, execute, asyncio.new_event_loop()
        self.kernel, self.ws = self.loop.run_until_complete(kernel_channel(
            hub.url + f"/user/{user}", {"Authorization": f"token {hub.token}"}))
        self.user = user

    def __call__(self, *cmd, env=None):
        code = ("import json, os, subprocess\n"
                f"r = subprocess.run({list(cmd)!r}, capture_output=True, text=True, "
                f"env={{**os.environ, **{env or {}!r}}}, cwd=os.path.expanduser('~'))\n"
                "print(json.dumps([r.returncode, r.stdout, r.stderr]))")
        out, error, _ = self.loop.run_until_complete(self.execute(self.ws, code, 300))
        assert error is None, (self.user, cmd, error, out)
        code, stdout, stderr = json.loads(out.strip().splitlines()[-1])
        return subprocess.CompletedProcess(cmd, code, stdout, stderr)

    def close(self):
        async def close_ws():  # tornado writes the close frame on the running loop
            self.ws.close()

        self.loop.run_until_complete(close_ws())
        self.hub.request("DELETE", f"/user/{self.user}/api/kernels/{self.kernel}")
        self.loop.close()


def _cannot(shell, *cmd):
    peek = shell(*cmd)
    assert peek.returncode != 0 and not peek.stdout, (cmd, peek.stdout[:300])


def _scores(hub, user=TEACHER):
    return {s["student"]: s["score"]
            for s in hub.formgrader(f"submissions/{STAGE.name}", "GET", user=user)}


# what the users' environment's python finds enabled, by jupyter_server's own search
EXTENSIONS = """
import json
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.load_config_file()
app.find_server_extensions()
print(json.dumps(app.jpserver_extensions))
"""


def _enabled_as(user, config_path):
    out = as_user(user, str(USER_ENV / "bin" / "python"), "-c", EXTENSIONS,
                  env={"JUPYTER_CONFIG_PATH": str(config_path)})
    assert out.returncode == 0, out.stderr[-2000:]
    return {k for k, v in json.loads(out.stdout.splitlines()[-1]).items() if v}


def test_a_class_on_jupyterhub(hub):
    for user in (TEACHER, TA, *STUDENTS):
        hub.start(user)
    course, inbound = hub.course, hub.exchange / COURSE / "inbound"

    # students see the student tools only; both instructors get formgrader
    status, _ = hub.request("GET", f"/user/{ADA}/formgrader/api/assignments")
    assert status in (403, 404), "a student reached formgrader"
    for user in (TEACHER, TA):
        assert hub.request("GET", f"/user/{user}/formgrader/api/assignments")[0] == 200, user
    # a crafted link to an instructor's formgrader page: the id it takes from the
    # URL lands escaped in the page's script (tests/test_pages.py runs it in chromium)
    _, page = hub.request("GET", f"/user/{TEACHER}/formgrader/manage_students/"
                          + urllib.parse.quote('x";alert(1);"', safe=""))
    assert 'var student_id = "x&#34;;alert(1);&#34;";' in page, page[-1500:]
    # formgrader's panel is a frame of the instructor's own page: their server may
    # be framed by its own origin, a student's by nothing (JupyterHub's default)
    framing = {user: _csp(hub, user) for user in (TEACHER, TA, ADA)}
    assert framing == {TEACHER: "frame-ancestors 'self'", TA: "frame-ancestors 'self'",
                       ADA: "frame-ancestors 'none'"}, framing

    hub.formgrader(f"assignment/{STAGE.name}/assign")
    hub.formgrader(f"assignment/{STAGE.name}/release")
    for student in STUDENTS:
        listed = hub.student(student, "fetch")
        assert any(a["assignment_id"] == STAGE.name for a in listed)
        notebook = _home(student) / STAGE.name / STAGE.notebook
        assert notebook.stat().st_uid == pwd.getpwnam(student).pw_uid
        if student == ADA:  # ada answers; bob submits the release untouched
            _answer_notebook(notebook)
        hub.student(student, "submit")
    ada_entry = next(p for p in inbound.iterdir() if p.name.startswith(ADA + "+"))

    # --- the hostile student, from his notebook on the hub --------------------------
    bob = KernelShell(hub, BOB)
    source = course / "source" / STAGE.name / STAGE.notebook
    for path in (course, source, course / "gradebook.db", course / "solutions",
                 _home(ADA), _home(ADA) / STAGE.name / STAGE.notebook, inbound):
        _cannot(bob, "ls", str(path))
        _cannot(bob, "cat", str(path))
    # (ada's inbound folder ends in 72 random bits and inbound/ cannot be listed:
    # bob cannot name it)
    # his role's configuration is his to read, without reading the course
    assert bob("cat", str(hub.roles / "student" / "nbgrader_config.py")).returncode == 0
    # the course's exchange folders are the instructors' own
    for cmd in (("mkdir", str(hub.exchange / COURSE / "outbound" / "extra")),
                ("rm", "-rf", str(hub.exchange / COURSE / "outbound" / STAGE.name)),
                ("mv", str(hub.exchange / COURSE), str(hub.exchange / "moved"))):
        assert bob(*cmd).returncode != 0, cmd
    assert (hub.exchange / COURSE / "outbound" / STAGE.name / STAGE.notebook).exists()
    # weakened: without its sticky bit the exchange root lets him move the course away
    os.chmod(hub.exchange, 0o777)
    try:
        assert bob("mv", str(hub.exchange / COURSE), str(hub.exchange / "moved")).returncode == 0
    finally:
        if (hub.exchange / "moved").exists():
            os.rename(hub.exchange / "moved", hub.exchange / COURSE)
        os.chmod(hub.exchange, 0o1777)
    # submit in ada's name: nbgrader's shared exchange lets it through ...
    forged = bob("nbgrader", "submit", STAGE.name, f"--course={COURSE}", f"--student={ADA}")
    assert forged.returncode == 0, forged.stderr[-2000:]
    # ... and links to the instructors' files, as his own newer submissions
    later = f"{BOB}+{STAGE.name}+2099-01-01 00:00:0{{}}.000000 UTC+x"
    assert bob("ln", "-s", str(source.parent), str(inbound / later.format(1))).returncode == 0
    nested = inbound / later.format(2)
    assert bob("mkdir", str(nested)).returncode == 0
    assert bob("ln", "-s", str(source), str(nested / STAGE.notebook)).returncode == 0

    # collect refuses all three, says so, and collects the genuine submissions
    result = hub.formgrader(f"assignment/{STAGE.name}/collect", ok=False)
    message = (result.get("error") or "") + (result.get("log") or "")
    assert not result["success"], "collect took forged submissions without failing"
    assert "collect refused 3 submission(s)" in message, message[-3000:]
    assert f"claims to be {ADA}'s submission but is owned by {BOB}" in message
    assert f"claims to be {BOB}'s submission but is a symbolic link" in message
    assert f"holds a symbolic link: {STAGE.notebook}" in message
    collected = course / "submitted"
    assert ((collected / ADA / STAGE.name / STAGE.notebook).read_bytes()
            == (_home(ADA) / STAGE.name / STAGE.notebook).read_bytes())
    assert "BEGIN SOLUTION" not in (collected / BOB / STAGE.name / STAGE.notebook).read_text()

    # --- a teaching assistant grades the same course ---------------------------
    hub.formgrader(f"submission/{STAGE.name}/{ADA}/autograde", user=TA)
    backed_up = []  # a backup, as scheduled, while the assistant's formgrader writes grades
    *_, cron_user, command = next(line for line in hub.cron.read_text().splitlines()
                                  if line.strip() and not line.startswith("#")).split(None, 6)
    assert cron_user == BACKUP_USER
    during = threading.Thread(target=lambda: backed_up.append(subprocess.run(
        ["runuser", "-u", cron_user, "--", "sh", "-c", command], capture_output=True, text=True)))
    during.start()
    hub.formgrader(f"submission/{STAGE.name}/{BOB}/autograde", user=TA)
    during.join(300)
    assert backed_up and backed_up[0].returncode == 0, (command, backed_up)
    assert (hub.backups / "latest" / "manifest.json").exists()
    assert _scores(hub) == {ADA: STAGE.max_score, BOB: 0}  # the instructor sees them
    hub.formgrader(f"assignment/{STAGE.name}/generate_feedback")
    hub.formgrader(f"assignment/{STAGE.name}/release_feedback", user=TA)
    for student in STUDENTS:
        hub.student(student, "fetch_feedback")
        (html,) = (_home(student) / STAGE.name / "feedback").rglob(f"{STAGE.name}.html")
        assert "run_check" not in html.read_text()
    # everything either instructor wrote belongs to their group; none of it is bob's
    gid = grp.getgrnam(INSTRUCTORS).gr_gid
    written = [p for p in course.rglob("*") if p.stat().st_uid == pwd.getpwnam(TA).pw_uid]
    assert written, "the assistant wrote nothing in the course"
    strays = [str(p) for p in course.rglob("*") if not p.is_symlink() and p.stat().st_gid != gid]
    assert not strays, strays[:10]
    graded = next((course / "autograded" / ADA / STAGE.name).glob("*.ipynb"))
    _cannot(bob, "cat", str(graded))
    _cannot(bob, "cat", str(next((course / "feedback" / ADA).rglob("*.html"))))
    # weakened: folders open to others, as a plain clone has them, show what the
    # folders' modes hold back (nbgrader makes its files readable by all)
    folders = [graded.parents[i] for i in range(len(graded.relative_to(course).parts))]
    modes = {f: f.stat().st_mode for f in folders}
    try:
        for folder in folders:
            os.chmod(folder, modes[folder] | 0o005)
        assert bob("cat", str(graded)).returncode == 0
    finally:
        for folder in folders:
            os.chmod(folder, modes[folder] & 0o7777)

    # --- backup and restore, deploy/README.md's commands -------------------------
    backups = docblocks.block("deploy/README.md", "cnn1d_backup.py create")
    listed = _readme(backups, course, hub.env, last=-1)  # cd, create, list
    assert "grades, 2 submissions" in listed.stdout, listed.stdout
    grades = backup.grades(course / "gradebook.db")
    assert {key[0] for key in grades} == set(STUDENTS), grades
    bad = subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect("
                          "sys.argv[1]); c.execute('UPDATE grade SET auto_score = 0'); c.commit()",
                          str(course / "gradebook.db")], capture_output=True, text=True)
    assert bad.returncode == 0, bad.stderr
    shutil.rmtree(collected)
    shutil.rmtree(ada_entry)
    assert _scores(hub)[ADA] == 0
    _readme(backups, course, hub.env, first=-1)  # restore latest
    assert backup.grades(course / "gradebook.db") == grades
    assert _scores(hub) == {ADA: STAGE.max_score, BOB: 0}
    assert ada_entry.stat().st_uid == pwd.getpwnam(ADA).pw_uid  # collect's check holds
    assert (collected / ADA / STAGE.name / STAGE.notebook).exists()

    # --- a server that cannot read its role fails closed -----------------------
    student_role = hub.roles / "student"
    assert "nbgrader.server_extensions.formgrader" not in _enabled_as(BOB, student_role)
    stock = hub.work / "stock" / "jupyter_server_config.d"  # nbgrader's own defaults
    stock.mkdir(parents=True)
    (stock / "nbgrader.json").write_text(json.dumps({"ServerApp": {"jpserver_extensions": {
        "nbgrader.server_extensions.formgrader": True}}}))
    os.chmod(stock.parent, 0o755)
    assert "nbgrader.server_extensions.formgrader" in _enabled_as(BOB, stock.parent)
    bob.close()
    hub.stop(BOB)
    os.chmod(student_role, 0o700)
    try:
        assert "nbgrader.server_extensions.formgrader" not in _enabled_as(BOB, student_role), (
            f"the users' environment enables formgrader by default: run `bash "
            f"deploy/jupyterhub/setup.sh user-env` ({USER_ENV})")
        hub.start(BOB)
        status, _ = hub.request("GET", f"/user/{BOB}/formgrader/api/assignments")
        assert status in (403, 404), "a student whose role could not load reached formgrader"
        # and a hub started so refuses to start, naming the folder
        refused = subprocess.run(
            [sys.executable, "-c", "import sys; from traitlets.config import Config; "
             "c = Config(); exec(open(sys.argv[1]).read(), {'get_config': lambda: c, "
             "'__file__': sys.argv[1], 'load_subconfig': lambda p: None})",
             str(HUB / "jupyterhub_config.py")], env=hub.env, capture_output=True, text=True)
        assert refused.returncode != 0 and f"{student_role} is not readable" in refused.stderr, (
            refused.stderr[-2000:])
    finally:
        os.chmod(student_role, 0o755)


def _config_as_root(config, env):
    """The hub's configuration ``config`` evaluated as root, as the hub loads it
    at its start (the LTI login on, so that every module it imports is loaded)."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from traitlets.config import Config; "
         "c = Config(); exec(open(sys.argv[1]).read(), {'get_config': lambda: c, "
         "'__file__': sys.argv[1], 'load_subconfig': lambda p: None})", str(config)],
        env=dict(env, CNN1D_LTI_CLIENT_ID="cnn1d-test"), cwd=env["CNN1D_BACKUPS"],
        capture_output=True, text=True)


def test_an_instructor_runs_no_code_as_root(hub):
    """Root runs nothing the instructors' group can write. The teaching
    assistant (a member of formgrade-<course>, as anyone the LMS makes one is)
    plants code in the kit's hub configuration and modules and, as modules the
    backup imports, in the course root, and tries root's own copies and the
    backup folder: root's copies refuse the write, and neither the hub's
    configuration (from setup.sh's copy) nor the backup (cron's command as its
    user, deploy/README.md's restore as root) runs any of it. Weakened, as the
    set-up was: the kit's copy refused by the hub as root, its module run when
    imported from the kit, the backup run as root in the course root."""
    course, installed = hub.course, hub.work / "hub-config"
    kit_hub = course / "deploy" / "jupyterhub"
    ran = hub.work / "planted-ran"  # hub.work is root's (0755): only root makes it
    payload = f"\nopen({str(ran)!r}, 'a').write(str(__import__('os').geteuid()) + ' ran\\n')\n"

    def plant(path):
        return as_user(TA, "sh", "-c", 'printf "%s" "$1" >> "$2"', "sh", payload, str(path))

    for name in ("jupyterhub_config.py", "cnn1d_spawner.py", "cnn1d_lti.py"):
        assert plant(kit_hub / name).returncode == 0  # the course's: the group writes it
    for name in ("sqlite3.py", "tarfile.py", "json.py"):  # the backup's imports
        assert plant(course / name).returncode == 0
    shut = [installed / p.name for p in installed.iterdir()]
    assert {p.name for p in shut} >= {"jupyterhub_config.py", "cnn1d_spawner.py",
                                      "cnn1d_lti.py", "cnn1d_isolation.py", "cnn1d_backup.py"}
    for path in (*shut, installed / "sqlite3.py", hub.backups / "sqlite3.py"):
        tried = plant(path)
        assert tried.returncode != 0 and "Permission denied" in tried.stderr, (path, tried)

    # the hub's configuration from root's copy: loads, runs nothing planted
    loaded = _config_as_root(installed / "jupyterhub_config.py", hub.env)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    # the backups: cron's command as its user, then deploy/README.md's block
    # (create and list as that user, restore as root)
    *_, cron_user, command = next(line for line in hub.cron.read_text().splitlines()
                                  if line.strip() and not line.startswith("#")).split(None, 6)
    made = subprocess.run(["runuser", "-u", cron_user, "--", "sh", "-c", command],
                          capture_output=True, text=True)
    assert made.returncode == 0, (command, made.stderr)
    _readme(docblocks.block("deploy/README.md", "cnn1d_backup.py restore"), course, hub.env)
    assert not ran.exists(), ran.read_text()

    # weakened: the kit's copy, as the hub was started before, is refused as root ...
    refused = _config_as_root(kit_hub / "jupyterhub_config.py", hub.env)
    assert refused.returncode != 0 and "may be written by others than root" in refused.stderr, (
        refused.stderr[-2000:])
    assert not ran.exists()
    # ... because what it imports from the kit runs the planted code as root
    imported = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]);"
                               " import cnn1d_spawner", str(kit_hub)], capture_output=True,
                              text=True)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert ran.read_text() == "0 ran\n"
    ran.unlink()
    # and the backup as root in the course root (the cron line before) runs it too
    subprocess.run([sys.executable, "-m", "course.backup", "list"], cwd=course,
                   env=dict(hub.env, PYTHONPATH=""), capture_output=True, text=True)
    assert ran.read_text().startswith("0 ran\n")
