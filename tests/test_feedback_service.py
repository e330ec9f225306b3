"""The feedback service (course/feedback_service.py) on an exchange folder laid
out as nbgrader's submit leaves it, with the real grader in its sandbox:
provisional per-check feedback under the name fetch_feedback looks for, a
fix that earns full marks, the rate limit's waiting page, a hostile
submission cut off at the budget while the others are graded, folders and
files that do not belong to the student refused, the ledger's final grades
(last before the due date, late penalty) and a regrade that reproduces every
provisional grade. About 40 s."""

import json
import os
import pwd
import secrets
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import notebook_hash

from course.feedback_ledger import Ledger
from course.feedback_service import (
    DaskRunner,
    FeedbackService,
    LocalRunner,
    ServiceError,
    final_grades,
    main,
    parse_due,
    read_submission,
    regrade,
)
from course.flow import fill_answers, reference_answers
from course.sample_class import answers_for
from course.stages import get_stage
from tests.test_grade_assignment import cluster  # noqa: F401 - a fixture: scheduler, 2 workers

ROOT = Path(__file__).resolve().parents[1]
STAGE = get_stage("single_channel")
COURSE = "cnn1d"
SECRET = "feedback-service-test-secret"
HANG = "\n\nSimpleConv1d.forward = lambda self, x: [0 for _ in iter(int, 1)]\n"


def notebook_bytes(answers):
    nb = nbformat.read(ROOT / "release" / STAGE.name / STAGE.notebook, as_version=4)
    fill_answers(nb, answers)
    return nbformat.writes(nb).encode()


def submit(exchange, student, answers, uid=None):
    """An inbound folder as ``nbgrader submit`` writes it; returns (folder, its secret)."""
    stamp = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}.{secrets.randbelow(10**6)} UTC"
    name = f"{student}+{STAGE.name}+{stamp}+{secrets.token_hex(4)}"
    folder = exchange / COURSE / "inbound" / name
    folder.mkdir(parents=True)
    (folder / STAGE.notebook).write_bytes(notebook_bytes(answers))
    (folder / "timestamp.txt").write_text(stamp)
    secret = secrets.token_hex(64)
    (folder / "submission_secret.txt").write_text(secret)
    if uid is not None:
        for path in (folder, *folder.iterdir()):
            os.chown(path, uid, uid, follow_symlinks=False)
    return folder, secret


def feedback_of(exchange, secret):
    """The page fetch_feedback would copy for that submission (None: not there)."""
    path = exchange / COURSE / "feedback" / (
        notebook_hash(secret=secret, notebook_id=STAGE.notebook[:-6]) + ".html")
    return path.read_text() if path.exists() else None


