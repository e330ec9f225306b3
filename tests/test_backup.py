"""Backups (course/backup.py): taken while another process keeps writing
grades, each is one committed state of the gradebook; a restore brings back
every grade, and the exchange with its owners and modes (collect checks them).
The same through the hub, after real grading: tests/test_jupyterhub.py."""

import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import time

import pytest
from nbgrader.api import Gradebook

from course import backup
from course.course_id import COURSE_ID

STUDENTS = [f"s{i:03d}" for i in range(8)]
CELLS = [f"check_{i}" for i in range(4)]

WRITER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=60)
k = 0
while True:  # as formgrader saves grades: one transaction at a time, every grade to k
    k += 1
    with con:
        con.execute("UPDATE grade SET manual_score = ?", (k,))
    if k == 1:
        print("writing", flush=True)
"""


def _gradebook(path):
    with Gradebook(f"sqlite:///{path}", COURSE_ID) as gb:
        gb.add_assignment("single_channel")
        gb.add_notebook("single_channel", "single_channel")
        for cell in CELLS:
            gb.add_grade_cell(cell, "single_channel", "single_channel", max_score=2,
                              cell_type="code")
        for student in STUDENTS:
            gb.add_student(student)
            gb.add_submission("single_channel", student)
    con = sqlite3.connect(path)
    with con:
        con.execute("UPDATE grade SET auto_score = (id % 3) * 0.5, manual_score = 0")
    con.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    # nbgrader makes a gradebook with the `alembic` command beside its python
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", os.pathsep.join((os.path.dirname(sys.executable), os.environ["PATH"])))
        path = tmp_path_factory.mktemp("gradebook") / "gradebook.db"
        _gradebook(path)
    return path


@pytest.fixture
def course(tmp_path, template):
    course, exchange = tmp_path / "course", tmp_path / "exchange"
    course.mkdir()
    shutil.copyfile(template, course / "gradebook.db")
    inbound = exchange / COURSE_ID / "inbound"
    entry = inbound / "s001+single_channel+2026-12-01 10:00:00.000000 UTC+x"
    entry.mkdir(parents=True)
    (entry / "single_channel.ipynb").write_text("{}")
    os.chmod(inbound, 0o3773)
    if os.geteuid() == 0:  # a student's own submission, as collect will check
        for p in (entry, entry / "single_channel.ipynb"):
            os.chown(p, pwd.getpwnam("daemon").pw_uid, -1)
    (course / "submitted" / "s001" / "single_channel").mkdir(parents=True)
    (course / "submitted" / "s001" / "single_channel" / "single_channel.ipynb").write_text("{}")
    return course, exchange, tmp_path / "backups"


def test_backups_while_grades_are_written_are_consistent(course):
    course, exchange, to = course
    db = course / "gradebook.db"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert writer.stdout.readline() == "writing\n"
        seen = []
        for _ in range(5):
            path, manifest = backup.create(course, exchange, to, keep=3)
            scores = {v[1] for v in backup.grades(path / "gradebook.db").values()}
            # one transaction's state: every grade the same k, none torn between two
            assert len(scores) == 1, scores
            assert manifest["grades"] == len(STUDENTS) * len(CELLS)
            seen.append(scores.pop())
            time.sleep(0.05)
    finally:
        writer.kill()
        writer.wait()
    assert seen == sorted(seen) and seen[-1] > seen[0], seen  # the writer went on meanwhile
    kept = sorted(p.name for p in to.iterdir())
    assert len(kept) == 4 and "latest" in kept, kept  # --keep 3, and the link to the newest
    assert oct(to.stat().st_mode & 0o777) == "0o700"


def test_restore_keeps_every_grade_and_the_exchange_owners(course):
    course, exchange, to = course
    db = course / "gradebook.db"
    before = backup.grades(db)
    entry = next((exchange / COURSE_ID / "inbound").iterdir())
    owner = entry.stat().st_uid
    backup.main(["create", "--course", str(course), "--exchange", str(exchange),
                 "--to", str(to)])
    # then a bad day: grades overwritten, the exchange and submitted/ gone
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE grade SET auto_score = 0")
    con.close()
    assert backup.grades(db) != before
    subprocess.run(["rm", "-rf", str(exchange), str(course / "submitted")], check=True)

    code = backup.main(["restore", str(to / "latest"), "--course", str(course),
                        "--exchange", str(exchange)])
    assert code == 0
    assert backup.grades(db) == before  # every grade, each of its scores
    assert entry.stat().st_uid == owner
    assert oct(entry.parent.stat().st_mode & 0o7777) == "0o3773"
    assert (course / "submitted" / "s001" / "single_channel" / "single_channel.ipynb").exists()
    # the gradebook that was replaced is kept beside the backups
    (replaced,) = to.glob("before-restore-*/gradebook.db")
    assert {v[0] for v in backup.grades(replaced).values()} == {0}


def test_restore_refuses_an_incomplete_backup(course, capsys):
    course, exchange, to = course
    (to / "2026-12-01T100000.000000Z.partial").mkdir(parents=True)
    code = backup.main(["restore", str(to / "2026-12-01T100000.000000Z.partial"),
                        "--course", str(course), "--exchange", str(exchange)])
    assert code == 1
    assert "not a complete backup" in capsys.readouterr().err


def test_restore_never_writes_through_a_link_planted_since_the_backup(course, capsys):
    """A student owns their folder in the exchange: after a backup they can swap
    their notebook for a link to a file of root's. A restore runs as root."""
    course, exchange, to = course
    backup.create(course, exchange, to, keep=3)
    entry = next((exchange / COURSE_ID / "inbound").iterdir())
    victim = to.parent / "shadow"  # stands for /etc/shadow
    victim.write_text("root's own")
    (entry / "single_channel.ipynb").unlink()
    (entry / "single_channel.ipynb").symlink_to(victim)
    code = backup.main(["restore", str(to / "latest"), "--course", str(course),
                        "--exchange", str(exchange)])
    assert code == 1
    assert "through a symbolic link made there since the backup" in capsys.readouterr().err
    assert victim.read_text() == "root's own"
    # weakened: tarfile's own extraction, as root, writes through it
    with tarfile.open(to / "latest" / "exchange.tar.gz") as tar:
        kwargs = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}
        tar.extractall(exchange, numeric_owner=True, **kwargs)
    assert victim.read_text() == "{}"
