"""Feedback within a minute on the real hub (deploy/jupyterhub/jupyterhub_config.py
with its cnn1d-feedback services), real Linux users, the Assignment List's
endpoints through the hub and the proxy:

- ada submits a wrong answer and fetches feedback naming the failed check,
  provisional, within the minute; she fixes it, resubmits, and fetches full
  marks within the minute;
- mallory's submission hangs in every check: it is cut off at the budget and
  ada's feedback still comes within the minute;
- bob's third submission in the hour (the limit set to 2 here) waits, and his
  page says so;
- the instructor sees every submission, its status and score; a student gets
  403; deploy/README.md's regrade, run as written as the service's user,
  reproduces every provisional grade; the service runs as its own user, not root;
- in chromium, logged in on the hub's login page: the instructor's page the
  docs send them to (/services/cnn1d-feedback/) lists the submissions, a
  student gets the refusal there, and her Assignment List (JupyterLab on the
  hub, Nbgrader menu) shows the stage fetched and submitted.

Needs root and the users' environment (as tests/test_jupyterhub.py). About
2-3 minutes.
"""

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from course.course_id import COURSE_ID
from course.flow import fill_answers, reference_answers
from course.sample_class import answers_for
from course.stages import get_stage
from tests import docblocks, pages
from tests.hubrun import (
    class_users,
    copy_kit,
    hub_variables,
    require_hub,
    running_hub,
    write_hub_config,
)
from tests.test_jupyterhub import USER_ENV, Hub, _free_port

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "deploy" / "jupyterhub"
STAGE = get_stage("single_channel")
TEACHER, ADA, BOB, MALLORY = "c1fteach", "c1fada", "c1fbob", "c1fmal"
SERVICE_USER = "c1dfeedback"
BUDGET_S, MINUTE = 20, 60.0
PASSWORD = secrets.token_hex(12)  # the hub's PAM login, in chromium
HANG = "\n\nSimpleConv1d.forward = lambda self, x: [0 for _ in iter(int, 1)]\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hub():
    require_hub()
    work = Path(tempfile.mkdtemp(prefix="cnn1d-feedback-hub-"))
    instructors, students = f"formgrade-{COURSE_ID}", f"nbgrader-{COURSE_ID}"
    people = ((TEACHER, instructors), (ADA, students), (BOB, students), (MALLORY, students))
    try:
        os.chmod(work, 0o755)
        with class_users(people, others=[SERVICE_USER]):
            for user, _ in people:
                subprocess.run(["chpasswd"], input=f"{user}:{PASSWORD}\n", text=True,
                               check=True)
            # the course root, the exchange and the service's user as the kit's own
            # setup.sh lays them out
            course = work / "course"
            copy_kit(course)
            paths = {"CNN1D_ROLES": str(work / "roles"),
                     "CNN1D_EXCHANGE": str(work / "exchange"),
                     "CNN1D_USER_ENV": str(USER_ENV), "CNN1D_FEEDBACK_USER": SERVICE_USER}
            for step in ("roles", "exchange", "course", "feedback"):
                subprocess.run(["bash", str(course / "deploy" / "jupyterhub" / "setup.sh"),
                                step], env=dict(os.environ, **paths), check=True,
                               capture_output=True)
            state = work / "state"
            state.mkdir(mode=0o700)
            (state / "secret").write_text("feedback-hub-test-secret\n")
            config, token = write_hub_config(
                state, HUB / "jupyterhub_config.py",
                scopes=("admin:users", "admin:servers", "access:servers", "list:users",
                        "tokens"))
            port = _free_port()
            env = dict(os.environ, CNN1D_KIT=str(course), **paths,
                       CNN1D_SECRET_FILE=str(state / "secret"),
                       **hub_variables(state, f"http://127.0.0.1:{port}"),
                       CNN1D_FEEDBACK_URL=f"http://127.0.0.1:{_free_port()}",
                       CNN1D_FEEDBACK_PER_HOUR="2", CNN1D_FEEDBACK_BUDGET=str(BUDGET_S),
                       CNN1D_FEEDBACK_DUE="single_channel=2099-01-01T17:00:00+00:00")
            client = Hub(f"http://127.0.0.1:{port}", token)
            client.log = state / "hub.log"
            client.course, client.secret_file = course, state / "secret"
            with running_hub(client, config, env, cwd=state):
                yield client
    finally:
        if os.environ.get("CNN1D_KEEP_HUB_LOG") and (work / "state" / "hub.log").exists():
            shutil.copy(work / "state" / "hub.log", os.environ["CNN1D_KEEP_HUB_LOG"])
        shutil.rmtree(work, ignore_errors=True)


