"""A class on JupyterHub, end to end, with deploy/jupyterhub/jupyterhub_config.py:
real Linux users (an instructor and two students), the hub and
configurable-http-proxy on 127.0.0.1, each user's server spawned as that user,
and the nbgrader server extensions driven through the hub: the instructor
generates and releases a stage, both students fetch and submit, the
instructor collects, autogrades (sandboxed), generates and releases
feedback, both students fetch it. A student cannot read the other's
submission in the exchange.

Needs root (to create users) and the users' environment built by
`bash deploy/jupyterhub/setup.sh user-env` (.ci/run does it); the test
removes the users and groups it made."""

import grp
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
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from course.course_id import COURSE_ID
from course.stages import get_stage

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "deploy" / "jupyterhub"
STAGE = get_stage("single_channel")
USER_ENV = Path(os.environ.get("CNN1D_USER_ENV", "/opt/tljh/user"))
TEACHER, STUDENTS = "c1dteach", ("c1dada", "c1dbob")
COURSE = COURSE_ID

pytestmark = pytest.mark.slow


def _can_create_users():
    if os.geteuid() != 0:
        return "creating Linux users needs root"
    if not shutil.which("useradd"):
        return "useradd is not installed"
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


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

    def student(self, user, action, assignment=STAGE.name):
        status, body = self.request("POST", f"/user/{user}/assignments/{action}",
                                    {"course_id": COURSE, "assignment_id": assignment})
        assert status == 200, (user, action, status, body)
        assert body["success"], (user, action, body)
        return body["value"]

    def formgrader(self, path, method="POST"):
        status, body = self.request(method, f"/user/{TEACHER}/formgrader/api/{path}",
                                    {} if method == "POST" else None, timeout=600)
        assert status == 200, (path, status, str(body)[-1000:], self.log.read_text()[-3000:])
        if isinstance(body, dict) and "success" in body:
            assert body["success"], (path, body.get("error") or body.get("log"))
        return body


