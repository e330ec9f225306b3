"""Collect refuses what is not its student's own (course/exchange.py).

Inbound entries are made by hand with the owners a hostile student could give
them (the host's system users stand in for students: os.chown needs root),
then the kit's `nbgrader collect` runs: the forged ones are refused with a
message and a non-zero exit, the genuine one is collected. nbgrader's own
collect, run on the same exchange, takes the forgeries: the check is what
stops them. The same holes tried by a real student through the hub:
tests/test_jupyterhub.py."""

import os
import pwd
import shutil
import subprocess

import pytest
from nbgrader.coursedir import CourseDirectory

from course.course_id import COURSE_ID
from course.exchange import OwnerCheckedCollect, refusal
from course.flow import FlowError, make_course, nbgrader
from course.stages import get_stage

STAGE = get_stage("single_channel")
NB = STAGE.notebook
# system users of every Debian host stand in for three students and a stranger
ADA, BOB, CAROL, STRANGER = "daemon", "bin", "sys", "nobody"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="giving files owners needs root")


def _uid(name):
    return pwd.getpwnam(name).pw_uid


def _entry(inbound, student, hour, tag, owner, text):
    """A submission folder as `nbgrader submit` leaves it, owned by ``owner``."""
    path = inbound / f"{student}+{STAGE.name}+2026-12-01 {hour:02d}:00:00.000000 UTC+{tag}"
    path.mkdir()
    (path / NB).write_text(text)
    (path / "timestamp.txt").write_text(f"2026-12-01 {hour:02d}:00:00.000000 UTC")
    for p in (path, path / NB, path / "timestamp.txt"):
        os.chown(p, _uid(owner), -1)
    return path


@pytest.fixture
def exchange(tmp_path):
    course, exchange = make_course(tmp_path, [])
    inbound = exchange / COURSE_ID / "inbound"
    inbound.mkdir(parents=True)
    secret = tmp_path / "instructor" / "answers.ipynb"  # a file only the instructor reads
    secret.parent.mkdir()
    secret.write_text("THE ANSWERS")
    _entry(inbound, ADA, 10, "a", ADA, "ada's own work")
    _entry(inbound, ADA, 11, "b", STRANGER, "forged in ada's name")  # newer: would win
    (inbound / f"{BOB}+{STAGE.name}+2026-12-01 10:00:00.000000 UTC+c").symlink_to(secret.parent)
    nested = _entry(inbound, CAROL, 10, "d", CAROL, "")
    (nested / NB).unlink()
    (nested / NB).symlink_to(secret)
    os.lchown(nested / NB, _uid(CAROL), -1)
    _entry(inbound, "lp", 10, "e", "root", "submitted by the instructor for lp")
    return course, exchange


def _collect(course, exchange, *extra):
    try:
        nbgrader(["collect", STAGE.name, f"--course={COURSE_ID}", *extra], course, exchange)
    except FlowError as error:
        return str(error)
    return None


def _submitted(course, student):
    path = course / "submitted" / student / STAGE.name / NB
    return path.read_text() if path.exists() else None


def test_collect_refuses_forged_and_linked_submissions(exchange):
    course, ex = exchange
    error = _collect(course, ex)
    assert error is not None, "collect exited 0 with forged submissions in the inbound"
    assert "collect refused 3 submission(s)" in error, error
    assert f"claims to be {ADA}'s submission but is owned by {STRANGER}" in error, error
    assert f"claims to be {BOB}'s submission but is a symbolic link" in error, error
    assert f"claims to be {CAROL}'s submission but holds a symbolic link: {NB}" in error, error
    assert "/root/refused" in error, error  # says what to do
    assert _submitted(course, ADA) == "ada's own work"  # the forged newer one hid nothing
    assert _submitted(course, "lp") == "submitted by the instructor for lp"
    assert _submitted(course, BOB) is None and _submitted(course, CAROL) is None
    assert "THE ANSWERS" not in subprocess.run(["grep", "-r", "THE", str(course / "submitted")],
                                               capture_output=True, text=True).stdout


def test_nbgrader_collect_alone_takes_the_forgeries(exchange):
    """The weakened configuration: nbgrader's own collect warns and copies."""
    course, ex = exchange
    error = _collect(course, ex,
                     "--ExchangeFactory.collect=nbgrader.exchange.default.collect.ExchangeCollect")
    assert error is None, error
    assert _submitted(course, ADA) == "forged in ada's name"
    assert _submitted(course, CAROL) == "THE ANSWERS"
    assert (course / "submitted" / BOB / STAGE.name / "answers.ipynb").read_text() == "THE ANSWERS"


def test_a_file_swapped_for_a_link_after_the_check_is_not_followed(tmp_path):
    """The student owns their folder: between the check and the copy they can
    replace a file with a link. The copy keeps links as links and refuses them."""
    src = tmp_path / "entry"
    src.mkdir()
    (src / NB).symlink_to(tmp_path / "secret")
    (tmp_path / "secret").write_text("THE ANSWERS")
    collect = OwnerCheckedCollect(coursedir=CourseDirectory())
    collect.refused = []
    collect.do_copy(str(src), str(tmp_path / "dest"))
    assert not (tmp_path / "dest").exists()
    assert collect.refused and "symbolic link" in collect.refused[0][2]
    shutil.rmtree(src)
    src.mkdir()
    (src / NB).write_text("work")
    assert refusal(str(src), "root") is None  # the check passes a clean folder
