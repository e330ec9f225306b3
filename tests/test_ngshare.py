"""Several hosts: nbgrader's exchange through ngshare, as deploy/README.md's
section "Several hosts: ngshare" sets it up, run as written (its configuration
appended to a copy of the kit, its commands as root and in the instructor's
JupyterLab) on the real hub and configurable-http-proxy, with real Linux users
and ngshare as the hub's service, as its own user.

- ada submits from the Assignment List; the instructor's collect files it
  under her name;
- bob's `nbgrader submit --student=ada` is refused; his submissions with
  JUPYTERHUB_USER=ada, and straight to ngshare's API with his own hub token
  naming ada, are recorded as his: collect files nothing of his under ada;
- his token gets 403 for the list of submissions, ada's submission, her
  feedback, creating a course, enrolling a student, making himself an
  instructor and ngshare's dump; the instructor's token gets the same
  requests answered (so the refusals are about who asks); his `nbgrader
  collect` fails;
- a fetch or a submit ngshare refuses fails (the student's classes of the
  section), where ngshare-exchange's own classes exit 0 having done nothing;
- stage 5 is not released while stages 2-4 are open (the section's guarded
  release), where ngshare-exchange's own release gives it to the students;
- ngshare listens on 127.0.0.1 only (deploy/jupyterhub/cnn1d_ngshare.py);
  ngshare alone, in a network namespace of its own, listens on every interface;
- ngshare runs in an environment of its own (SQLAlchemy 1.4): under the
  SQLAlchemy 2 of the users' and the hub's environments it stores no release
  and no submission.

Needs root, the users' environment with ngshare-exchange (`setup.sh user-env`)
and ngshare's environment (`setup.sh ngshare`).
About 2 minutes (101-148 s on the shared 2 cores, most of it the hub test).
"""

import base64
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import nbformat
import pytest

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
from tests.test_jupyterhub import Hub, KernelShell, _free_port

ROOT = Path(__file__).resolve().parents[1]
DOC = "deploy/README.md"
STAGE = get_stage("single_channel")
TEACHER, ADA, BOB, NGSHARE_USER = "t18nteach", "t18nada", "t18nbob", "t18nngs"
NGSHARE_ENV = Path("/opt/tljh/ngshare")  # as deploy/README.md's service runs it
INSTRUCTORS, LEARNERS = f"formgrade-{COURSE_ID}", f"nbgrader-{COURSE_ID}"

pytestmark = pytest.mark.slow


def _configs():
    """deploy/README.md's python blocks of the ngshare section: the hub's
    service, the instructor's and the student's exchange."""
    found = [b.text for b in docblocks.blocks(DOC, lang="python") if "ngshare" in b.text]
    service = [t for t in found if "c.JupyterHub.services.append" in t]
    exchange = [t for t in found if "configureExchange(c," in t]
    assert len(service) == 1 and len(exchange) == 2, found
    instructor, student = sorted(exchange, key=lambda t: "CheckedSubmit" in t)
    return service[0], {"instructor": instructor, "student": student}


def _ours(text, work, port, hub_url=None):
    """A block of the section with this test's users, folders and addresses."""
    text = re.sub(r"\bteacher\b", TEACHER, re.sub(r"\bada\b", ADA, text))
    text = text.replace("cnn1d-ngshare", NGSHARE_USER).replace("/srv/ngshare",
                                                               str(work / "ngshare"))
    text = text.replace("10101", str(port))
    if hub_url:
        text = text.replace("https://hub.example.edu", hub_url)
    return text


@pytest.fixture(scope="module")
def hub():
    require_hub()
    if not (USER_ENV / "bin" / "ngshare-course-management").exists():
        pytest.fail(f"no ngshare-exchange in {USER_ENV}: run "
                    "`bash deploy/jupyterhub/setup.sh user-env` (.ci/run does)")
    _require_ngshare()
    work = Path(tempfile.mkdtemp(prefix="cnn1d-ngshare-"))
    people = ((TEACHER, INSTRUCTORS), (ADA, LEARNERS), (BOB, LEARNERS))
    try:
        os.chmod(work, 0o755)
        with class_users(people, others=[NGSHARE_USER]):
            yield from _hub(work)
    finally:
        if os.environ.get("CNN1D_KEEP_HUB_LOG") and (work / "state" / "hub.log").exists():
            shutil.copy(work / "state" / "hub.log", os.environ["CNN1D_KEEP_HUB_LOG"])
        shutil.rmtree(work, ignore_errors=True)