def wait_for(predicate, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def exchange(tmp_path):
    (tmp_path / "exchange" / COURSE / "inbound").mkdir(parents=True)
    (tmp_path / "exchange" / COURSE / "feedback").mkdir()
    return tmp_path / "exchange"


def make_service(tmp_path, exchange, **kw):
    kw = {"workers": 2, "per_hour": 10, "poll": 0.2, "check_owner": False, **kw}
    budget = kw.pop("budget", 30)
    return FeedbackService(exchange, COURSE, Ledger(tmp_path / "state"), LocalRunner(budget),
                           SECRET, **kw)


def test_feedback_per_check_then_full_marks_after_the_fix(tmp_path, exchange):
    service = make_service(tmp_path, exchange, budget=8, due={STAGE.name: 2e9})
    service.start()
    try:
        _, wrong = submit(exchange, "ada", answers_for("unshared_dw", STAGE))
        _, hostile = submit(exchange, "mallory", {**reference_answers(STAGE),
                                                  "simple_conv1d": reference_answers(STAGE)[
                                                      "simple_conv1d"] + HANG})
        page = wait_for(lambda: feedback_of(exchange, wrong))
        assert "Provisional until the deadline (2033-05-18" in page
        assert "failed</td>" in page and "passed</td>" in page        # per check
        assert "dw" in page                                # which gradient is wrong
        _, fixed = submit(exchange, "ada", reference_answers(STAGE))
        page = wait_for(lambda: feedback_of(exchange, fixed))
        assert f"{STAGE.max_score:g} / {STAGE.max_score:g} points" in page
        assert "failed</td>" not in page
        cut = wait_for(lambda: feedback_of(exchange, hostile), timeout=60)
        assert "longer than the budget of 8 s" in cut
    finally:
        service.stop()
    rows = service.ledger.rows()
    mallory = next(r for r in rows if r["student"] == "mallory")
    # the hostile submission held one worker for the budget (and the kill: a
    # couple of seconds, more on a loaded machine) only, while ada's were
    # graded on the other
    assert mallory["status"] == "cut_off" and mallory["seconds"] < 8 + 10
    assert any(r["student"] == "ada" and r["graded"] < mallory["graded"] for r in rows)

    # every provisional grade comes back the same from a regrade
    graded = [r for r in service.ledger.rows() if r["status"] == "graded"]
    assert len(graded) == 2
    assert regrade(service.ledger, LocalRunner(60), SECRET) == []
    # and a regrade with another course secret is noticed, so the comparison can fail
    service.ledger.record_result(graded[1]["id"], {**graded[1], "score": 0.0, "checks": [
        {**c, "points": 0.0} for c in graded[1]["checks"]]}, 1.0)
    assert [d[0] for d in regrade(service.ledger, LocalRunner(60), SECRET)] == [graded[1]["id"]]


def test_rate_limit_shows_a_waiting_page_and_a_newer_submission_replaces(tmp_path, exchange):
    service = make_service(tmp_path, exchange, per_hour=1, workers=1)
    service.start()
    try:
        _, first = submit(exchange, "bob", None)
        wait_for(lambda: feedback_of(exchange, first))
        _, second = submit(exchange, "bob", reference_answers(STAGE))
        page = wait_for(lambda: feedback_of(exchange, second))
        assert "waiting to be graded" in page and "1 submissions graded in the last hour" in page
        _, third = submit(exchange, "bob", reference_answers(STAGE))
        wait_for(lambda: feedback_of(exchange, third))
        _, other = submit(exchange, "eve", None)        # another student is not held up
        assert "points" in wait_for(lambda: feedback_of(exchange, other))
    finally:
        service.stop()
    status = [r["status"] for r in service.ledger.rows(student="bob")]
    assert status == ["graded", "replaced", "deferred"], status


def test_folders_and_files_not_the_students_own_are_refused(tmp_path, exchange):
    if os.geteuid() != 0:
        pytest.skip("needs root to give files to other users")
    nobody, daemon = pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("daemon").pw_uid
    inbound = exchange / COURSE / "inbound"
    own, _ = submit(exchange, "nobody", None, uid=nobody)
    assert read_submission(inbound, own.name)[0] == "nobody"
    # daemon's folder claiming to be nobody's
    fake, _ = submit(exchange, "nobody", None, uid=daemon)
    with pytest.raises(ValueError, match="does not belong to nobody"):
        read_submission(inbound, fake.name)
    # nobody's folder (nbgrader makes it world-writable) with daemon's notebook in it
    swapped, _ = submit(exchange, "nobody", None, uid=nobody)
    os.chown(swapped / STAGE.notebook, daemon, daemon)
    with pytest.raises(ValueError, match="does not belong to the submitting student"):
        read_submission(inbound, swapped.name)
    # a link to a file the service can read (another student's notebook in its ledger)
    linked, _ = submit(exchange, "nobody", None, uid=nobody)
    (linked / STAGE.notebook).unlink()
    (linked / STAGE.notebook).symlink_to(own / STAGE.notebook)
    os.chown(linked / STAGE.notebook, nobody, nobody, follow_symlinks=False)
    with pytest.raises(OSError):
        read_submission(inbound, linked.name)
    # a user that does not exist, an assignment that does not
    with pytest.raises(ValueError, match="no Linux user"):
        read_submission(inbound, "c1d-nosuchuser+single_channel+x+y")
    with pytest.raises(ValueError, match="unknown assignment"):
        read_submission(inbound, "nobody+secret_stage+x+y")


def test_final_grade_is_the_last_before_the_due_date_with_the_late_penalty(tmp_path):
    ledger = Ledger(tmp_path / "state")
    due = 1_800_000_000.0
    nb = notebook_bytes(None)

    def graded(student, received, score):
        sid = ledger.add(student, STAGE.name, f"{student}+{received}", "t", nb, "x.html",
                         received=received)
        ledger.record_result(sid, {"score": score, "max_score": 10.0, "checks": []}, 1.0)

    graded("ada", due - 600, 6.0)
    graded("ada", due - 60, 8.0)        # her last on time: final
    graded("ada", due + 60, 10.0)       # after the due date: not taken
    graded("bob", due + 3600, 10.0)     # nothing on time: the late one, a day's penalty
    grades = final_grades(ledger, STAGE.name, due)
    assert grades["ada"]["final"] == 8.0 and grades["ada"]["late_seconds"] == 0
    assert grades["bob"]["final"] == pytest.approx(9.0) and grades["bob"]["penalty"] == 1.0


def test_command_line_errors_are_clear(tmp_path, capsys):
    with pytest.raises(ServiceError, match="time zone"):
        parse_due(["single_channel=2026-12-08T17:00:00"])
    with pytest.raises(ServiceError, match="ASSIGNMENT=DATE"):
        parse_due(["nope=2026-12-08T17:00:00+00:00"])
    with pytest.raises(ServiceError, match="no course secret"):
        FeedbackService(tmp_path, COURSE, Ledger(tmp_path / "s"), None, "")
    code = main(["serve", "--exchange", str(tmp_path), "--course", COURSE, "--state",
                 str(tmp_path / "s"), "--secret-file", str(tmp_path / "missing")])
    assert code == 2 and "--secret-file" in capsys.readouterr().err
    assert main(["submissions", "--state", str(tmp_path / "s")]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_workers_on_a_dask_cluster_give_the_local_grades(tmp_path, exchange, cluster):  # noqa: F811
    address, _ = cluster
    runner = DaskRunner(address, budget=120)
    service = FeedbackService(exchange, COURSE, Ledger(tmp_path / "state"), runner, SECRET,
                              workers=2, per_hour=0, poll=0.2, check_owner=False)
    service.start()
    try:
        _, wrong = submit(exchange, "ada", answers_for("unshared_dw", STAGE))
        _, right = submit(exchange, "bob", reference_answers(STAGE))
        assert "failed</td>" in wait_for(lambda: feedback_of(exchange, wrong))
        assert "failed</td>" not in wait_for(lambda: feedback_of(exchange, right))
    finally:
        service.stop()
        runner.close()
    rows = service.ledger.rows()
    assert [r["status"] for r in rows] == ["graded", "graded"]
    assert regrade(service.ledger, LocalRunner(60), SECRET) == []   # same points locally