@pytest.fixture(scope="module")
def hub():
    reason = _can_create_users()
    if reason:
        pytest.skip(reason)
    if not (USER_ENV / "bin" / "jupyterhub-singleuser").exists():
        pytest.fail(f"no users' environment at {USER_ENV}: run "
                    "`bash deploy/jupyterhub/setup.sh user-env` (.ci/run does)")
    if not shutil.which("configurable-http-proxy"):
        pytest.fail("configurable-http-proxy is not installed: "
                    "`npm install -g configurable-http-proxy` (.ci/run does)")
    work = Path(tempfile.mkdtemp(prefix="cnn1d-hub-"))
    made_groups, made_users, proc = [], [], None
    try:
        os.chmod(work, 0o755)
        for group in (f"formgrade-{COURSE}", f"nbgrader-{COURSE}"):
            try:
                grp.getgrnam(group)
            except KeyError:
                _run("groupadd", group)
                made_groups.append(group)
        for user, group in ((TEACHER, f"formgrade-{COURSE}"),
                            *((s, f"nbgrader-{COURSE}") for s in STUDENTS)):
            subprocess.run(["userdel", "-r", user], capture_output=True)  # an earlier run's
            _run("useradd", "-m", "-s", "/bin/bash", "-G", group, user)
            made_users.append(user)
        # the course root: a copy of the kit, the instructor's
        course = work / "course"
        shutil.copytree(ROOT, course, ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "lab", "tests", "submitted", "autograded", "feedback",
            "gradebook.db", "release", "__pycache__", ".pytest_cache", ".ruff_cache"))
        _run("chown", "-R", TEACHER, str(course))
        exchange = work / "exchange"
        exchange.mkdir()
        os.chmod(exchange, 0o777)
        state = work / "state"
        state.mkdir(mode=0o700)
        (state / "secret").write_text("hub-test-secret\n")
        token = secrets.token_hex(32)
        config = state / "jupyterhub_config.py"
        config.write_text(
            f"load_subconfig({str(HUB / 'jupyterhub_config.py')!r})\n"
            "c.JupyterHub.services = [{'name': 'cnn1d-test', 'api_token': "
            f"{token!r}}}]\n"
            "c.JupyterHub.load_roles = [{'name': 'cnn1d-test', 'services': ['cnn1d-test'], "
            "'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users']}]\n")
        port = _free_port()
        env = dict(os.environ, CNN1D_KIT=str(course), CNN1D_USER_ENV=str(USER_ENV),
                   CNN1D_EXCHANGE=str(exchange), CNN1D_SECRET_FILE=str(state / "secret"),
                   CNN1D_HUB_URL=f"http://127.0.0.1:{port}",
                   CNN1D_HUB_API_URL=f"http://127.0.0.1:{_free_port()}",
                   CNN1D_PROXY_API_URL=f"http://127.0.0.1:{_free_port()}",
                   CNN1D_HUB_DB=f"sqlite:///{state / 'hub.sqlite'}",
                   CNN1D_HUB_COOKIE_SECRET=str(state / "cookie_secret"))
        log = open(state / "hub.log", "w")
        proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f",
                                 str(config)], cwd=state, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        client = Hub(f"http://127.0.0.1:{port}", token)
        deadline = time.monotonic() + 90
        while True:
            try:
                if client.request("GET", "/hub/api/", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (state / "hub.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (state / "hub.log").read_text()[-3000:]
            time.sleep(0.5)
        client.work, client.course, client.exchange, client.log = work, course, exchange, \
            state / "hub.log"
        yield client
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)
        for user in made_users:
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
            subprocess.run(["userdel", "-r", user], capture_output=True)
        for group in made_groups:
            subprocess.run(["groupdel", group], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _answer_notebook(path):
    """Write the reference answers into a fetched notebook, as its owner would."""
    import nbformat

    from course.flow import fill_answers, reference_answers

    nb = nbformat.read(path, as_version=4)
    fill_answers(nb, reference_answers(STAGE))
    nbformat.write(nb, path)


def test_a_class_on_jupyterhub(hub):
    for user in (TEACHER, *STUDENTS):
        hub.start(user)

    # students see the student tools only
    status, _ = hub.request("GET", f"/user/{STUDENTS[0]}/formgrader/api/assignments")
    assert status in (403, 404), "a student reached formgrader"

    hub.formgrader(f"assignment/{STAGE.name}/assign")
    hub.formgrader(f"assignment/{STAGE.name}/release")
    for i, student in enumerate(STUDENTS):
        listed = hub.student(student, "fetch")
        assert any(a["assignment_id"] == STAGE.name for a in listed)
        home = Path(pwd.getpwnam(student).pw_dir)
        notebook = home / STAGE.name / STAGE.notebook
        assert notebook.stat().st_uid == pwd.getpwnam(student).pw_uid
        if i == 0:  # the first student answers; the second submits the release untouched
            _answer_notebook(notebook)
        hub.student(student, "submit")

    # the exchange's inbound folder: students may drop files, not read others'
    inbound = hub.exchange / COURSE / "inbound"
    ada = next(p for p in inbound.iterdir() if p.name.startswith(STUDENTS[0] + "+"))
    for command in (f"ls {inbound}", f"ls {ada}", f"cat {ada / STAGE.notebook}"):
        peek = subprocess.run(["su", STUDENTS[1], "-c", command], capture_output=True,
                              text=True)
        assert peek.returncode != 0 and not peek.stdout, (command, peek.stdout)

    hub.formgrader(f"assignment/{STAGE.name}/collect")
    for student in STUDENTS:
        hub.formgrader(f"submission/{STAGE.name}/{student}/autograde")
    subs = {s["student"]: s for s in hub.formgrader(f"submissions/{STAGE.name}", "GET")}
    assert subs[STUDENTS[0]]["score"] == STAGE.max_score, subs
    assert subs[STUDENTS[1]]["score"] == 0, subs

    hub.formgrader(f"assignment/{STAGE.name}/generate_feedback")
    hub.formgrader(f"assignment/{STAGE.name}/release_feedback")
    for student in STUDENTS:
        hub.student(student, "fetch_feedback")
        home = Path(pwd.getpwnam(student).pw_dir)
        (html,) = (home / STAGE.name / "feedback").rglob(f"{STAGE.name}.html")
        assert "run_check" not in html.read_text()