def write_answers(user, answers):
    """The student's fetched notebook with ``answers`` (None: untouched), saved in place."""
    path = Path(pwd.getpwnam(user).pw_dir) / STAGE.name / STAGE.notebook
    nb = nbformat.read(ROOT / "release" / STAGE.name / STAGE.notebook, as_version=4)
    fill_answers(nb, answers)
    nbformat.write(nb, path)          # in place: the file stays the student's


def submit(hub, user, answers):
    write_answers(user, answers)
    hub.student(user, "submit")
    return time.monotonic()


def fetched(hub, user, count, since, timeout=MINUTE):
    """fetch_feedback until the student has ``count`` feedback pages; the newest's
    text and the seconds from ``since``."""
    feedback = Path(pwd.getpwnam(user).pw_dir) / STAGE.name / "feedback"
    deadline = since + timeout
    while True:
        hub.student(user, "fetch_feedback")
        pages = sorted(feedback.glob(f"*/{STAGE.name}.html"))
        if len(pages) >= count:
            return pages[-1].read_text(), time.monotonic() - since
        assert time.monotonic() < deadline, (
            f"{user}: no feedback for submission {count} within {timeout:.0f} s\n"
            + hub.log.read_text()[-3000:])
        time.sleep(1)


def service_api(hub, token, path):
    req_hub = Hub(hub.url, token)
    return req_hub.request("GET", f"/services/cnn1d-feedback/{path}")