def _hub(work):
    """The hub of the section, in ``work``, with its users made."""
    course = work / "course"
    copy_kit(course)
    port, ngshare_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    # the section's configuration, appended where it says
    service, exchanges = _configs()
    kit_hub = course / "deploy" / "jupyterhub"
    with open(kit_hub / "jupyterhub_config.py", "a") as f:
        f.write("\n" + _ours(service, work, ngshare_port))
    for role, exchange in exchanges.items():
        with open(kit_hub / "roles" / role / "nbgrader_config.py", "a") as f:
            f.write("\n" + _ours(exchange, work, ngshare_port, url))
    paths = {"CNN1D_ROLES": str(work / "roles"), "CNN1D_USER_ENV": str(USER_ENV),
             "CNN1D_HUB_CONFIG": str(work / "hub-config")}
    # its commands as root, then the steps after a change of roles/
    shell = docblocks.Shell(ROOT, dict(os.environ, **paths))
    for block in (docblocks.block("deploy/README.md", "cnn1d-ngshare"),
                  docblocks.block("deploy/README.md", "setup.sh roles")):
        shell.run(_ours(block, work, ngshare_port).replace("/srv/cnn1d/course",
                                                             str(course)))
    state = work / "state"
    state.mkdir(mode=0o700)
    (state / "secret").write_text("ngshare-test-secret\n")
    config, token = write_hub_config(state, work / "hub-config" / "jupyterhub_config.py")
    env = dict(os.environ, CNN1D_KIT=str(course), **paths,
               CNN1D_SECRET_FILE=str(state / "secret"), **hub_variables(state, url),
               CNN1D_FEEDBACK="off")
    client = Hub(url, token)
    client.log, client.course, client.ngshare_port = state / "hub.log", course, ngshare_port
    with running_hub(client, config, env, cwd=state):
        yield client


def _require_ngshare():
    """ngshare's own environment's python (setup.sh ngshare)."""
    python = NGSHARE_ENV / "bin" / "python"
    if subprocess.run([str(python), "-c", "import ngshare"], capture_output=True).returncode:
        pytest.fail(f"no ngshare in {NGSHARE_ENV}: run "
                    "`bash deploy/jupyterhub/setup.sh ngshare` (.ci/run does)")
    return python


# ngshare's API from a user's own server, with the hub token the hub gave it
API = """
import json, os, sys, urllib.error, urllib.parse, urllib.request
method, url, data = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
token = os.environ["JUPYTERHUB_API_TOKEN"]
req = urllib.request.Request(url, method=method, headers={"Authorization": "token " + token},
                             data=urllib.parse.urlencode(data).encode() if data else None)
try:
    with urllib.request.urlopen(req, timeout=60) as r:
        print(json.dumps([r.status, r.read().decode()]))
except urllib.error.HTTPError as e:
    print(json.dumps([e.code, e.read().decode()]))
"""