def test_feedback_within_a_minute_on_the_hub(hub):
    for user in (TEACHER, ADA, BOB, MALLORY):
        hub.start(user)
    for step in ("assign", "release"):
        status, body = hub.request("POST", f"/user/{TEACHER}/formgrader/api/assignment/"
                                   f"{STAGE.name}/{step}", {}, timeout=600)
        assert status == 200 and isinstance(body, dict) and body.get("success", True), (
            step, status, str(body)[-1000:])
    for user in (ADA, BOB, MALLORY):
        hub.student(user, "fetch")

    # mallory first: her submission holds a worker for the whole budget
    right = reference_answers(STAGE)
    submit(hub, MALLORY, {**right, "simple_conv1d": right["simple_conv1d"] + HANG})
    t = submit(hub, ADA, answers_for("unshared_dw", STAGE))
    page, seconds = fetched(hub, ADA, 1, t)
    assert "Provisional until the deadline (2099-01-01 17:00:00 UTC)" in page
    assert "failed</td>" in page and "passed</td>" in page
    assert f"{STAGE.max_score:g} / {STAGE.max_score:g} points" not in page
    print(f"ada's wrong answer: feedback fetched {seconds:.1f} s after submitting")

    t = submit(hub, ADA, right)
    page, seconds = fetched(hub, ADA, 2, t)
    assert f"{STAGE.max_score:g} / {STAGE.max_score:g} points" in page
    assert "failed</td>" not in page
    print(f"ada's fixed answer: full marks fetched {seconds:.1f} s after submitting")

    page, _ = fetched(hub, MALLORY, 1, time.monotonic(), timeout=BUDGET_S + 30)
    assert f"longer than the budget of {BUDGET_S} s" in page

    # bob: two gradings in the hour are allowed, the third waits
    for n in (1, 2):
        fetched(hub, BOB, n, submit(hub, BOB, None))
    page, _ = fetched(hub, BOB, 3, submit(hub, BOB, right))
    assert "waiting to be graded" in page and "2 submissions graded in the last hour" in page

    # the instructor's view of the ledger; a student is turned away
    teacher_token = _token(hub, TEACHER)
    status, rows = service_api(hub, teacher_token, "api/submissions")
    assert status == 200, rows
    by_user = {}
    for row in rows:
        by_user.setdefault(row["student"], []).append((row["status"], row["score"]))
        assert "feedback" not in row          # a student's feedback file name stays private
    assert [s for s, _ in by_user[ADA]] == ["graded", "graded"]
    assert by_user[ADA][0][1] < STAGE.max_score == by_user[ADA][1][1]
    assert by_user[MALLORY] == [("cut_off", 0.0)]
    assert [s for s, _ in by_user[BOB]] == ["graded", "graded", "deferred"]
    status, grades = service_api(hub, teacher_token, f"api/grades/{STAGE.name}")
    assert status == 200 and grades[ADA]["final"] == STAGE.max_score, grades
    status, _ = service_api(hub, _token(hub, ADA), "api/submissions")
    assert status == 403
    pages_on_the_hub(hub, rows)

    # deploy/README.md's regrade, as root types it: every provisional grade holds
    graded = sum(row["status"] == "graded" for row in rows)
    t = time.monotonic()
    proc = docblocks.Shell("/root", {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                             "/usr/bin:/sbin:/bin"}).run(
        docblocks.block("deploy/README.md", "course.feedback_service regrade"), timeout=600,
        service_user=SERVICE_USER, course_root=hub.course, secret_file=hub.secret_file,
        users_env=USER_ENV)
    assert graded == 4 and (f"{graded} of {graded} graded submissions regraded to the same "
                            "points") in proc.stdout, proc.stdout + proc.stderr
    print(f"regrade of {graded} submissions: {time.monotonic() - t:.1f} s")

    # the service runs as its own user, not root
    serving = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if b"course.feedback_service" in cmdline and b"serve" in cmdline:
                serving.append((proc.stat().st_uid, proc))
        except OSError:
            continue
    assert [uid for uid, _ in serving] == [pwd.getpwnam(SERVICE_USER).pw_uid], serving
    # with a cap on its user's processes, which its sandboxes count against
    limits = (serving[0][1] / "limits").read_text()
    assert re.search(r"Max processes\s+512\s+512", limits), limits


def pages_on_the_hub(hub, rows):
    """The pages the docs send the instructor and a student to, in chromium,
    logged in through the hub's login page; ``rows``: the ledger's API rows."""
    with pages.chromium() as browser:
        page = pages.new_page(browser)
        pages.hub_login(page, hub.url, TEACHER, PASSWORD)
        page.goto(f"{hub.url}/services/cnn1d-feedback/")  # the hub's OAuth, then the page
        table = page.locator("table tr")
        assert table.count() == len(rows) + 1, page.content()[-2000:]  # a header and a row each
        text = page.locator("table").inner_text()
        assert ADA in text and "graded" in text and "cut_off" in text
        page.close()

        page = pages.new_page(browser)
        pages.hub_login(page, hub.url, ADA, PASSWORD)
        answer = page.goto(f"{hub.url}/services/cnn1d-feedback/")
        assert answer.status == 403 and "instructors" in page.locator("body").inner_text()
        pages.open_assignment_list(page, pages.HubServer(f"{hub.url}/user/{ADA}"))
        for listed in ("#fetched_assignments_list", "#submitted_assignments_list"):
            page.locator(f"{listed} .list_item", has_text=STAGE.name).first.wait_for()
        page.close()


def _token(hub, user):
    """An API token of ``user`` that may use the feedback service."""
    import urllib.request

    req = urllib.request.Request(
        f"{hub.url}/hub/api/users/{user}/tokens", method="POST",
        data=json.dumps({"note": "feedback test", "expires_in": 600}).encode(),
        headers={"Authorization": f"token {hub.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["token"]