def _api(shell, hub, method, path, data=None):
    out = shell("python", "-c", API, method, f"{hub.url}/services/ngshare/{path}",
                json.dumps(data or {}))
    assert out.returncode == 0, out.stderr[-2000:]
    status, body = json.loads(out.stdout.strip().splitlines()[-1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def _notebook(user):
    return Path(pwd.getpwnam(user).pw_dir) / STAGE.name / STAGE.notebook


def _sign(user, mark):
    """A markdown cell naming ``mark`` at the end of the user's fetched notebook
    (written in place: the file stays the user's)."""
    nb = nbformat.read(_notebook(user), as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(mark))
    nbformat.write(nb, _notebook(user))


def release_of(hub, stage):
    """A released version of ``stage`` in the course (one file, made as the
    instructors' group makes files there); its name."""
    folder = hub.course / "release" / stage
    folder.mkdir()
    (folder / "cnn1d_reference.py").write_text("ANSWERS = 'of stages 2-4'\n")
    return "cnn1d_reference.py"


def _silent_with_stock(shell, step, stock):
    """``nbgrader STEP nosuch`` fails with the student's configuration, and
    exits 0 with ngshare-exchange's own class for the step."""
    refused = shell("nbgrader", step, "nosuch", f"--course={COURSE_ID}")
    assert refused.returncode != 0 and "ngshare did not" in refused.stderr, (
        step, refused.stderr[-2000:])
    silent = shell("nbgrader", step, "nosuch", f"--course={COURSE_ID}",
                   f"--ExchangeFactory.{step}=ngshare_exchange.{stock}")
    assert silent.returncode == 0, (step, silent.stderr[-2000:])


def _listening(port):
    """The local addresses listening on ``port`` (IPv4, /proc/net/tcp's hex)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:
            found.append(".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_the_exchange_through_ngshare_on_the_hub(hub):
    ada_mark, bob_mark = f"ada-{secrets.token_hex(8)}", f"bob-{secrets.token_hex(8)}"
    hub.start(TEACHER)
    teacher = KernelShell(hub, TEACHER)
    bob = None
    try:
        # the course in ngshare, from the instructor's terminal, as written; bob too
        block = _ours(docblocks.block("deploy/README.md", "create_course"), Path("/"), 0)
        for text in (block, block.splitlines()[-1].replace(ADA, BOB)):
            done = teacher("bash", "-c", "set -euo pipefail\n" + text)
            assert done.returncode == 0, (text, done.stdout[-2000:], done.stderr[-2000:])
        for step in ("assign", "release"):
            status, body = hub.request("POST", f"/user/{TEACHER}/formgrader/api/assignment/"
                                       f"{STAGE.name}/{step}", {}, timeout=600)
            assert status == 200 and isinstance(body, dict) and body.get("success"), (
                step, status, str(body)[-2000:])
        for student in (ADA, BOB):
            hub.start(student)
            hub.student(student, "fetch")
        _sign(ADA, ada_mark)
        hub.student(ADA, "submit")

        bob = KernelShell(hub, BOB)
        _sign(BOB, bob_mark)
        forged = bob("nbgrader", "submit", STAGE.name, f"--course={COURSE_ID}",
                     f"--student={ADA}")
        assert forged.returncode != 0, forged.stderr[-2000:]
        assert "explicit student ID is not possible with ngshare" in forged.stderr
        # his name changed in his environment: ngshare-exchange believes it ...
        named = bob("nbgrader", "submit", STAGE.name, f"--course={COURSE_ID}",
                    env={"JUPYTERHUB_USER": ADA})
        assert named.returncode == 0 and f"Submitted as: {COURSE_ID}" in named.stderr, (
            named.stderr[-2000:])
        # ... and straight to ngshare's API with his own token, naming ada
        files = [{"path": STAGE.notebook,
                  "content": base64.b64encode(_notebook(BOB).read_bytes()).decode()}]
        status, body = _api(bob, hub, "POST", f"submission/{COURSE_ID}/{STAGE.name}",
                            {"user": ADA, "student_id": ADA, "files": json.dumps(files)})
        assert status == 200 and body["success"], (status, body)

        # who submitted what: ngshare recorded each under its sender
        status, body = _api(teacher, hub, "GET", f"submissions/{COURSE_ID}/{STAGE.name}")
        assert status == 200, body
        senders = sorted(s["student_id"] for s in body["submissions"])
        assert senders == [ADA, BOB, BOB], senders
        status, ada_sub = _api(teacher, hub, "GET",
                               f"submission/{COURSE_ID}/{STAGE.name}/{ADA}")
        assert status == 200 and ada_mark in base64.b64decode(ada_sub["files"][0]["content"]
                                                              ).decode()

        # bob reads nothing of ada's, manages nothing; the teacher's token (the
        # control) is answered where his is refused
        timestamp = urllib.parse.quote(ada_sub["timestamp"])
        reads = [f"submissions/{COURSE_ID}/{STAGE.name}",
                 f"submission/{COURSE_ID}/{STAGE.name}/{ADA}",
                 f"submissions/{COURSE_ID}/{STAGE.name}/{ADA}",
                 f"feedback/{COURSE_ID}/{STAGE.name}/{ADA}?timestamp={timestamp}",
                 f"students/{COURSE_ID}", "initialize-Data6ase?action=dump"]
        for path in reads:
            status, body = _api(bob, hub, "GET", path)
            assert status == 403 and ada_mark not in str(body), (path, status, str(body)[:300])
            assert _api(teacher, hub, "GET", path)[0] == 200, path
        person = {"first_name": "x", "last_name": "x", "email": "x@example.edu"}
        for path, data in ((f"course/{COURSE_ID}-{BOB}", {"instructors": json.dumps([BOB])}),
                           (f"student/{COURSE_ID}/{BOB}x", person),
                           (f"instructor/{COURSE_ID}/{BOB}", person)):
            status, body = _api(bob, hub, "POST", path, data)
            assert status == 403, (path, status, body)
        # what ngshare refuses fails (a submit in the Assignment List too); with
        # ngshare-exchange's own classes (weakened) it "succeeds" doing nothing
        _silent_with_stock(bob, "fetch_assignment", "fetch_assignment.ExchangeFetchAssignment")
        assert bob("mkdir", "nosuch").returncode == 0
        assert bob("cp", str(_notebook(BOB)), "nosuch/").returncode == 0
        status, body = hub.request("POST", f"/user/{BOB}/assignments/submit",
                                   {"course_id": COURSE_ID, "assignment_id": "nosuch"})
        assert status == 200 and not body["success"], body
        assert "ngshare did not take nosuch" in body["value"], body
        _silent_with_stock(bob, "submit", "submit.ExchangeSubmit")
        mine = bob("nbgrader", "collect", STAGE.name, f"--course={COURSE_ID}")
        assert mine.returncode != 0, mine.stderr[-2000:]
        assert "Failed to list submissions" in mine.stderr
        assert not list(Path(pwd.getpwnam(BOB).pw_dir).glob("submitted/*/*"))

        # stage 5 holds the answers of stages 2-4, all open: not released;
        # ngshare-exchange's own release (weakened) gives it to the students
        reveals = release_of(hub, "training")
        refused = teacher("nbgrader", "release_assignment", "training", f"--course={COURSE_ID}")
        assert refused.returncode != 0 and "refusing to release training" in refused.stderr, (
            refused.stderr[-2000:])
        assert "training" not in _api(bob, hub, "GET", f"assignments/{COURSE_ID}")[1]["assignments"]
        stock = "--ExchangeFactory.release_assignment=ngshare_exchange.ExchangeReleaseAssignment"
        released = teacher("nbgrader", "release_assignment", "training", f"--course={COURSE_ID}",
                           stock)
        assert released.returncode == 0, released.stderr[-2000:]
        status, body = _api(bob, hub, "GET", f"assignment/{COURSE_ID}/training")
        assert status == 200 and [f["path"] for f in body["files"]] == [reveals], body

        # the instructor collects: ada's own under ada, nothing of bob's there
        status, body = hub.request("POST", f"/user/{TEACHER}/formgrader/api/assignment/"
                                   f"{STAGE.name}/collect", {}, timeout=600)
        assert status == 200 and body.get("success"), (status, str(body)[-2000:])
        submitted = hub.course / "submitted"
        assert sorted(p.name for p in submitted.iterdir()) == [ADA, BOB]
        ada_copy = (submitted / ADA / STAGE.name / STAGE.notebook).read_text()
        assert ada_mark in ada_copy and bob_mark not in ada_copy
        assert bob_mark in (submitted / BOB / STAGE.name / STAGE.notebook).read_text()
        # the time is ngshare's, not one a student chose
        stamp = (submitted / ADA / STAGE.name / "timestamp.txt").read_text().strip()
        assert stamp == ada_sub["timestamp"], stamp

        # ngshare listens on the loopback interface only
        assert _listening(hub.ngshare_port) == ["127.0.0.1"], _listening(hub.ngshare_port)
    finally:
        for shell in (teacher, bob):
            if shell is not None:
                shell.close()


def test_ngshare_alone_listens_on_every_interface(tmp_path):
    """The weakened variant of the listening check above: ngshare run by its own
    ``python -m ngshare``, without deploy/jupyterhub/cnn1d_ngshare.py, in a
    network namespace of its own (nothing but its loopback there), listens on
    0.0.0.0; through cnn1d_ngshare.py, on 127.0.0.1."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a network namespace needs root and unshare")
    python = _require_ngshare()
    port = 10101
    env = {"PATH": "/usr/bin:/bin", "JUPYTERHUB_API_URL": "http://127.0.0.1:1/hub/api",
           "JUPYTERHUB_API_TOKEN": "x", "JUPYTERHUB_CLIENT_ID": "service-ngshare",
           "JUPYTERHUB_SERVICE_PREFIX": "/services/ngshare/",
           "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}"}
    wrapper = ROOT / "deploy" / "jupyterhub" / "cnn1d_ngshare.py"
    seen = {}
    for name, start in (("ngshare", ["-m", "ngshare"]), ("cnn1d_ngshare", [str(wrapper)])):
        db = tmp_path / name
        script = (f"{python} -I {' '.join(start)} --database sqlite:///{db}.db "
                  f"--storage {db}/ >{db}.log 2>&1 & "
                  f"for i in $(seq 100); do grep -qi ':{port:04X} 00000000:0000 0A' "
                  "/proc/net/tcp && break; sleep 0.2; done; cat /proc/net/tcp; kill $!")
        out = subprocess.run(["unshare", "--net", "sh", "-c", script],
                             capture_output=True, text=True, env=env, timeout=60)
        listening = [line.split()[1].split(":")[0] for line in out.stdout.splitlines()[1:]
                     if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"]
        assert listening, (name, out.stdout, out.stderr, Path(f"{db}.log").read_text()[-2000:])
        seen[name] = listening
    assert seen == {"ngshare": ["00000000"], "cnn1d_ngshare": ["0100007F"]}, seen


# ngshare's own models: a course, an assignment released in it, a submission
STORE = """
import sqlalchemy
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker
from ngshare.database import Assignment, Base, Course, Submission, User
engine = create_engine("sqlite://")
Base.metadata.create_all(engine)
db = sessionmaker(bind=engine)()
student, course = User("ada"), Course("cnn1d")
db.add_all([student, course])
db.commit()
Submission(student, Assignment("single_channel", course))  # as ngshare's handlers make them
db.commit()
print(sqlalchemy.__version__, db.query(Assignment).count(), db.query(Submission).count())
"""


def test_ngshare_stores_nothing_under_sqlalchemy_2(tmp_path):
    """Why ngshare has an environment of its own (setup.sh ngshare): with its
    SQLAlchemy 1.4 a release and a submission are stored; with the SQLAlchemy 2
    of the users' environment (the hub's is the same), neither is, while
    ngshare's handlers answer "success"."""
    python = _require_ngshare()
    only = tmp_path / "path"
    only.mkdir()
    site = subprocess.run([str(python), "-c", "import ngshare, os; "
                           "print(os.path.dirname(ngshare.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (only / "ngshare").symlink_to(site)  # ngshare alone, on the other environment's path
    stored = {}
    for name, interpreter in (("own", python), ("users'", USER_ENV / "bin" / "python")):
        out = subprocess.run([str(interpreter), "-c", STORE], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(only)}, timeout=120)
        assert out.returncode == 0, (name, out.stderr[-2000:])
        version, assignments, submissions = out.stdout.split()
        stored[name] = (version.split(".")[0], int(assignments), int(submissions))
    assert stored == {"own": ("1", 1, 1), "users'": ("2", 0, 0)}, stored
